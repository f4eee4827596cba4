"""Map resolution: attribution maps averaged over u×u pixel blocks and brought back to full size,
so a metric sees the same ranking at a coarser grain (the resolution ablation). Pure tensor code,
below the services that evaluate with it."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FACTORS: tuple[int, ...] = (1, 2, 4, 8, 16)


def block_average(scores: torch.Tensor, factor: int) -> torch.Tensor:
    """B×H×W maps averaged over ``factor``×``factor`` blocks (edge blocks over their valid
    pixels), upsampled back to H×W by repetition. ``factor`` 1 returns the input."""
    if factor < 1:
        raise ValueError("factor must be >= 1")
    if factor == 1:
        return scores
    h, w = scores.shape[-2:]
    pooled = F.avg_pool2d(scores[:, None].float(), factor, ceil_mode=True)
    return F.interpolate(pooled, scale_factor=factor, mode="nearest")[:, 0, :h, :w]


def resolution_factors(image_size: int) -> list[int]:
    """The factors that leave at least a 4×4 grid of blocks."""
    return [u for u in FACTORS if u <= image_size // 4]


def downscaled_maps(scores: np.ndarray, factors: list[int]) -> list[np.ndarray]:
    """One H×W map at each factor (for example panels)."""
    t = torch.as_tensor(scores, dtype=torch.float32)[None]
    return [block_average(t, u)[0].numpy() for u in factors]
