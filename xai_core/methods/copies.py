"""Trainable copies of the black box's architecture: the networks trained methods and metrics
build from it (COMET's predictor and detector, MEED's approximators, fs_fu's A'_S / A'_U)."""
from __future__ import annotations

import copy

from torch import nn

from ..errors import XAIError


def check_trainable(model: nn.Module, role: str) -> None:
    """One line unless ``model`` has floating-point parameters to train (a frozen exported program
    has none); cheap: no copy (this runs whenever a method is built, e.g. to ask if it is ready)."""
    if not any(p.is_floating_point() for p in model.parameters()):
        raise XAIError(f"this black box cannot serve as {role}: it has no trainable parameters (a frozen or "
                       "exported model); choose a zoo architecture")


def fresh_copy(model: nn.Module, trained: bool, role: str = "a trainable copy") -> nn.Module:
    """A trainable copy of ``model``'s architecture: with its trained weights, or re-initialised
    (every submodule's ``reset_parameters``). A model that cannot be copied is one line, before training."""
    check_trainable(model, role)
    try:
        net = copy.deepcopy(model)
    except Exception as err:  # noqa: BLE001 - any failure to copy is the same one-line answer
        raise XAIError(f"this black box cannot serve as {role}: it cannot be copied ({err})")
    for p in net.parameters():
        if p.is_floating_point():
            p.requires_grad_(True)
    if not trained:
        for m in net.modules():
            if hasattr(m, "reset_parameters") and m is not net:
                m.reset_parameters()
    return net.train()
