"""Perturbation metrics: how the model's output changes when pixels are kept, removed or inserted
in the order the attribution ranks them (ties: :mod:`.ranking`).

- :func:`pixel_perturbation` (DiET, SPEC §1): keep the top-p fraction, fill the rest.
- :func:`deletion` / :func:`insertion` (InputIBA, SPEC §4; Petsiuk et al.'s RISE protocol):
  softmax probability of the target class as the most important pixels are removed / inserted
  into a blurred copy, several pixels per step, with a normalised AUC.

All perturbed images of a chunk are built on the model's device from one rank map per image
and pushed through the model ``batch_size`` images per forward (halved on CUDA out-of-memory).
Models run in eval mode under ``torch.inference_mode`` (their previous mode is restored).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ..progress import Progress, no_progress
from .ranking import fraction_to_count, pixel_ranks

DEFAULT_FRACTIONS: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
DEFAULT_STEPS = 51  # 0 %, 2 %, …, 100 % of the pixels
DEFAULT_BATCH_SIZE = 64
PAPER_BLUR_SIGMA_AT_224 = 15.0  # InputIBA appendix D.3: Gaussian blur, σ = 15 at 224 px

Fill = float | Sequence[float] | torch.Tensor


# -- results ------------------------------------------------------------------------------------
@dataclass
class PixelPerturbationResult:
    """Per image and per kept fraction (in the order asked)."""

    fractions: torch.Tensor  # T float, fraction of pixels kept as asked
    counts: torch.Tensor  # T long, pixels kept = ceil(fraction·H·W)
    accuracy: torch.Tensor  # B×T float (0/1): prediction on the perturbed image == label
    agreement: torch.Tensor  # B×T float (0/1): prediction == the model's prediction on the unmasked x
    predictions: torch.Tensor  # B×T long
    reference: torch.Tensor  # B long, the model's prediction on the unmasked x


@dataclass
class CurveResult:
    """A deletion or insertion curve per image."""

    fractions: torch.Tensor  # T float in [0, 1]: fraction of pixels removed / inserted (exact)
    counts: torch.Tensor  # T long: pixels removed / inserted at each step
    probabilities: torch.Tensor  # B×T: softmax probability of the target class
    auc: torch.Tensor  # B: normalised trapezoid AUC over ``fractions``


# -- helpers ------------------------------------------------------------------------------------
def normalised_auc(x: torch.Tensor | Sequence[float], y: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under ``y`` (…×T) over ``x`` (T), divided by the x range, so the AUC is the
    curve's mean height: a constant curve ``c`` has AUC ``c`` and curves over [0, 1] keep their
    plain area. ``x`` need not be sorted (it is sorted, with ``y``, first)."""
    y = torch.as_tensor(y)
    x = torch.as_tensor(x, dtype=torch.float64, device=y.device)
    if x.ndim != 1 or y.shape[-1] != x.shape[0]:
        raise InvalidInputError("normalised_auc: x must be T and y …×T")
    if x.shape[0] < 2:
        return y[..., 0].double() if x.shape[0] else torch.full(y.shape[:-1], math.nan, dtype=torch.float64)
    order = torch.argsort(x, stable=True)
    x, y = x[order], y[..., order].double()
    span = x[-1] - x[0]
    if span <= 0:
        return y.mean(-1)
    return torch.trapezoid(y, x, dim=-1) / span


def step_counts(steps: int, n_pixels: int) -> torch.Tensor:
    """Pixels changed at each of ``steps`` evaluations, from 0 to ``n_pixels`` inclusive, evenly
    spaced (rounded to whole pixels)."""
    if steps < 2:
        raise InvalidInputError(f"steps must be at least 2 (the 0 % and 100 % endpoints), got {steps}")
    return torch.round(torch.linspace(0, n_pixels, steps, dtype=torch.float64)).long()


def default_blur_sigma(height: int, width: int) -> float:
    """The InputIBA paper's σ = 15 px at 224 px, scaled to the image size."""
    return PAPER_BLUR_SIGMA_AT_224 * min(height, width) / 224.0


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of B×C×H×W with reflect padding, on ``x``'s device. The kernel
    defaults to ``2·ceil(3σ)+1`` pixels, capped to what reflect padding allows (2·min(H,W)−1)."""
    if sigma <= 0:
        return x.clone()
    h, w = x.shape[-2:]
    k = kernel_size if kernel_size is not None else 2 * math.ceil(3 * sigma) + 1
    k = min(k, 2 * min(h, w) - 1)
    k = k if k % 2 == 1 else k - 1
    if k < 3:
        return x.clone()
    r = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()
    c, p = x.shape[1], k // 2
    out = F.conv2d(F.pad(x, (p, p, 0, 0), mode="reflect"), g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(F.pad(out, (0, 0, p, p), mode="reflect"), g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    """Where the model's parameters live (``fallback`` for parameter-free models)."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return fallback


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and restore every submodule's previous mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def as_fill(fill: Fill, x: torch.Tensor) -> torch.Tensor:
    """A fill broadcastable to ``x`` (B×C×H×W), on ``x``'s device and dtype: a number, a per-channel
    colour (C), or a C×H×W / B×C×H×W image. Batch dimension kept at 1 when shared."""
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    b, c, h, w = x.shape
    if f.ndim == 0:
        return f.view(1, 1, 1, 1).expand(1, c, 1, 1)
    if f.ndim == 1:
        if f.shape[0] not in (1, c):
            raise InvalidInputError(f"fill has {f.shape[0]} channels, the images have {c}")
        return f.view(1, -1, 1, 1).expand(1, c, 1, 1)
    if f.ndim == 3:
        f = f.unsqueeze(0)
    if f.ndim != 4 or f.shape[0] not in (1, b) or f.shape[1] not in (1, c) or f.shape[2:] not in ((1, 1), (h, w)):
        raise InvalidInputError(f"fill of shape {tuple(f.shape)} does not match images {tuple(x.shape)}")
    return f


