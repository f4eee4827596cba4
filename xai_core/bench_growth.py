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

Each timing is one run after a warm-up (the 512-image evaluation alone is minutes on a small CPU); the
machine is named in the JSON. ``scripts/plot_growth.py`` draws the chart in docs/measured.md.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import services
from .device import describe_device
from .metrics.perturbation import deletion
from .progress import Progress, no_progress
from .services.context import TOP1

METHOD, METRIC = "gradient", "deletion"
COUNTS = (8, 32, 128, 512)
SHARDS = (10, 25, 50, 100)
SIDES = (64, 96, 128, 160, 224)
SIDE_IMAGES = 16


def _seconds(fn: Callable[[], Any], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


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
    seconds = []
    for i, n in enumerate(counts):
        progress(i, len(counts), f"growth: {METRIC} of {METHOD} on {n} images")
        seconds.append(_seconds(lambda: services.evaluate(ctx, [METHOD], [METRIC], n=n), ctx.device))  # noqa: B023
    fit = line(counts, seconds)
    return {"images": counts, "seconds": seconds, "seconds_per_image": [s / n for s, n in zip(seconds, counts)],
            "startup_seconds": fit["intercept"], "seconds_per_image_fit": fit["slope"], "r2": fit["r2"]}


def _against_shards(ctx: services.Context, shards: Sequence[int], progress: Progress) -> dict[str, Any]:
    n = min(max(shards), len(ctx.test))
    seconds = []
    for i, size in enumerate(shards):
        progress(i, len(shards), f"growth: {n} images in shards of {size}")
        seconds.append(_seconds(lambda: services.evaluate(ctx, [METHOD], [METRIC], n=n, batch_size=size),  # noqa: B023
                                ctx.device))
    return {"images": n, "shard_sizes": list(shards), "seconds": seconds}


def _against_sides(ctx: services.Context, sides: Sequence[int], progress: Progress) -> dict[str, Any]:
    batch = ctx.test.batch(list(range(min(SIDE_IMAGES, len(ctx.test))))).to(ctx.device)
    explainer = services.build_explainer(ctx, METHOD)
    fill = ctx.fill()
    seconds = []
    for i, side in enumerate(sides):
        progress(i, len(sides), f"growth: {METRIC} of {METHOD} at {side} px")
        x = F.interpolate(batch.x, size=(side, side), mode="bilinear", align_corners=False)
        target = services.targets_for(ctx.black_box, x, batch.y, target=TOP1)

        def run() -> None:
            scores = explainer.explain(x, target).scores  # noqa: B023
            deletion(ctx.black_box, x, target, scores, fill=fill)  # noqa: B023

        run()  # warm-up at this size
        seconds.append(_seconds(run, ctx.device))
    per_image = [s / len(batch.x) for s in seconds]
    base = sides[0] ** 2
    return {"images": len(batch.x), "sides": list(sides), "seconds": seconds, "seconds_per_image": per_image,
            "seconds_per_image_per_base_pixels": [p * base / side**2 for p, side in zip(per_image, sides)],
            "base_side": sides[0]}


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
