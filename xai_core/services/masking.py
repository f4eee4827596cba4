"""Signal vs distractor masking (DiET's Table 6): how accurate the black box, and every model a
method explains instead (DiET's tuned f_v), stay when part of the signal, of the distractors or
of random pixels is erased.

The paper's "signal" (its App. 8, with the CelebA results) is the region DiET's own rounded masks
keep, the distractor the rest: :data:`SIGNALS` "diet_mask", the default when DiET is among the methods.
"ground_truth" (the dataset's masks) is kept as an option, and the only one without DiET."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..data.base import Batch, DatasetInfo
from ..errors import XAIError
from ..metrics import REGIONS, region_masking_accuracy
from ..models import predict
from ..progress import Progress, no_progress
from .context import Context

MASKING_FRACTIONS = (0.2, 0.5, 0.8)
DIET = "diet"


def _diet_mask(ctx: Context, batch: Batch) -> torch.Tensor:
    """DiET's rounded test mask (its explanation's ``selection``: round(m + offset) of the optimised
    low-resolution mask, upsampled nearest to H×W). DiET is label-free: the class named is the black
    box's top-1 and does not change the mask."""
    target = predict(ctx.black_box, batch.x).argmax(1)
    selection = ctx.explainer(DIET).explain(batch.x, target).selection
    if selection is None:  # pragma: no cover - DiET always defines one
        raise XAIError("DiET returned no rounded mask")
    return selection.bool()


def _ground_truth(ctx: Context, batch: Batch) -> torch.Tensor:
    if batch.masks is None:
        raise XAIError(f"{ctx.info.name} has no ground-truth masks")
    return batch.masks.bool()


#: signal name → (what it is, in the result's words; the B×H×W bool signal of a test batch)
SIGNALS: dict[str, tuple[str, Callable[[Context, Batch], torch.Tensor]]] = {
    "diet_mask": ("the pixels DiET's rounded test masks keep (the paper's Table 6)", _diet_mask),
    "ground_truth": ("the dataset's ground-truth masks", _ground_truth),
}


def masking_signal(methods: Sequence[str], signal: str | None = None) -> str:
    """The signal region masking uses: ``signal`` if given (checked), else "diet_mask" when DiET is among
    ``methods`` (the paper's), else "ground_truth". "diet_mask" needs DiET among the methods."""
    if signal is None:
        return "diet_mask" if DIET in methods else "ground_truth"
    if signal not in SIGNALS:
        raise XAIError(f"unknown signal {signal!r}; choose from: {', '.join(SIGNALS)}")
    if signal == "diet_mask" and DIET not in methods:
        raise XAIError("the signal diet_mask is DiET's own rounded masks: add diet to the methods")
    return signal


def check_region_masking(info: DatasetInfo, signal: str = "ground_truth") -> None:
    """Masking the ground truth needs it: refuse datasets without ground truth before any work (DiET's
    masks need none)."""
    if signal == "ground_truth" and not info.has_ground_truth:
        raise XAIError(f"signal vs distractor masking on the ground truth needs ground-truth masks, which "
                       f"{info.name} does not have (--signal diet_mask with --methods diet masks DiET's own)")


def region_masking(
    ctx: Context, methods: Sequence[str] = (), n: int = 200, fractions: tuple[float, ...] = MASKING_FRACTIONS,
    batch_size: int = 100, signal: str | None = None, progress: Progress = no_progress,
) -> dict[str, Any]:
    """DiET's Table 6 for the black box and for every model a chosen method explains instead (DiET's
    f_v): mean accuracy when masking a fraction of the distractor, the signal or random pixels, the
    signal as :func:`masking_signal` chooses. Returns {"fractions", "n", "fill", "signal", "signal_source",
    "signal_share" (mean share of the pixels in the signal), "empty_signal" / "full_signal" (images whose
    signal keeps no / every pixel: masking it, or the distractor, changes nothing there),
    "models": {model: {region: [accuracy per fraction]}}}. ``progress``: once per batch of images."""
    signal = masking_signal(methods, signal)
    check_region_masking(ctx.info, signal)
    source, signal_of = SIGNALS[signal]
    models = {"black box": ctx.black_box}
    for m in methods:
        explained = ctx.explainer(m).explained_model
        if explained is not ctx.black_box:
            models[f"{m} (tuned model)"] = explained
    n = min(n, len(ctx.test))
    parts: dict[str, list[dict[str, torch.Tensor]]] = {name: [] for name in models}
    shares = []
    for start in range(0, n, batch_size):
        batch = ctx.test.batch(list(range(start, min(n, start + batch_size)))).to(ctx.device)
        region = signal_of(ctx, batch)  # one signal per image, shared by every model
        shares.append(region.flatten(1).double().mean(1).cpu())
        for name, model in models.items():
            parts[name].append(region_masking_accuracy(model, batch.x, batch.y, region, fractions, ctx.fill(),
                                                       seed=ctx.seed + start))
        done = min(n, start + batch_size)
        progress(done, n, f"{done}/{n} images masked")
    out = {name: {r: torch.cat([p[r] for p in ps]).mean(0).tolist() for r in REGIONS} for name, ps in parts.items()}
    share = torch.cat(shares)
    return {"fractions": list(fractions), "n": n, "fill": "dataset mean colour", "signal": signal,
            "signal_source": source, "signal_share": float(share.mean()), "empty_signal": int((share == 0).sum()),
            "full_signal": int((share == 1).sum()), "models": out}