def _check_inputs(x: torch.Tensor, scores: torch.Tensor, *per_image: torch.Tensor) -> None:
    if x.ndim != 4:
        raise InvalidInputError(f"images must be B×C×H×W, got shape {tuple(x.shape)}")
    if scores.shape != (x.shape[0], *x.shape[2:]):
        raise InvalidInputError(f"scores {tuple(scores.shape)} do not match images {tuple(x.shape)}")
    for t in per_image:
        if t.shape != (x.shape[0],):
            raise InvalidInputError(f"expected {x.shape[0]} labels/targets, got shape {tuple(t.shape)}")


def _take(t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return t if t.shape[0] == 1 else t[b]


def fill_in_batches(
    out: torch.Tensor, batch_size: int, fn: Callable[[torch.Tensor], torch.Tensor], done: Callable[[int], None]
) -> None:
    """``out[p:q] = fn(arange(p, q))`` chunk by chunk (``batch_size`` rows per forward), halving
    the chunk on CUDA out-of-memory; ``done(q)`` after each chunk (progress)."""
    bs, p = max(1, int(batch_size)), 0
    while p < len(out):
        q = min(len(out), p + bs)
        try:
            out[p:q] = fn(torch.arange(p, q, device=out.device))
        except torch.OutOfMemoryError:
            if bs == 1:
                raise
            bs = max(1, bs // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        p = q
        done(p)


def _run_steps(
    model: nn.Module,
    top: torch.Tensor,
    rest: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: Progress,
    message: str,
) -> torch.Tensor:
    """Evaluate image (b, t) = ``top`` where rank_b < counts[t], else ``rest``, for every image b
    and step t; ``reduce(logits, b)`` turns each forward's logits into one value per image.
    Returns B×T. Pairs are taken image-major, ``batch_size`` per forward."""
    b_n, h, w = ranks.shape
    t_n = counts.shape[0]
    flat_ranks = ranks.reshape(b_n, -1)
    total = b_n * t_n
    out = torch.empty(total, dtype=torch.float32, device=ranks.device)

    def forward(idx: torch.Tensor) -> torch.Tensor:
        b, t = idx // t_n, idx % t_n
        sel = (flat_ranks[b] < counts[t].unsqueeze(1)).view(-1, 1, h, w)
        return reduce(model(torch.where(sel, _take(top, b), _take(rest, b))), b).float()

    with torch.inference_mode(), eval_mode(model):
        fill_in_batches(out, batch_size, forward, lambda done: progress(done, total, message))
    return out.view(b_n, t_n)


# -- metrics ------------------------------------------------------------------------------------
def pixel_perturbation(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    fill: Fill,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = no_progress,
) -> PixelPerturbationResult:
    """DiET's pixel-perturbation test: for each fraction p keep the top ``ceil(p·H·W)`` pixels of
    ``scores``, replace the others by ``fill`` (DiET: the dataset mean colour, σ = 0), and record
    whether the model's prediction equals the label (accuracy) and the model's own prediction on
    the unmasked image (agreement). Faithful maps keep both high down to small p."""
    _check_inputs(x, scores, labels)
    device = model_device(model, x.device)
    x, scores, labels = x.to(device), scores.to(device), labels.to(device)
    n = x.shape[2] * x.shape[3]
    fr = [float(f) for f in fractions]
    counts = torch.tensor([fraction_to_count(f, n) for f in fr], dtype=torch.long, device=device)
    with torch.inference_mode(), eval_mode(model):
        reference = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    argmax = lambda logits, b: logits.argmax(1)  # noqa: E731
    preds = _run_steps(
        model, x, as_fill(fill, x), pixel_ranks(scores), counts, argmax, batch_size, progress, "pixel perturbation"
    ).long()
    return PixelPerturbationResult(
        fractions=torch.tensor(fr, dtype=torch.float64),
        counts=counts.cpu(),
        accuracy=(preds == labels.view(-1, 1)).float(),
        agreement=(preds == reference.view(-1, 1)).float(),
        predictions=preds,
        reference=reference,
    )


def _target_probability(target: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def reduce(logits: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=1).gather(1, target[b].view(-1, 1)).squeeze(1)

    return reduce


def deletion(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    scores: torch.Tensor,
    steps: int = DEFAULT_STEPS,
    *,
    fill: Fill,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = no_progress,
) -> CurveResult:
    """Deletion curve: softmax probability of ``target`` as the most important pixels are replaced
    by ``fill`` (InputIBA: zero in normalised space = the dataset mean colour in pixel space),
    ``steps`` evaluations from 0 % to 100 % removed. Lower AUC = the map found what matters."""
    _check_inputs(x, scores, target)
    device = model_device(model, x.device)
    x, scores, target = x.to(device), scores.to(device), target.to(device).long()
    counts = step_counts(steps, x.shape[2] * x.shape[3]).to(device)
    probs = _run_steps(
        model, as_fill(fill, x), x, pixel_ranks(scores), counts, _target_probability(target), batch_size, progress,
        "deletion",
    )
    fractions = counts.double().cpu() / (x.shape[2] * x.shape[3])
    return CurveResult(fractions, counts.cpu(), probs, normalised_auc(fractions, probs))


def insertion(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    scores: torch.Tensor,
    steps: int = DEFAULT_STEPS,
    blur_sigma: float | None = None,
    *,
    blur_kernel: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = no_progress,
) -> CurveResult:
    """Insertion curve: start from a Gaussian-blurred copy of ``x`` (σ in pixels, default
    :func:`default_blur_sigma`) and put the original pixels back, most important first; softmax
    probability of ``target`` at ``steps`` evaluations from 0 % (blurred) to 100 % (the original).
    Higher AUC = the map found what matters."""
    _check_inputs(x, scores, target)
    device = model_device(model, x.device)
    x, scores, target = x.to(device), scores.to(device), target.to(device).long()
    h, w = x.shape[2:]
    sigma = default_blur_sigma(h, w) if blur_sigma is None else float(blur_sigma)
    start = gaussian_blur(x, sigma, blur_kernel)
    counts = step_counts(steps, h * w).to(device)
    probs = _run_steps(
        model, x, start, pixel_ranks(scores), counts, _target_probability(target), batch_size, progress, "insertion"
    )
    fractions = counts.double().cpu() / (h * w)
    return CurveResult(fractions, counts.cpu(), probs, normalised_auc(fractions, probs))


def faithfulness(
    model: nn.Module, black_box: nn.Module, x: torch.Tensor, selection: torch.Tensor | None, fill: Fill,
    simplified: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """DiET's faithfulness of the explained model ``f_v`` to ``f_b``, per image (B float, 1 = agree):
    ``original``: argmax f_v(x) == argmax f_b(x); ``simplified``: argmax f_v(x_s) == argmax f_b(x)
    with ``x_s`` the method's own ``simplified`` image if given (DiET's soft-edged x_s: hard-edged
    cut-outs are inputs its tuned model never saw), else the image kept on ``selection`` and filled
    elsewhere (NaN with neither)."""
    with torch.inference_mode(), eval_mode(model), eval_mode(black_box):
        fb = black_box(x).argmax(1)
        original = (model(x).argmax(1) == fb).double()
        if simplified is None and selection is None:
            return {"original": original, "simplified": torch.full_like(original, math.nan)}
        xs = (simplified.to(x.device) if simplified is not None
              else torch.where(selection.to(x.device)[:, None], x, as_fill(fill, x)))
        return {"original": original, "simplified": (model(xs).argmax(1) == fb).double()}


REGIONS = ("distractor", "signal", "random")


def region_masking_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    gt_masks: torch.Tensor,
    fractions: Sequence[float],
    fill: Fill,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """DiET's Table 6: accuracy (per image, B×len(fractions) float) when a random ``p`` fraction of
    the *distractor* pixels (outside the ground truth), of the *signal* pixels (inside it), or of
    *random* pixels (anywhere) is replaced by ``fill``. Pixels are drawn with a seeded generator, so
    every model is tested on the same masked images. A model that uses the signal keeps its accuracy
    under distractor masking and loses it under signal masking."""
    gt = gt_masks.to(x.device).bool()
    b, _, h, w = x.shape
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(b, h, w, generator=g).to(x.device)  # one random order per image, shared by p
    out = {}
    with torch.inference_mode(), eval_mode(model):
        for region in REGIONS:
            inside = {"distractor": ~gt, "signal": gt, "random": torch.ones_like(gt)}[region]
            keys = torch.where(inside, noise, torch.full_like(noise, 2.0)).flatten(1)  # outside never drawn
            order = keys.argsort(1).argsort(1).view(b, h, w)  # rank of each pixel within its region
            size = inside.flatten(1).sum(1).view(b, 1, 1)
            accs = []
            for p in fractions:
                drop = order < (size.double() * float(p)).ceil().long()
                images = torch.where(drop[:, None], as_fill(fill, x), x)
                accs.append((model(images).argmax(1) == labels.to(x.device)).double())
            out[region] = torch.stack(accs, 1)
    return out
