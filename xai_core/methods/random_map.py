"""Uniform random scores: the lower reference every table and curve shows."""
from __future__ import annotations

from typing import Any

import torch

from .base import Explainer, register


@register
class RandomMap(Explainer):
    """Uniformly random scores, seeded (lower reference)."""

    name = "random"
    kind = "reference"

    def settings(self) -> dict[str, Any]:
        return {"distribution": "uniform[0,1)", "seed": self.seed}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        # Seeded per image from (seed, image content): a sample gets the same map whichever batch it is in.
        h, w = x.shape[-2:]
        keys = (x.detach().flatten(1) * 255).round().double()
        keys = (keys * torch.arange(1, keys.shape[1] + 1, device=x.device, dtype=torch.float64).sqrt()).sum(1)
        maps = [
            torch.rand(h, w, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + int(k) % 2**31))
            for k in keys.tolist()
        ]
        return torch.stack(maps).to(x.device)
