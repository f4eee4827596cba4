"""Per-call views of a shared model.

One black box serves every browser session and background job of a server process, so nothing
may change it while another thread runs it: no forward hooks (Grad-CAM, FullGrad, IBA put them on
layers), no ``requires_grad`` or train/eval flips. Methods that need any of that work on a view.
"""
from __future__ import annotations

import copy

from torch import nn


def model_view(model: nn.Module) -> nn.Module:
    """A private copy of ``model``'s module tree that shares every parameter's and buffer's storage
    (no weights are copied), in eval mode, without parameter gradients and with its own hook tables:
    hooks registered on the view, and flags set on it, never reach ``model`` or its other users.
    Look layers up on the view by name (``view.get_submodule(name)``)."""
    memo: dict[int, object] = {id(p): nn.Parameter(p.detach(), requires_grad=False) for p in model.parameters()}
    memo.update({id(b): b for b in model.buffers()})
    return copy.deepcopy(model, memo).eval()
