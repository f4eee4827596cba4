"""Batched, gradient-free inference helpers shared by training, methods and metrics."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..data.base import ImageDataset


def model_device(model: nn.Module, fallback: torch.device | str = "cpu") -> torch.device:
    """The device of ``model``'s first parameter or buffer (``fallback`` when it has neither, e.g.
    the images' device for a parameter-free model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device(fallback)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and restore every submodule's previous mode afterwards (models
    are shared: a caller's training mode must survive an evaluation)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits of ``model`` on pixel-space images ``x`` (N×C×H×W), computed in chunks of
    ``batch_size`` on the model's device, in eval mode (the previous mode is restored).
    Returns float logits on ``x``'s device."""
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        out = [model(x[i : i + batch_size].to(device)).float().to(x.device) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not out:
        return torch.empty(0, device=x.device)
    return torch.cat(out)


@torch.no_grad()
def accuracy(model: nn.Module, dataset: ImageDataset, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on a whole split (NaN for an empty split)."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for batch in dataset.loader(batch_size):
            pred = model(batch.x.to(device)).argmax(1).cpu()
            correct += int((pred == batch.y).sum())
            total += len(batch.y)
    finally:
        model.train(was_training)
    return correct / total if total else float("nan")
