"""A toy task whose class lives in one explanation unit: the top-left 4×4 quadrant of an 8×8 image
is bright (class 1) or dark (class 0), the rest is uniform noise; the black box reads that quadrant."""
from __future__ import annotations

import torch
from torch import nn

from xai_core.data.base import DatasetInfo, TensorImageDataset

INFO = DatasetInfo("toy_units", "smoke", 8, 1, 2, ("dark", "bright"), (0.5,), (0.3,), True)


class QuadrantModel(nn.Module):
    """Logit of class 1 = 12·(mean of the top-left quadrant − 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 12.0 * (x[:, 0, :4, :4].mean((1, 2)) - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], 1)


def toy_split(n: int, seed: int = 0) -> TensorImageDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, :4, :4] = 0.15 + 0.7 * labels.view(-1, 1, 1, 1).float() + 0.1 * torch.rand(n, 1, 4, 4, generator=g)
    masks = torch.zeros(n, 8, 8, dtype=torch.bool)
    masks[:, :4, :4] = True
    return TensorImageDataset(INFO, "train", (x.clamp(0, 1) * 255).round().to(torch.uint8), labels, masks)
