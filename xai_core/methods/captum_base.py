"""Shared base for the post-hoc methods Captum implements: build the Captum object on the model,
call ``attribute``, reduce channels to one B×H×W map."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ClassVar

import torch
from torch import nn

from ..models.views import borrowed_view
from .base import Explainer, Explanation


class CaptumExplainer(Explainer):
    """Subclasses set ``channel_reduction`` ("max_abs" or "sum") and implement ``_captum(model)``
    (the Captum object on ``model``) and ``_kwargs`` (arguments of ``attribute``); methods that run
    the model on several copies of each image say how many in ``expansion``. Captum objects are
    cheap and built per call; a method whose Captum object hooks a layer sets ``hooks_layers`` and
    gets this thread's view of the model (the shared one never carries another thread's hooks; Captum
    removes its own when ``attribute`` returns)."""

    channel_reduction = "sum"
    hooks_layers: ClassVar[bool] = False

    def _captum(self, model: nn.Module):  # pragma: no cover - abstract
        raise NotImplementedError

    def _kwargs(self, x: torch.Tensor) -> dict[str, Any]:
        return {}

    def settings(self) -> dict[str, Any]:
        return {**self.config.as_dict(), "channels": self.channel_reduction}

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        with borrowed_view(self.model) if self.hooks_layers else nullcontext(self.model) as model:
            attr = self._captum(model).attribute(x.clone().requires_grad_(True), target=target, **self._kwargs(x))
        return Explanation(self._reduce(attr.detach(), x))

    def _reduce(self, attr: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Captum's attribution → B×H×W scores."""
        return reduce_channels(attr, self.channel_reduction)


def reduce_channels(attr: torch.Tensor, how: str) -> torch.Tensor:
    """B×C×H×W → B×H×W: ``max_abs`` (Simonyan's saliency) or ``sum`` (signed contributions)."""
    if how == "max_abs":
        return attr.abs().amax(dim=1)
    if how == "sum":
        return attr.sum(dim=1)
    raise ValueError(f"unknown channel reduction {how!r}")


def fill_colour(info, x: torch.Tensor) -> torch.Tensor:
    """The dataset mean colour broadcast to ``x``'s shape: the baseline/fill we name everywhere."""
    mean = torch.as_tensor(info.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return mean.expand_as(x).contiguous()
