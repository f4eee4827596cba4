"""Signal vs distractor masking (DiET's Table 6): how accurate the black box, and every model a
method explains instead (DiET's tuned f_v), stay when part of the signal, of the distractors or
of random pixels is erased."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..data.base import DatasetInfo
from ..errors import XAIError
from ..metrics import REGIONS, region_masking_accuracy
from .context import Context

MASKING_FRACTIONS = (0.2, 0.5, 0.8)


def check_region_masking(info: DatasetInfo) -> None:
    """Signal vs distractor masking needs the signal: refuse datasets without ground truth before any work."""
    if not info.has_ground_truth:
        raise XAIError(f"signal vs distractor masking needs ground-truth masks, which {info.name} does not have")


def region_masking(
    ctx: Context, methods: Sequence[str] = (), n: int = 200, fractions: tuple[float, ...] = MASKING_FRACTIONS,
    batch_size: int = 100,
) -> dict[str, Any]:
    """DiET's Table 6 for the black box and for every model a chosen method explains instead (DiET's
    f_v): mean accuracy when masking a fraction of the distractor, the signal or random pixels.
    Returns {"fractions", "n", "fill", "models": {model: {region: [accuracy per fraction]}}}."""
    check_region_masking(ctx.info)
    models = {"black box": ctx.black_box}
    for m in methods:
        explained = ctx.explainer(m).explained_model
        if explained is not ctx.black_box:
            models[f"{m} (tuned model)"] = explained
    n = min(n, len(ctx.test))
    out: dict[str, Any] = {}
    for name, model in models.items():
        parts = []
        for start in range(0, n, batch_size):
            batch = ctx.test.batch(list(range(start, min(n, start + batch_size)))).to(ctx.device)
            parts.append(region_masking_accuracy(model, batch.x, batch.y, batch.masks, fractions, ctx.fill(),
                                                 seed=ctx.seed + start))
        out[name] = {r: torch.cat([p[r] for p in parts]).mean(0).tolist() for r in REGIONS}
    return {"fractions": list(fractions), "n": n, "fill": "dataset mean colour", "models": out}
