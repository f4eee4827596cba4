"""Helpers of the method tests."""
from __future__ import annotations

from xai_core.methods import METHODS


def make(name, net, info, **kw):
    return METHODS.get(name)(net, info, preset="quick", **kw)


def input_grad(net, x, target):
    x = x.clone().requires_grad_(True)
    net(x).gather(1, target.view(-1, 1)).sum().backward()
    return x.grad
