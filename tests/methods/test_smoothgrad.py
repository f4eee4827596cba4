"""SmoothGrad: a seeded average of noisy gradients."""
from __future__ import annotations

import torch

from .helpers import make


def test_smoothgrad_is_seeded_noise_average(tiny_net, tiny_info, batch):
    x, target, _ = batch
    torch.manual_seed(0)
    a = make("smoothgrad", tiny_net, tiny_info).explain(x, target).scores
    plain = make("gradient", tiny_net, tiny_info).explain(x, target).scores
    assert not torch.allclose(a, plain)  # noise changes it
    assert torch.corrcoef(torch.stack([a.flatten(), plain.flatten()]))[0, 1] > 0.3  # but it is still a gradient map
