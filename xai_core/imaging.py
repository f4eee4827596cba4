"""Pixel-space image operations shared by methods and metrics (a lower layer than both)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of B×C×H×W with reflect padding, on ``x``'s device. The kernel
    defaults to ``2·ceil(3σ)+1`` pixels, capped to what reflect padding allows (2·min(H,W)−1)."""
    if sigma <= 0:
        return x.clone()
    h, w = x.shape[-2:]
    k = kernel_size if kernel_size is not None else 2 * math.ceil(3 * sigma) + 1
    k = min(k, 2 * min(h, w) - 1)
    k = k if k % 2 == 1 else k - 1
    if k < 3:
        return x.clone()
    r = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()
    c, p = x.shape[1], k // 2
    out = F.conv2d(F.pad(x, (p, p, 0, 0), mode="reflect"), g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(F.pad(out, (0, 0, p, p), mode="reflect"), g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
