"""``bench --sections growth``: how the cost of an evaluation grows, for one method and one metric
(the gradient map scored by deletion at its default 51 steps):

- against the number of images (``evaluate`` on 8 → 512 test images): the least-squares line through
  the timings gives the start-up cost (its intercept) and the cost per image (its slope); the cost
  should be linear in images;
- against the shard size (the same images evaluated in shards of 10, 25, 50 and 100): a start-up cost
  repeated per shard would make small shards slower;
- against the image side (64 → 224 px: the same test images resized, explained and scored on the same
  black box, which pools globally): the cost per image and per 64×64 pixels, which should grow with
  the pixels and no faster.

Each timing is the least of two runs after a warm-up (the 512-image evaluation alone is minutes on a small
CPU), in wall and in CPU seconds of this process (the second is what a machine shared with other work distorts
least); the machine is named in the JSON. ``scripts/plot_growth.py`` draws the chart in docs/measured.md.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import services
from .bench_timing import timed
from .device import describe_device
from .metrics.perturbation import deletion
from .progress import Progress, no_progress
from .services.context import TOP1

METHOD, METRIC = "gradient", "deletion"
COUNTS = (8, 32, 128, 512)
SHARDS = (10, 25, 50, 100)
SIDES = (64, 96, 128, 160, 224)
SIDE_IMAGES = 16
REPEATS = 2  # the least of two runs per point: a shared machine's noise only ever adds time


def _seconds(fn: Callable[[], Any], device: torch.device, repeats: int = REPEATS) -> tuple[float, float]:
    """The least wall and the least CPU seconds of ``repeats`` calls of ``fn`` (this process's CPU time: on a
    shared machine other work stretches the wall time, much less the CPU time)."""
    runs = [timed(fn, device) for _ in range(repeats)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def _timings(runs: list[tuple[float, float]]) -> dict[str, list[float]]:
    return {"seconds": [w for w, _ in runs], "cpu_seconds": [c for _, c in runs]}


def line(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """The least-squares line ``y = intercept + slope · x`` and its r²."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    fitted = intercept + slope * np.asarray(xs, float)
    total = float(np.sum((np.asarray(ys) - np.mean(ys)) ** 2))
    r2 = 1.0 - float(np.sum((np.asarray(ys) - fitted) ** 2)) / total if total > 0 else 1.0
    return {"intercept": float(intercept), "slope": float(slope), "r2": r2}


def _against_images(ctx: services.Context, counts: Sequence[int], progress: Progress) -> dict[str, Any]:
    counts = [c for c in counts if c <= len(ctx.test)]
    services.evaluate(ctx, [METHOD], [METRIC], n=min(counts))  # warm-up: the explainer, the first forwards
    runs = []
    for i, n in enumerate(counts):
        progress(i, len(counts), f"growth: {METRIC} of {METHOD} on {n} images")
        runs.append(_seconds(lambda: services.evaluate(ctx, [METHOD], [METRIC], n=n), ctx.device))  # noqa: B023
    out: dict[str, Any] = {"images": counts, **_timings(runs)}
    for key in ("seconds", "cpu_seconds"):  # the line's intercept is the start-up cost, its slope the cost per image
        out[f"{key}_fit"] = line(counts, out[key])
    return out


def _against_shards(ctx: services.Context, shards: Sequence[int], progress: Progress) -> dict[str, Any]:
    n = min(max(shards), len(ctx.test))
    runs = []
    for i, size in enumerate(shards):
        progress(i, len(shards), f"growth: {n} images in shards of {size}")
        runs.append(_seconds(lambda: services.evaluate(ctx, [METHOD], [METRIC], n=n, batch_size=size),  # noqa: B023
                             ctx.device))
    return {"images": n, "shard_sizes": list(shards), **_timings(runs)}


def _against_sides(ctx: services.Context, sides: Sequence[int], progress: Progress) -> dict[str, Any]:
    batch = ctx.test.batch(list(range(min(SIDE_IMAGES, len(ctx.test))))).to(ctx.device)
    explainer = services.build_explainer(ctx, METHOD)
    fill = ctx.fill()
    runs = []
    for i, side in enumerate(sides):
        progress(i, len(sides), f"growth: {METRIC} of {METHOD} at {side} px")
        x = F.interpolate(batch.x, size=(side, side), mode="bilinear", align_corners=False)
        target = services.targets_for(ctx.black_box, x, batch.y, target=TOP1)

        def run() -> None:
            scores = explainer.explain(x, target).scores  # noqa: B023
            deletion(ctx.black_box, x, target, scores, fill=fill)  # noqa: B023

        run()  # warm-up at this size
        runs.append(_seconds(run, ctx.device))
    out: dict[str, Any] = {"images": len(batch.x), "sides": list(sides), "base_side": sides[0], **_timings(runs)}
    for key in ("seconds", "cpu_seconds"):  # per image, and per 64×64 pixels (sides[0]²): flat when cost ∝ pixels
        out[f"{key}_per_image"] = [s / len(batch.x) for s in out[key]]
        out[f"{key}_per_image_per_base_pixels"] = [s * sides[0] ** 2 / side**2
                                                   for s, side in zip(out[f"{key}_per_image"], sides)]
    return out


def run_growth(*, dataset: str = "hard_mnist", preset: str = "quick", device: str = "auto", seed: int = 0,
               counts: Sequence[int] = COUNTS, shards: Sequence[int] = SHARDS, sides: Sequence[int] = SIDES,
               progress: Progress = no_progress) -> dict[str, Any]:
    """The growth section on ``dataset``'s black box (its architecture must pool globally to take the
    resized images: hard_mnist's cnn_light does)."""
    ctx = services.load_context(dataset, preset, device=device, seed=seed)
    return {"dataset": f"{ctx.dataset}@{ctx.info.image_size}px", "model": ctx.record.get("arch"),
            "preset": ctx.preset, "device": describe_device(ctx.device), "method": METHOD,
            "metric": f"{METRIC} (default 51 steps)",
            "against_images": _against_images(ctx, counts, progress),
            "against_shards": _against_shards(ctx, shards, progress),
            "against_sides": _against_sides(ctx, sides, progress)}
