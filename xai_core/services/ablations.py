"""Ablations, both evaluated as shards by :func:`~xai_core.services.evaluation.evaluate`.

Resolution: each map averaged over u×u pixel blocks (:func:`xai_core.resolution.block_average`)
before scoring, so a metric sees the same ranking at a coarser grain; it applies to any method.
Setting sweep: one method trained and evaluated for each value of one of its settings, e.g.
DiET's mask scale u (the paper's mask-downscaling ablation, its Figure 5). Both return the same
shape, drawn by :func:`xai_core.figures.ablation_figure`; a setting sweep also keeps each value's
per-image scores (``"per_image"``), so values can be compared image by image (a paired bootstrap, or
a curve judged on part of its axis: :class:`xai_core.reproduce.claims.SweepBand`).
Component ablation: a method beside its variants without each of the components it declares
(``Capabilities.ablations``, e.g. MEED's Table 2), as one evaluate() result.
Each takes ``target``, the class explained (the black box's top-1 by default, or "label"), as evaluate() does.
"""
from __future__ import annotations

import math
from typing import Any

from ..errors import XAIError
from ..methods import METHODS
from ..metrics import METRICS, headline, merge_batches
from ..metrics.base import X_KEY
from ..progress import Progress, no_progress
from .catalog import check_methods, check_metrics
from .context import TOP1, Context
from .evaluation import evaluate, plan_shards, planned_images, reduce_shards
from .shards import run_shard


def resolution_ablation(
    ctx: Context, methods: list[str], metric: str, factors: list[int], n: int, progress: Progress = no_progress,
    target: str = TOP1,
) -> dict[str, Any]:
    """Evaluate ``metric`` on maps at each block factor: {"summary": {method: {u: value}}, "runs":
    {u: the evaluate() JSON}}; the value is a curve's AUC or a scalar's mean."""
    runs, summary = {}, {m: {} for m in methods}
    for i, u in enumerate(factors):
        def sub(done: int, total: int, message: str = "", **_: Any) -> None:
            progress(i * max(total, 1) + done, len(factors) * max(total, 1), f"u = {u}: {message}")

        runs[u] = evaluate(ctx, methods, [metric], n, progress=sub, block=u, target=target)
        for m in methods:
            summary[m][u] = runs[u]["results"][m][metric]
    return _result(ctx, metric, n, factors, summary, runs)


def setting_sweep(
    ctx: Context, method: str, setting: str, values: list[Any], metric: str, n: int, progress: Progress = no_progress,
    target: str = TOP1,
) -> dict[str, Any]:
    """Train (cached per value) and evaluate ``method`` with ``setting`` = each of ``values``:
    {"summary": {method: {value: metric value}}, "runs": {value: evaluate() JSON}, "per_image":
    {method: {value: the metric's primary score per image}}, ...} (:func:`per_image_scores`: the first
    ``n`` test images, in order, for every value); in each run the method is labelled e.g. "diet (u = 4)"."""
    check_methods([method], ctx.info)
    check_metrics([metric], ctx.info)
    runs, summary, per_image = {}, {method: {}}, {method: {}}
    for i, value in enumerate(values):
        def sub(done: int, total: int, message: str = "", **metrics: Any) -> None:
            progress(2 * i + min(1.0, done / max(total, 1)), 2 * len(values), f"{setting} = {value}: {message}",
                     **metrics)

        config = {setting: value}
        ctx.explainer(method, sub, **config)  # trained (or loaded) here, with its progress; reused below
        label = f"{method} ({setting} = {value})"
        runs[value], scores = _evaluate_keeping_images(
            ctx, label, (method, config), metric, n, target,
            lambda d, t, m="", **_: progress(2 * i + 1 + d / max(t, 1), 2 * len(values),
                                             f"{setting} = {value}: evaluating"))
        summary[method][value] = runs[value]["results"][label][metric]
        per_image[method][value] = per_image_scores(METRICS.get(metric).primary, scores)
    return {**_result(ctx, metric, n, list(values), summary, runs), "setting": setting, "per_image": per_image}


