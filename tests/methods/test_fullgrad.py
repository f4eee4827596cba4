"""FullGrad: the input term and the bias-gradient terms."""
from __future__ import annotations

import torch

from .helpers import input_grad, make


def test_fullgrad_without_biases_is_normalised_input_gradient(tiny_info):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 12 * 12, 4, bias=False)).eval()
    x, t = torch.rand(3, 3, 12, 12), torch.tensor([0, 1, 2])
    ig = (x * input_grad(net, x, t)).abs()
    flat = ig.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    expected = ((ig - lo) / (hi - lo)).sum(1)
    torch.testing.assert_close(make("fullgrad", net, tiny_info).explain(x, t).scores, expected)


def test_fullgrad_uses_bias_gradients(tiny_net, tiny_info, batch):
    x, target, _ = batch
    full = make("fullgrad", tiny_net, tiny_info).explain(x, target).scores
    assert (full >= 0).all()
    ig = (x * input_grad(tiny_net, x, target)).abs()
    assert full.amax() > 1.5 * ig.sum(1).div(ig.flatten(1).amax(1).view(-1, 1, 1)).amax()  # more than the input term
