"""Ablations.

Resolution: each map averaged over u×u pixel blocks and brought back to full size, so a metric
sees the same ranking at a coarser grain; it applies to any method.
Setting sweep: one method refitted and re-evaluated for each value of one of its settings, e.g.
DiET's mask scale u (the paper's mask-downscaling ablation, its Figure 5). Both return the same
shape, drawn by :func:`xai_core.figures.ablation_figure`.
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
            summary[m][u] = value
    return _result(ctx, metric, n, factors, summary, runs)


def setting_sweep(
    ctx: Any, method: str, setting: str, values: list[Any], metric: str, n: int, progress: Progress = no_progress
) -> dict[str, Any]:
    """Fit (cached per value) and evaluate ``method`` with ``setting`` = each of ``values``:
    {"summary": {method: {value: metric value}}, "runs": {value: evaluate() JSON}, ...}."""
    from .data import get_dataset
    from .methods import METHODS
    from .services import check_methods, check_metrics, evaluate

    check_methods([method], ctx.info)
    check_metrics([metric], ctx.info)
    cls = METHODS.get(method)
    train = get_dataset(ctx.dataset, "train", ctx.preset, store=ctx.store) if cls.kind == "trained" else None
    runs, summary = {}, {method: {}}
    for i, value in enumerate(values):
        def sub(done: int, total: int, message: str = "", **metrics: Any) -> None:
            progress(2 * i + min(1.0, done / max(total, 1)), 2 * len(values), f"{setting} = {value}: {message}",
                     **metrics)

        explainer = cls(ctx.black_box, ctx.info, preset=ctx.preset, device=ctx.device, seed=ctx.seed,
                        **{setting: value})
        if explainer.needs_fit:
            explainer.fit(train, ctx.store, sub)
        label = f"{method} ({setting} = {value})"
        runs[value] = evaluate(ctx, [label], [metric], n, explainers={label: explainer},
                               progress=lambda d, t, m="", **_: progress(2 * i + 1 + d / max(t, 1), 2 * len(values),
                                                                         f"{setting} = {value}: evaluating"))
        result = runs[value]["results"][label][metric]
        summary[method][value] = result
    return {**_result(ctx, metric, n, list(values), summary, runs), "setting": setting}


def sweep_curves(result: dict[str, Any]) -> dict[str, Any]:
    """A setting sweep's runs as one evaluate()-shaped result, one "method" per value (e.g.
    "diet (u = 4)"), so the curve chart draws the metric's curve for every value."""
    runs = list(result["runs"].values())
    return {**runs[0], "results": {label: r for run in runs for label, r in run["results"].items()}}


def _result(ctx: Any, metric: str, n: int, factors: list[Any], summary: dict, runs: dict) -> dict[str, Any]:
    """The shape both ablations return; a curve's summary value is its AUC, a scalar's its mean."""
    summary = {m: {u: v["auc"] if isinstance(v, dict) else v for u, v in by_u.items()} for m, by_u in summary.items()}
    return {"dataset": ctx.dataset, "preset": ctx.preset, "n": min(n, len(ctx.test)), "metric": metric,
            "higher_is_better": METRICS.get(metric).higher_is_better, "factors": factors,
            "summary": summary, "runs": runs}
