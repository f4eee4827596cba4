"""Gradient (saliency) equals autograd."""
from __future__ import annotations

import torch

from .helpers import input_grad, make


def test_gradient_equals_autograd(tiny_net, tiny_info, batch):
    x, target, _ = batch
    expected = input_grad(tiny_net, x, target).abs().amax(1)
    got = make("gradient", tiny_net, tiny_info).explain(x, target).scores
    torch.testing.assert_close(got, expected)