def _evaluate_keeping_images(ctx: Context, label: str, variant: tuple[str, dict[str, Any]], metric: str, n: int,
                             target: str, progress: Progress) -> tuple[dict[str, Any], dict[str, Any]]:
    """evaluate() of one variant on one metric (the same shards, the same JSON), with the metric's
    per-image values merged over the shards (``{}`` when the metric does not apply)."""
    plan = plan_shards(ctx, [label], [metric], n, variants={label: variant}, target=target)
    results = []
    for i, (shard, batch) in enumerate(zip(plan, ctx.test.batches([s.indices for s in plan]))):
        results.append(run_shard(shard, ctx, progress, batch))
        progress(i + 1, len(plan), f"{label}: {shard.indices[-1] + 1}/{planned_images(plan)} images")
    scores = merge_batches(r.per_image[metric] for r in results) if metric in plan[0].metrics else {}
    return reduce_shards(ctx, plan, results, [metric]), scores


def per_image_scores(primary: str, per_image: dict[str, Any]) -> dict[str, Any] | None:
    """A metric's per-image values → ``{"x": the curve's x axis as run, "y": one list per image}`` for a
    curve, ``{"y": one value per image}`` for a scalar or group metric (its primary score); NaN → None;
    None for a seeded metric (one column per seed) or when there are no values."""
    y = per_image.get(primary)
    if y is None or y.ndim > 2 or (y.ndim == 2 and X_KEY not in per_image):
        return None
    out = {"x": per_image[X_KEY].double().tolist()} if y.ndim == 2 else {}
    rows = y.double().tolist()
    out["y"] = [[_finite(v) for v in row] for row in rows] if y.ndim == 2 else [_finite(v) for v in rows]
    return out


def _finite(v: float) -> float | None:
    return None if math.isnan(v) else v


def component_variants(method: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{label: (method, settings)}``: the method itself, then one variant per component it declares
    (e.g. "meed (w/o AIL)": ``ail=False``); one line when it declares none."""
    ablations = METHODS.get(method).caps.ablations
    if not ablations:
        with_some = [m for m in METHODS.names() if METHODS.get(m).caps.ablations]
        raise XAIError(f"{method} declares no components to ablate; methods that do: {', '.join(with_some) or 'none'}")
    return {method: (method, {}), **{f"{method} ({label})": (method, dict(config))
                                     for label, config in ablations.items()}}


def component_ablation(ctx: Context, method: str, metrics: list[str], n: int,
                       progress: Progress = no_progress, target: str = TOP1) -> dict[str, Any]:
    """Train (cached) and evaluate ``method`` and each of its :func:`component_variants` on ``metrics``:
    the evaluate() JSON with one result per variant, plus ``"ablation": {label: settings}``."""
    variants = component_variants(method)
    check_metrics(metrics, ctx.info)
    result = evaluate(ctx, list(variants), metrics, n, variants=variants, progress=progress, target=target)
    return {**result, "ablation": {label: config for label, (_, config) in variants.items()}}


def sweep_curves(result: dict[str, Any]) -> dict[str, Any]:
    """A setting sweep's runs as one evaluate()-shaped result, one "method" per value (e.g.
    "diet (u = 4)"), so the curve chart draws the metric's curve for every value."""
    runs = list(result["runs"].values())
    return {**runs[0], "results": {label: r for run in runs for label, r in run["results"].items()}}


def _result(ctx: Context, metric: str, n: int, factors: list[Any], summary: dict, runs: dict) -> dict[str, Any]:
    """The shape both ablations return; a summary value is the metric's headline (:func:`headline`)."""
    summary = {m: {u: headline(METRICS.get(metric), v) for u, v in by_u.items()} for m, by_u in summary.items()}
    return {"dataset": ctx.dataset, "preset": ctx.preset, "n": min(n, len(ctx.test)), "metric": metric,
            "higher_is_better": METRICS.get(metric).higher_is_better, "factors": factors,
            "summary": summary, "runs": runs}
