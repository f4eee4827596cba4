"""Uniform random scores: the lower reference every table and curve shows."""
from __future__ import annotations

from typing import Any

import torch

from .base import Explainer, register
from .noise import ImageNoise


@register
class RandomMap(Explainer):
    """Uniformly random scores, seeded (lower reference)."""

    name = "random"
    kind = "reference"

    def settings(self) -> dict[str, Any]:
        return {"distribution": "uniform[0,1)", "seed": self.seed}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> torch.Tensor:
        # one stream per image from (seed, image content): a sample gets the same map whichever batch it is in
        return ImageNoise(x, self.seed).rand(*x.shape[-2:])
