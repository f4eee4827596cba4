"""Ablations that apply to any method's maps.

Resolution: each map averaged over u×u pixel blocks and brought back to full size, so a metric
sees the same ranking at a coarser grain. It is the post-hoc counterpart of DiET's
mask-downscaling ablation (DiET learns its mask at 1/u resolution; that sweep arrives with the
DiET method and uses the same page and figure).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import METRICS
from .progress import Progress, no_progress

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


def resolution_ablation(
    ctx: Any, methods: list[str], metric: str, factors: list[int], n: int, progress: Progress = no_progress
) -> dict[str, Any]:
    """Evaluate ``metric`` on maps at each block factor: {"summary": {method: {u: value}}, "runs":
    {u: the evaluate() JSON}}; the value is a curve's AUC or a scalar's mean."""
    from .services import evaluate  # services imports this module's callers, not this module

    runs, summary = {}, {m: {} for m in methods}
    for i, u in enumerate(factors):
        def sub(done: int, total: int, message: str = "", **_: Any) -> None:
            progress(i * max(total, 1) + done, len(factors) * max(total, 1), f"u = {u}: {message}")

        runs[u] = evaluate(ctx, methods, [metric], n, progress=sub, postprocess=lambda s, u=u: block_average(s, u))
        for m in methods:
            value = runs[u]["results"][m][metric]
            summary[m][u] = value["auc"] if isinstance(value, dict) else value
    return {"dataset": ctx.dataset, "preset": ctx.preset, "n": min(n, len(ctx.test)), "metric": metric,
            "higher_is_better": METRICS.get(metric).higher_is_better, "factors": factors,
            "summary": summary, "runs": runs}
