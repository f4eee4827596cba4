"""Sensitivity-n (Ancona et al., 2018), as InputIBA §4.4.1 runs it: remove n random pixels, and
ask whether the attribution inside them predicts how much the target logit drops.

For each n, ``masks_per_n`` random sets of n pixels are drawn once from a seeded generator and
shared by every image (so every method is scored on the same sets, whatever the batching); the
Pearson correlation over the sets, per image, is one point of the curve. Registered here as
``sensitivity_n``.

Two options give the InputIBA authors' set-up (their ``tools/sensitivity_n.py``): ``counts="paper"``,
their log grid of n from 10^0 to 10^4.5 pixels (:data:`COUNT_GRIDS`), and ``min_probability=0.6``,
which scores only the images whose softmax probability of the target is at least 0.6 (their
``--scores-threshold``; the others get NaN and the result says how many passed).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError
from ..models.inference import eval_mode, model_device
from ..progress import Progress, no_progress
from .base import X_KEY, EvalInputs, Metric, pick_fill, pick_model, register_metric
from .perturbing import BATCH_SIZE_AUTO, Fill, as_fill, check_inputs, forward_chunked, images_per_pass, rows

#: 8 log-spaced fractions of the pixels, 1 % … 80 % (InputIBA: n from 10^0 to 10^4.5 of 224² px, COUNT_GRIDS)
DEFAULT_N_FRACTIONS: tuple[float, ...] = tuple(round(0.01 * 80.0 ** (i / 7), 4) for i in range(8))
DEFAULT_MASKS_PER_N = 100  # InputIBA: 200 in the paper's text, 100 in the authors' code

#: named n grids (pixels), ``counts=<name>``: (largest exponent, exponents) → n = ⌊10^e⌋ for that many
#: exponents e evenly spaced from 0 (the authors' ``np.logspace(0, 4.5, int(4.5 / 0.1), dtype=int)``:
#: 45 exponents, 42 distinct n at 224 px). ``paper_coarse`` spans the same range in half decades
#: (1, 3, 10, 31 … 31,622), a quarter of the forwards. Values ≥ H·W are dropped (every set would be
#: the whole image).
COUNT_GRIDS: dict[str, tuple[float, int]] = {"paper": (4.5, 45), "paper_coarse": (4.5, 10)}


@dataclass
class SensitivityResult:
    """A sensitivity-n curve per image."""

    fractions: torch.Tensor  # T float: n / (H·W)
    counts: torch.Tensor  # T long: n, pixels removed per set
    correlation: torch.Tensor  # B×T: Pearson r over the sets (NaN where undefined or filtered out)
    passed: torch.Tensor | None = None  # B bool: target probability ≥ min_probability (None: no filter)


def log_counts(max_exponent: float, exponents: int) -> list[int]:
    """⌊10^e⌋ for ``exponents`` values of e evenly spaced over [0, ``max_exponent``], duplicates dropped
    (the InputIBA authors' grid construction)."""
    values = np.logspace(0.0, max_exponent, exponents, base=10.0)
    return sorted({int(math.floor(v + 1e-9)) for v in values.tolist()})  # 1e-9: 10^3 computed as 999.99…


def sensitivity_counts(n_pixels: int, fractions: Sequence[float] = DEFAULT_N_FRACTIONS,
                       counts: Sequence[int] | str | None = None) -> list[int]:
    """The n values: a named grid of :data:`COUNT_GRIDS` (values ≥ H·W dropped), ``counts`` as given,
    else ``round(f·H·W)`` for each fraction (at least 1); clipped to [1, H·W], sorted, duplicates dropped."""
    if isinstance(counts, str):
        if counts not in COUNT_GRIDS:
            raise InvalidInputError(f"unknown n grid {counts!r}; choose from: {', '.join(COUNT_GRIDS)}, "
                                    "or give the counts")
        raw = [c for c in log_counts(*COUNT_GRIDS[counts]) if c < n_pixels]
    else:
        raw = [int(c) for c in counts] if counts is not None else [round(float(f) * n_pixels) for f in fractions]
    out = sorted({min(n_pixels, max(1, c)) for c in raw})
    if not out:
        raise InvalidInputError("sensitivity-n needs at least one n")
    return out


def random_pixel_sets(n_pixels: int, n: int, sets: int, generator: torch.Generator) -> torch.Tensor:
    """``sets``×``n_pixels`` bool, each row exactly ``n`` pixels drawn uniformly without replacement."""
    idx = torch.rand(sets, n_pixels, generator=generator).argsort(1)[:, :n]
    return torch.zeros(sets, n_pixels, dtype=torch.bool).scatter_(1, idx, True)


def pearson(a: torch.Tensor, b: torch.Tensor, scale_b: torch.Tensor | None = None,
            rel_tol: float = 1e-6) -> torch.Tensor:
    """Row-wise Pearson correlation of B×M tensors (float64). NaN where a row is constant: its
    standard deviation is below ``rel_tol`` times its largest magnitude (for ``b``, times
    ``scale_b`` (B) where given, e.g. the unperturbed logit, so float32 noise counts as constant)."""
    a, b = a.double(), b.double()
    da, db = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    sa, sb = da.norm(dim=1), db.norm(dim=1)
    m = math.sqrt(a.shape[1])
    ref_b = b.abs().amax(1) if scale_b is None else torch.maximum(b.abs().amax(1), scale_b.double().abs())
    ok = (sa > rel_tol * m * a.abs().amax(1)) & (sb > rel_tol * m * ref_b) & (sa > 0) & (sb > 0)
    r = (da * db).sum(1) / (sa * sb).clamp_min(1e-300)
    return torch.where(ok, r.clamp(-1.0, 1.0), torch.full_like(r, math.nan))


def sensitivity_n(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    scores: torch.Tensor,
    fractions: Sequence[float] = DEFAULT_N_FRACTIONS,
    *,
    counts: Sequence[int] | str | None = None,
    masks_per_n: int = DEFAULT_MASKS_PER_N,
    fill: Fill,
    seed: int = 0,
    min_probability: float | None = None,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> SensitivityResult:
    """Sensitivity-n per image: for each n (:func:`sensitivity_counts`), replace each of
    ``masks_per_n`` random n-pixel sets by ``fill``, and correlate (Pearson, over the sets) the
    drop of the target *logit*, ``f(x)[t] − f(x_S)[t]``, with the attribution summed over the set.
    An exactly additive attribution of the model with this fill scores 1 at every n. With
    ``min_probability``, images whose softmax probability of the target is below it are not
    perturbed: their row is NaN and ``passed`` says which images counted."""
    check_inputs(x, scores, target)
    if masks_per_n < 2:
        raise InvalidInputError(f"masks_per_n must be at least 2 (a correlation), got {masks_per_n}")
    if min_probability is not None and not 0.0 <= float(min_probability) <= 1.0:
        raise InvalidInputError(f"min_probability must be in [0, 1], got {min_probability}")
    device = model_device(model, fallback=x.device)
    x, target = x.to(device), target.to(device).long()
    b_all, _, h, w = x.shape
    hw = h * w
    ns = sensitivity_counts(hw, fractions, counts)
    q = as_fill(fill, x)
    g = torch.Generator().manual_seed(int(seed))
    out = torch.full((b_all, len(ns)), math.nan, dtype=torch.float64)
    size = images_per_pass(batch_size, x)
    with torch.inference_mode(), eval_mode(model):
        def clean(b: torch.Tensor) -> torch.Tensor:  # B×2: the target's logit and softmax probability
            logits = model(x[b]).float()
            return torch.stack([logits.gather(1, target[b, None]).squeeze(1),
                                logits.softmax(1).gather(1, target[b, None]).squeeze(1)], 1)

        first = forward_chunked(clean, b_all, size, device)
        passed = None if min_probability is None else (first[:, 1] >= float(min_probability))
        keep = torch.arange(b_all, device=device) if passed is None else passed.nonzero().flatten()
        xk, tk, base = x[keep], target[keep], first[keep, 0]
        qk = q if q.shape[0] == 1 else q[keep]
        b_n = len(keep)
        flat_scores = scores.detach().to(device)[keep].reshape(b_n, hw).double()
        total, done = len(ns) * b_n * masks_per_n, 0
        for t, n in enumerate(ns):
            sets = random_pixel_sets(hw, n, masks_per_n, g).to(device)  # same sets for every image
            if b_n == 0:
                continue
            attributed = flat_scores @ sets.double().T  # B×M

            def forward(idx: torch.Tensor) -> torch.Tensor:
                b, m = idx // masks_per_n, idx % masks_per_n
                images = torch.where(sets[m].view(-1, 1, h, w), rows(qk, b), xk[b])
                return model(images).float().gather(1, tk[b, None]).squeeze(1)

            logits = forward_chunked(forward, b_n * masks_per_n, size, device,
                                     lambda e: progress(done + e, total, "sensitivity-n"))
            done += b_n * masks_per_n
            drop = base[:, None] - logits.view(b_n, masks_per_n)
            out[keep.cpu(), t] = pearson(attributed, drop, scale_b=base).cpu()
    cnt = torch.tensor(ns, dtype=torch.long)
    return SensitivityResult(cnt.double() / hw, cnt, out, None if passed is None else passed.cpu())


# -- registration -------------------------------------------------------------------------------
def _sensitivity_n(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = sensitivity_n(
        pick_model(inputs, p["model"]), inputs.x, inputs.target, inputs.scores, p["fractions"],
        counts=p["counts"], masks_per_n=p["masks_per_n"], fill=pick_fill(inputs, p["fill"]),
        seed=p["seed"], min_probability=p["min_probability"], batch_size=p["batch_size"], progress=inputs.progress,
    )
    out = {X_KEY: r.fractions, "correlation": r.correlation}
    if r.passed is not None:  # 1 where the image counted, the same at every n: the JSON's "passed" is the share
        out["passed"] = r.passed.double()[:, None].expand(-1, len(r.counts)).clone()
    return out


def _example_counts(h: int, w: int) -> str:
    return ", ".join(map(str, sensitivity_counts(h * w)))


register_metric(Metric(
    name="sensitivity_n", kind="curve", needs_ground_truth=False, fn=_sensitivity_n, primary="correlation",
    x_label="n, pixels removed at random, as a fraction of the image's pixels",
    description="Sensitivity-n: Pearson r between the target-logit drop and the attribution inside n random pixels",
    parameters={
        "fractions": DEFAULT_N_FRACTIONS,  # log-spaced, 1 % … 80 % of H·W
        "counts": None,  # absolute n values (pixels), or a named grid ("paper"); replaces fractions when given
        "masks_per_n": DEFAULT_MASKS_PER_N,  # InputIBA: 200 (paper), 100 (authors' code)
        "seed": 0,
        "min_probability": None,  # score only images whose target probability is at least this (InputIBA: 0.6)
        "fill": "dataset_mean",
        "model": "explained",
        "batch_size": None,
    },
    notes={
        "n": "round(fraction*H*W), at least 1, duplicates dropped; x = n/(H*W). "
             f"At 28x28: {_example_counts(28, 28)}; at 32x32: {_example_counts(32, 32)}; "
             f"at 224x224: {_example_counts(224, 224)}",
        "n_grids": "counts='paper': the InputIBA authors' n = floor(10^e) for 45 e evenly from 0 to 4.5, values "
                   "below H*W (at 224x224: 42 n, 1 ... 31622); 'paper_coarse': 10 e, half decades (1, 3, 10, 31 "
                   "... 31622)",
        "filter": "with min_probability, images whose softmax probability of the target is below it are not "
                  "scored (NaN; the InputIBA authors keep >= 0.6); the series 'passed' is the share of images "
                  "that counted, and 'n' the images in the AUC",
        "sets": "random n-pixel sets drawn once per n from the seed, the same for every image and method",
        "score": "Pearson r over the sets, per image, of the target-logit drop and the attribution summed over "
                 "the set (NaN where either is constant, e.g. a constant map)",
        "output_change": "drop of the target logit (not softmax): f(x)[t] - f(x with the set filled)[t]",
        "auc": "trapezoid over the fraction of pixels, divided by its range (mean height)",
    },
    auto={"batch_size": BATCH_SIZE_AUTO},
))
