"""A small conv encoder–decoder shared by the trained methods that output one map per image
(COMET's small selector, MEED's explainer on larger images)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SmallUNet(nn.Module):
    """U-Net-like: two 2× downsamplings with skips, leaky ReLUs → one logit map per image at the
    input's size; any image size. Leaky ReLUs: with plain ReLUs COMET's mask-size hinge, a uniform
    downward push, killed every decoder unit within three epochs on our toy task (measured)."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        w = width

        def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.1)]

        self.enc1 = nn.Sequential(*conv(channels, w))
        self.enc2 = nn.Sequential(*conv(w, 2 * w, 2))
        self.enc3 = nn.Sequential(*conv(2 * w, 4 * w, 2), *conv(4 * w, 4 * w))
        self.dec2 = nn.Sequential(*conv(6 * w, 2 * w))
        self.dec1 = nn.Sequential(*conv(3 * w, w), nn.Conv2d(w, 1, 1))
        self.logits = (self.dec1[-1],)  # the layers whose sum is the logit (COMET's start_at)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """B×C×H×W (already normalised) → B×1×H×W logits."""
        e1 = self.enc1(z)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="nearest"), e2], 1))
        return self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="nearest"), e1], 1))
