"""Evaluating methods × metrics on test images: :func:`evaluate` plans the work as shards (one per
method and batch of images, :func:`plan_shards`), runs them here — in this process, in order, on
the given context and its cached explainers — and reduces their per-image values into the CLI's
JSON (:func:`reduce_shards`). Other backends run the same shards elsewhere and reduce alike."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import XAIError
from ..metrics import METRICS, aggregate, merge_batches, summary
from ..progress import Progress, no_progress
from .catalog import check_methods, check_metrics
from .context import Configs, Context
from .shards import Shard, ShardResult, run_shard

Variant = tuple[str, Mapping[str, Any]]  # (method, settings that differ from its preset's)


def evaluate(
    ctx: Context,
    methods: Sequence[str],
    metrics: Sequence[str],
    n: int = 100,
    *,
    batch_size: int = 50,
    progress: Progress = no_progress,
    block: int = 1,
    configs: Configs | None = None,
    variants: Mapping[str, Variant] | None = None,
    metric_settings: Configs | None = None,
) -> dict[str, Any]:
    """Evaluate methods × metrics on the first ``n`` test images; returns the CLI's JSON shape.
    ``block`` > 1 averages every map over block×block pixels before scoring (the resolution
    ablation); see :func:`plan_shards` for ``methods``, ``configs``, ``variants`` and ``metric_settings``."""
    plan = plan_shards(ctx, methods, metrics, n, batch_size=batch_size, block=block, configs=configs,
                       variants=variants, metric_settings=metric_settings)
    images = planned_images(plan)
    results = []
    for i, shard in enumerate(plan):
        results.append(run_shard(shard, ctx, progress))  # progress also hears a method's training
        progress(i + 1, len(plan), f"{shard.label}: {shard.indices[-1] + 1}/{images} images")
    return reduce_shards(ctx, plan, results)


def plan_shards(
    ctx: Context,
    methods: Sequence[str],
    metrics: Sequence[str],
    n: int,
    *,
    batch_size: int = 50,
    block: int = 1,
    configs: Configs | None = None,
    variants: Mapping[str, Variant] | None = None,
    metric_settings: Configs | None = None,
) -> list[Shard]:
    """Check names, then one shard per entry of ``methods`` and batch of the first ``n`` test images,
    in that order. An entry is a method name (its settings overridden by ``configs[name]``) or a
    label in ``variants`` naming a method and its settings (e.g. one per value of a sweep);
    ``metric_settings[metric]`` overrides a metric's parameters (checked here)."""
    variants = variants or {}
    runs = {label: variants.get(label) or (label, (configs or {}).get(label, {})) for label in methods}
    check_methods(list(dict.fromkeys(method for method, _ in runs.values())), ctx.info)
    check_metrics(list(metrics), ctx.info)
    if not runs or not metrics:
        raise XAIError("nothing to evaluate: choose at least one method and one metric")
    n = min(n, len(ctx.test))
    if n <= 0:
        raise XAIError("--n must be at least 1")
    spec = ctx.spec
    settings = tuple(sorted((m, tuple(sorted(METRICS.get(m).resolve(**dict(o)).items())))
                            for m, o in (metric_settings or {}).items() if m in metrics))
    return [Shard(spec, label, method, tuple(sorted(dict(config).items())), tuple(metrics),
                  tuple(range(start, min(n, start + batch_size))), block, settings)
            for label, (method, config) in runs.items() for start in range(0, n, batch_size)]


def planned_images(plan: Sequence[Shard]) -> int:
    """How many test images each entry of the plan is evaluated on."""
    return sum(len(s.indices) for s in plan if s.label == plan[0].label)


def reduce_shards(ctx: Context, plan: Sequence[Shard], results: Sequence[ShardResult]) -> dict[str, Any]:
    """The JSON of ``plan`` from its shards' ``results`` (any order, one per shard): per entry and
    metric the per-image values merged in plan order and aggregated; scalar metrics' spread; ms per
    image spent explaining; every setting behind the numbers."""
    ordered = [_result_of(shard, results) for shard in plan]
    n, metrics = planned_images(plan), plan[0].metrics
    values: dict[str, Any] = {}
    spread: dict[str, dict[str, dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    method_settings: dict[str, Any] = {}
    for label in dict.fromkeys(s.label for s in plan):
        parts = [r for r in ordered if r.shard.label == label]
        merged = {m: merge_batches(p.per_image[m] for p in parts) for m in metrics}
        values[label] = {m: aggregate(METRICS.get(m), merged[m]) for m in metrics}
        spread[label] = {m: summary(METRICS.get(m), merged[m]) for m in metrics if METRICS.get(m).kind == "scalar"}
        timings[label] = 1000.0 * sum(p.seconds for p in parts) / n
        method_settings[label] = parts[0].settings
    return {
        "dataset": ctx.dataset,
        "preset": ctx.preset,
        "n": n,
        "results": values,
        "settings": {
            "metrics": {m: METRICS.get(m).describe(fill=list(ctx.info.mean), **plan[0].overrides(m)) for m in metrics},
            "methods": method_settings,
            "target": "label (model top-1 where the label is unknown)",
            "fill": {"name": "dataset mean colour", "value": list(ctx.info.mean)},
            "seed": ctx.seed,
            "device": str(ctx.device),
            "black_box": {k: v for k, v in ctx.record.items() if isinstance(v, (int, float, str))},
        },
        "ms_per_image": timings,
        "spread": spread,  # scalar metrics: {"mean", "std", "n"} (n excludes images without ground truth)
    }


def _result_of(shard: Shard, results: Sequence[ShardResult]) -> ShardResult:
    for result in results:
        if result.shard == shard:
            return result
    raise XAIError(f"no result for the shard of {shard.label} on images {shard.indices[0]}–{shard.indices[-1]}")
