"""Evaluation across the ranks of a torchrun job: the same shards as :func:`~.evaluation.evaluate`,
dealt out by image batch (rank r takes batches r, r + N, … of every method, so an image is explained
by one rank only), run on each rank's own device, gathered on rank 0 and reduced into the same JSON.

The result equals the single-process one up to float rounding: every method is seeded per method
and draws its noise per image (:mod:`xai_core.noise`), so an image gets the same map on any rank.
Trained methods are fitted first, by all ranks together (:func:`xai_core.methods.trained.fit_together`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import distributed
from ..progress import Progress, no_progress
from .context import TOP1, Configs, Context
from .evaluation import plan_shards, planned_images, reduce_shards
from .shards import ShardResult, run_shard


def evaluate_across_ranks(
    ctx: Context,
    methods: Sequence[str],
    metrics: Sequence[str],
    n: int = 100,
    *,
    batch_size: int = 50,
    progress: Progress = no_progress,
    configs: Configs | None = None,
    metric_settings: Configs | None = None,
    target: str = TOP1,
) -> dict[str, Any] | None:
    """Called by every rank alike: rank 0 returns :func:`~.evaluation.evaluate`'s JSON (with
    ``settings["processes"]``), the other ranks None. ``progress`` (rank 0's) counts the shards of all
    ranks. More ranks than images is one line before any work."""
    world, rank = distributed.world_size(), distributed.rank()
    images = min(n, len(ctx.test))
    if images < world:
        raise distributed.AgreedError(
            f"{world} processes for {images} test image(s): start at most one process per image "
            "(lower --nproc_per_node or raise --num-images)")
    batches = -(-max(-(-images // batch_size), world) // world) * world  # a multiple of the ranks: even shares
    size = -(-images // batches)
    plan = plan_shards(ctx, methods, metrics, images, batch_size=size, configs=configs,
                       metric_settings=metric_settings, target=target)
    if not distributed.is_main():
        progress = no_progress
    for method, config in dict.fromkeys((s.method, s.config) for s in plan):  # fits first, every rank together
        ctx.explainer(method, progress, **dict(config))
    mine = [s for s in plan if (s.indices[0] // size) % world == rank]
    done = distributed.Counter("evaluate/shards")

    def report(count: int) -> None:
        progress(count, len(plan), f"{count}/{len(plan)} shards ({planned_images(plan)} images per method) "
                 f"on {world} processes")

    results: list[ShardResult] = []
    for shard, batch in zip(mine, ctx.test.batches([s.indices for s in mine])):
        results.append(run_shard(shard, ctx, progress, batch))
        report(done.add())
    if distributed.is_main():
        done.wait_for(len(plan), report)
    gathered = distributed.gather(results)
    if gathered is None:
        return None
    out = reduce_shards(ctx, plan, [r for part in gathered for r in part], metrics)
    out["settings"]["processes"] = world
    return out

