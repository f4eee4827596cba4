"""Per-image random streams: an image draws the same noise whichever batch it is in (explained by a
method, or perturbed by a metric). Below both :mod:`xai_core.methods` and :mod:`xai_core.metrics`."""
from __future__ import annotations

import hashlib

import torch


class ImageNoise:
    """One random stream per image, seeded from the image's pixels and a seed (the method's or the
    metric's): an image gets the same noise, hence the same map, whichever batch it is explained in
    (the dashboard's single image and an evaluation's batch agree)."""

    def __init__(self, x: torch.Tensor, seed: int) -> None:
        self.device = x.device
        pixels = x.detach().float().cpu().numpy()
        self.generators = [
            torch.Generator(device=x.device).manual_seed(
                int.from_bytes(hashlib.sha256(p.tobytes() + str(seed).encode()).digest()[:7], "little"))
            for p in pixels
        ]

    def randn(self, *shape: int) -> torch.Tensor:
        """B×shape standard normal draws, row b from image b's stream."""
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.generators])

    def rand(self, *shape: int) -> torch.Tensor:
        """B×shape uniform [0, 1) draws, row b from image b's stream."""
        return torch.stack([torch.rand(shape, generator=g, device=self.device) for g in self.generators])
