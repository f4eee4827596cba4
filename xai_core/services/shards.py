"""One unit of evaluation work, described by data only: a :class:`Shard` names the context, one
method with its settings, the metrics, the test images and the map post-processing, so it pickles
and runs in any process (:func:`run_shard`). Its :class:`ShardResult` holds what each metric
returns per image; :func:`xai_core.services.evaluation.reduce_shards` turns results into JSON."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import units
from ..data.base import Batch
from ..methods import METHODS
from ..methods.base import SIMPLIFIED
from ..metrics import METRICS, EvalInputs
from ..progress import Progress, no_progress
from ..resolution import block_average
from .context import TOP1, Context, ContextSpec, Target, build_explainer, explaining, targets_for
from .approximators import ApproximatorFitter
from .reconstruction import GeneratorFitter

Overrides = tuple[tuple[str, Any], ...]  # a method's settings that differ from its preset's, sorted by name


@dataclass(frozen=True)
class Shard:
    """Explain ``indices`` of the test split with ``method`` (``config`` applied) and score the maps
    with ``metrics``; the results count under ``label`` (a method name, or e.g. "diet (u = 4)").
    ``target``: the class explained, the black box's top-1 (the papers') or the label (see
    :func:`~.context.targets_for`), for the test maps and the training maps a metric explains."""

    context: ContextSpec
    label: str
    method: str
    config: Overrides
    metrics: tuple[str, ...]
    indices: tuple[int, ...]
    block: int = 1  # maps averaged over block×block pixels before scoring (the resolution ablation)
    metric_settings: tuple[tuple[str, Overrides], ...] = ()  # per metric, parameters that differ from its defaults
    target: Target = TOP1

    def overrides(self, metric: str) -> dict[str, Any]:
        """The parameters ``metric`` runs with that differ from its defaults."""
        return dict(dict(self.metric_settings).get(metric, ()))


@dataclass
class ShardResult:
    """What one shard measured: per metric, its per-image values (on the CPU); the seconds spent
    explaining; the method's settings."""

    shard: Shard
    per_image: dict[str, dict[str, torch.Tensor]]
    seconds: float
    settings: dict[str, Any]


def run_shard(shard: Shard, ctx: Context | None = None, progress: Progress = no_progress,
              batch: Batch | None = None) -> ShardResult:
    """Run ``shard``: on ``ctx`` (a loaded context of ``shard.context``, whose cached explainers are
    reused), or on the context loaded from the spec alone. ``progress`` hears the method's training;
    ``batch``: the shard's test images when the caller has them already (decoded ahead)."""
    if ctx is None:
        ctx = shard.context.load(progress=progress)
    elif ctx.spec != shard.context:
        raise ValueError(f"shard for {shard.context} run on a context of {ctx.spec}")
    config = dict(shard.config)
    explainer = ctx.explainer(shard.method, progress, **config)
    batch = (ctx.test.batch(list(shard.indices)) if batch is None else batch).to(ctx.device)
    target = targets_for(ctx.black_box, batch.x, batch.y, shard.target)
    started = time.perf_counter()
    expl = explainer.explain(batch.x, target, batch.masks)
    seconds = time.perf_counter() - started
    inputs = EvalInputs(
        model=expl.model,
        black_box=ctx.black_box,
        x=batch.x,
        labels=batch.y,
        target=target,
        scores=block_average(expl.scores, shard.block).to(ctx.device),
        masks=batch.masks,
        fill=ctx.fill(),
        selection=expl.selection,
        simplified=expl.extras.get(SIMPLIFIED),
        # the sanity check re-explains with randomised models: not for trained methods (a refit per step)
        reexplain=(_reexplainer(ctx, shard, batch.x, target, batch.masks)
                   if METHODS.get(shard.method).caps.rerunnable else None),
        reconstruction=GeneratorFitter(ctx, explainer, shard.block, progress),
        explain_again=lambda x: block_average(explainer.explain(x.to(ctx.device), target, batch.masks).scores,
                                              shard.block).to(ctx.device),
        other_split=lambda split: _other_split(ctx, split, shard.indices),
        k=explanation_k(ctx, explainer),
        approximators=ApproximatorFitter(ctx, explainer, shard.block, progress),
    )
    with explaining(shard.target):  # training maps (a1a2, fs_fu) explain the same class as the test maps
        per_image = {m: {k: torch.as_tensor(v).detach().cpu()
                         for k, v in METRICS.get(m)(inputs, **shard.overrides(m)).items()}
                     for m in shard.metrics}
    return ShardResult(shard, per_image, seconds, explainer.settings())


def explanation_k(ctx: Context, explainer: Any) -> int:
    """MEED's explanation size k in feature units: the explainer's own ``config.k`` where its method
    has one set, else the dataset's (:func:`xai_core.units.default_k`)."""
    k = getattr(getattr(explainer, "config", None), "k", None)
    return int(k) if k is not None else units.default_k(ctx.dataset, ctx.info.image_size)


def _other_split(ctx: Context, split: str, indices: tuple[int, ...]) -> torch.Tensor | None:
    """The images at ``indices`` of another split of the context's dataset, on its device; None
    when the dataset has no such split (the split loads once per context, when first asked for)."""
    images = ctx.split(split)
    return None if images is None else images.batch(list(indices)).x.to(ctx.device)


def _reexplainer(ctx: Context, shard: Shard, x: torch.Tensor, target: torch.Tensor,
                 masks: torch.Tensor | None) -> Callable[[nn.Module], torch.Tensor]:
    """``model → scores``: a fresh explainer of the shard's method and settings on ``model``
    (prepared where it needs it, e.g. feature statistics) explaining these images again."""
    def reexplain(model: nn.Module) -> torch.Tensor:
        scores = build_explainer(ctx, shard.method, model=model, **dict(shard.config)).explain(x, target, masks).scores
        return block_average(scores, shard.block).to(ctx.device)

    return reexplain
