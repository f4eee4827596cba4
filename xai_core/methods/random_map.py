"""Uniform random scores: the lower reference every table and curve shows."""
from __future__ import annotations

from typing import Any

import torch

from .base import Capabilities, Explainer, Explanation, Paper, register
from .noise import ImageNoise


@register
class RandomMap(Explainer):
    """Uniformly random scores, seeded (lower reference)."""

    name = "random"
    paper = Paper(
        "Random (reference)",
        "—",
        "A random map: the chance level every metric should beat.")
    caps = Capabilities(reference=True, label_free=True)

    def settings(self) -> dict[str, Any]:
        return {"distribution": "uniform[0,1)", "seed": self.seed}

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        # one stream per image from (seed, image content): a sample gets the same map whichever batch it is in
        return Explanation(ImageNoise(x, self.seed).rand(*x.shape[-2:]))
