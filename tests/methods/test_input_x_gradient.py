"""Input × Gradient is x times the input gradient."""
from __future__ import annotations

import torch

from .helpers import input_grad, make


def test_input_x_gradient_is_x_times_grad(tiny_net, tiny_info, batch):
    x, target, _ = batch
    expected = (x * input_grad(tiny_net, x, target)).sum(1)
    torch.testing.assert_close(make("input_x_gradient", tiny_net, tiny_info).explain(x, target).scores, expected)
