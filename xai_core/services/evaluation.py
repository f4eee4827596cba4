"""Evaluating methods × metrics on test images: :func:`evaluate` plans the work as shards (one per
method and batch of images, :func:`plan_shards`), runs them here — in this process, in order, on
the given context and its cached explainers — and reduces their per-image values into the CLI's
JSON (:func:`reduce_shards`). Other backends run the same shards elsewhere and reduce alike.

The values are typed while reduced (:class:`~xai_core.metrics.EvaluationResult`); what the services
return is its JSON, the form pages, jobs, the store and ``--json`` files hold (read it back typed with
:meth:`EvaluationResult.from_json <xai_core.metrics.EvaluationResult.from_json>`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import XAIError
from ..metrics import METRICS, EvaluationResult, MetricValue, aggregate_value, merge_batches
from ..metrics.results import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from ..progress import Progress, no_progress, within
from .catalog import applicable_metrics, check_methods, not_applicable
from .context import TOP1, Configs, Context, check_target
from .shards import Shard, ShardResult, run_shard

Variant = tuple[str, Mapping[str, Any]]  # (method, settings that differ from its preset's)
#: how every ``ci95`` in the JSON is computed (written under ``settings["intervals"]``; docs/metrics.md)
INTERVALS = {"level": 0.95, "over_images": f"percentile bootstrap of the mean, {BOOTSTRAP_RESAMPLES} resamples, "
                                          f"seed {BOOTSTRAP_SEED}; a curve's AUC over the per-image AUCs",
             "over_seeds": "Student t over the per-seed means (one seed: the bootstrap over its images)"}


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
    target: str = TOP1,
) -> dict[str, Any]:
    """Evaluate methods × metrics on the first ``n`` test images, explaining ``target`` (the black
    box's top-1, or "label"); returns the CLI's JSON shape
    (:meth:`EvaluationResult.to_json <xai_core.metrics.EvaluationResult.to_json>`).
    ``block`` > 1 averages every map over block×block pixels before scoring (the resolution
    ablation); see :func:`plan_shards` for ``methods``, ``configs``, ``variants`` and ``metric_settings``.
    Metrics that need ground truth the dataset lacks are n/a (value None, the reason under
    ``settings["not_applicable"]``) as long as one of ``metrics`` applies."""
    plan = plan_shards(ctx, methods, metrics, n, batch_size=batch_size, block=block, configs=configs,
                       variants=variants, metric_settings=metric_settings, target=target)
    images = planned_images(plan)
    results = []
    batches = ctx.test.batches([s.indices for s in plan])  # decoded ahead where the split streams from files
    for i, (shard, batch) in enumerate(zip(plan, batches)):
        # a method's training (the first shard of an untrained one) is reported inside this shard's share
        results.append(run_shard(shard, ctx, within(progress, i, len(plan)), batch))
        progress(i + 1, len(plan), f"{shard.label}: {shard.indices[-1] + 1}/{images} images")
    return reduce_shards(ctx, plan, results, metrics)


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
    target: str = TOP1,
) -> list[Shard]:
    """Check names, then one shard per entry of ``methods`` and batch of the first ``n`` test images,
    in that order. An entry is a method name (its settings overridden by ``configs[name]``) or a
    label in ``variants`` naming a method and its settings (e.g. one per value of a sweep);
    ``metric_settings[metric]`` overrides a metric's parameters (checked here). Metrics that need
    ground-truth masks the dataset lacks are left out of the shards (one line when none is left)."""
    variants = variants or {}
    runs = {label: variants.get(label) or (label, (configs or {}).get(label, {})) for label in methods}
    check_methods(list(dict.fromkeys(method for method, _ in runs.values())), ctx.info)
    applies, _ = applicable_metrics(list(metrics), ctx.info)
    if not runs or not metrics:
        raise XAIError("nothing to evaluate: choose at least one method and one metric")
    n = min(n, len(ctx.test))
    if n <= 0:
        raise XAIError("--num-images (--n) must be at least 1")
    spec = ctx.spec
    settings = tuple(sorted((m, tuple(sorted(METRICS.get(m).resolve(**dict(o)).items())))
                            for m, o in (metric_settings or {}).items() if m in metrics))
    return [Shard(spec, label, method, tuple(sorted(dict(config).items())), tuple(applies),
                  tuple(range(start, min(n, start + batch_size))), block, settings, check_target(target))
            for label, (method, config) in runs.items() for start in range(0, n, batch_size)]


def planned_images(plan: Sequence[Shard]) -> int:
    """How many test images each entry of the plan is evaluated on."""
    return sum(len(s.indices) for s in plan if s.label == plan[0].label)


def reduce_shards(ctx: Context, plan: Sequence[Shard], results: Sequence[ShardResult],
                  requested: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON of ``plan`` from its shards' ``results`` (any order, one per shard): per entry and
    metric the per-image values merged in plan order and aggregated, each mean with its 95 % interval
    (:func:`~xai_core.metrics.results.bootstrap_ci95` over these images, over seeds for a seeded metric);
    scalar and group metrics' spread; ms per image spent explaining; every setting behind the numbers
    (the interval rule under ``settings["intervals"]``). ``requested``: the
    metrics asked for (default: the plan's), those the plan left out are None with their reason
    under ``settings["not_applicable"]``."""
    ordered = [_result_of(shard, results) for shard in plan]
    n, metrics = planned_images(plan), plan[0].metrics
    names = list(dict.fromkeys(requested)) if requested is not None else list(metrics)
    reasons = not_applicable(names, ctx.info)
    skipped = {m: reasons.get(m, "not evaluated") for m in names if m not in metrics}
    values: dict[str, dict[str, MetricValue | None]] = {}
    timings: dict[str, float] = {}
    method_settings: dict[str, Any] = {}
    for label in dict.fromkeys(s.label for s in plan):
        parts = [r for r in ordered if r.shard.label == label]
        merged = {m: merge_batches(p.per_image[m] for p in parts) for m in metrics}
        values[label] = {m: aggregate_value(METRICS.get(m), merged[m]) if m in merged else None for m in names}
        timings[label] = 1000.0 * sum(p.seconds for p in parts) / n
        method_settings[label] = parts[0].settings
    settings = {
        "metrics": {m: _describe(m, list(ctx.info.mean), plan[0].overrides(m)) for m in names},
        "not_applicable": skipped,  # {metric: why its value is None}
        "methods": method_settings,
        "target": plan[0].target,  # "top1", or "label" (the model's top-1 where the label is unknown)
        "fill": {"name": "dataset mean colour", "value": list(ctx.info.mean)},
        "seed": ctx.seed,
        "intervals": INTERVALS,
        "device": str(ctx.device),
        "black_box": _record(ctx.record),
    }
    return EvaluationResult(ctx.dataset, ctx.preset, n, values, settings, timings).to_json()


def _record(record: dict[str, Any]) -> dict[str, Any]:
    """The black box's training record for the JSON: its scalars, and a manipulated model's gradient check
    (DiET §5.4: the claims about it are judged only once it is verified)."""
    out = {k: v for k, v in record.items() if isinstance(v, (int, float, str))}
    check = record.get("manipulation_check")
    if isinstance(check, dict):
        out["manipulation_check"] = {k: v for k, v in check.items() if isinstance(v, (int, float, str, type(None)))}
    return out


def _describe(metric: str, mean: list[float], overrides: dict[str, Any]) -> dict[str, Any]:
    """The metric's settings as run, with the dataset's mean colour; a ``fill`` parameter among the
    overrides (describe's own ``fill`` is the dataset colour) is written in afterwards."""
    fill = overrides.pop("fill", "dataset_mean")
    out = METRICS.get(metric).describe(fill=mean, **overrides)
    if not (isinstance(fill, str) and fill == "dataset_mean"):
        out["fill"] = fill if isinstance(fill, (str, int, float)) else torch.as_tensor(fill).tolist()
        out.pop("fill_value", None)
    return out


def _result_of(shard: Shard, results: Sequence[ShardResult]) -> ShardResult:
    for result in results:
        if result.shard == shard:
            return result
    raise XAIError(f"no result for the shard of {shard.label} on images {shard.indices[0]}–{shard.indices[-1]}")
