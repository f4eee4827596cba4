"""Test accuracy of the model a method explains beside the black box's (COMET's Table 2): on the whole
test split, clean and with a share of the pixels removed at random (filled with the dataset mean
colour, per image seeded). Cached per black box, method fit and removal."""
from __future__ import annotations

from typing import Any

import torch

from ..methods.base import model_fingerprint
from ..models.inference import predict
from ..metrics.removal import remove_at_random
from ..progress import Progress, no_progress
from .context import Context

ACCURACY = "accuracy"  # store kind
REMOVED = 0.1  # the paper's noisy test: 10 % of the pixels removed
SEED = 0
BATCH = 200


def explained_accuracy(ctx: Context, method: str, progress: Progress = no_progress, removed: float = REMOVED,
                  **config: Any) -> dict[str, dict[str, float]]:
    """``{"black_box": {"clean": acc, "removed": acc}, method: {...}}`` on the whole test split, where
    ``method`` stands for the model it explains (COMET: f_P on x_s; DiET: f_v)."""
    explainer = ctx.explainer(method, progress, **config)
    spec = _spec(ctx, method, explainer, removed)

    def measure() -> dict[str, dict[str, float]]:
        models = {"black_box": ctx.black_box, method: explainer.explained_model}
        correct = {name: {"clean": 0, "removed": 0} for name in models}
        n = len(ctx.test)
        for start in range(0, n, BATCH):
            batch = ctx.test.batch(list(range(start, min(n, start + BATCH)))).to(ctx.device)
            noisy, _ = remove_at_random(batch.x, removed, fill=ctx.fill(), seed=SEED)
            for name, model in models.items():
                with torch.no_grad():
                    for key, images in (("clean", batch.x), ("removed", noisy)):
                        correct[name][key] += int((predict(model, images).argmax(1) == batch.y).sum())
            progress(min(n, start + BATCH), n, "test accuracy")
        return {name: {k: v / n for k, v in c.items()} for name, c in correct.items()}

    return ctx.store.get_or_create(ACCURACY, spec, measure)


def accuracy_measured(ctx: Context, method: str, removed: float = REMOVED, **config: Any) -> bool:
    """Whether :func:`explained_accuracy` is stored already (then it returns at once; else it takes seconds to
    minutes: the pages run it as a background job). ``method`` must be prepared on ``ctx`` (its maps shown)."""
    return ctx.store.exists(ACCURACY, _spec(ctx, method, ctx.explainer(method, **config), removed))


def _spec(ctx: Context, method: str, explainer: Any, removed: float) -> dict[str, Any]:
    return {"black_box": model_fingerprint(ctx.black_box), "data": ctx.info.spec(), "removed": removed, "seed": SEED,
            "method": method, "fit": getattr(explainer, "cache_spec", dict)()}
