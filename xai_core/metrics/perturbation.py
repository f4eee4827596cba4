"""Perturbation metrics: how the model's output changes when pixels are kept, removed or inserted
in the order the attribution ranks them (ties: :mod:`xai_core.ranking`).

- :func:`pixel_perturbation` (DiET; docs/methods/protocols.md): keep the top-p fraction, fill the rest.
- :func:`deletion` / :func:`insertion` (InputIBA, docs/methods/protocols.md; Petsiuk et al.'s RISE protocol):
  softmax probability of the target class as the most important pixels are removed / inserted
  into a blurred copy, several pixels per step, with a normalised AUC.

All perturbed images of a chunk are built on the model's device from one rank map per image
and pushed through the model ``batch_size`` images per forward (default: sized for throughput by
:func:`xai_core.chunks.chunk_size`; halved on CUDA out-of-memory). Every image is computed on its
own, so the chunking changes no number beyond the model's own batch-dependent float rounding.
Models run in eval mode under ``torch.inference_mode`` (their previous mode is restored).
Registered here: pixel_perturbation (+ _black_box), faithfulness (+ _simplified), deletion, insertion.
(Over 300 lines on purpose: the four metrics share the rank-map forward, and each registration sits
beside its function.)
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError
from ..imaging import gaussian_blur
from ..models.inference import eval_mode, model_device
from ..progress import Progress, no_progress
from .base import X_KEY, EvalInputs, Metric, normalised_auc, pick_fill, pick_model, register_metric
from .perturbing import BATCH_SIZE_AUTO, Fill, as_fill, check_inputs, forward_chunked, images_per_pass, run_steps
from ..ranking import TIES, fraction_to_count, pixel_ranks

DEFAULT_FRACTIONS: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
DEFAULT_STEPS = 51  # 0 %, 2 %, …, 100 % of the pixels
PAPER_BLUR_SIGMA_AT_224 = 15.0  # InputIBA appendix D.3: Gaussian blur, σ = 15 at 224 px


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
def step_counts(steps: int, n_pixels: int) -> torch.Tensor:
    """Pixels changed at each of ``steps`` evaluations, from 0 to ``n_pixels`` inclusive, evenly
    spaced (rounded to whole pixels)."""
    if steps < 2:
        raise InvalidInputError(f"steps must be at least 2 (the 0 % and 100 % endpoints), got {steps}")
    return torch.round(torch.linspace(0, n_pixels, steps, dtype=torch.float64)).long()


def default_blur_sigma(height: int, width: int) -> float:
    """The InputIBA paper's σ = 15 px at 224 px, scaled to the image size."""
    return PAPER_BLUR_SIGMA_AT_224 * min(height, width) / 224.0


# -- metrics ------------------------------------------------------------------------------------
def pixel_perturbation(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    fill: Fill,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> PixelPerturbationResult:
    """DiET's pixel-perturbation test: for each fraction p keep the top ``ceil(p·H·W)`` pixels of
    ``scores``, replace the others by ``fill`` (DiET: the dataset mean colour, σ = 0), and record
    whether the model's prediction equals the label (accuracy) and the model's own prediction on
    the unmasked image (agreement). Faithful maps keep both high down to small p."""
    check_inputs(x, scores, labels)
    device = model_device(model, fallback=x.device)
    x, scores, labels = x.to(device), scores.to(device), labels.to(device)
    n = x.shape[2] * x.shape[3]
    fr = [float(f) for f in fractions]
    counts = torch.tensor([fraction_to_count(f, n) for f in fr], dtype=torch.long, device=device)
    size = images_per_pass(batch_size, x)
    with torch.inference_mode(), eval_mode(model):
        reference = forward_chunked(lambda b: model(x[b]).argmax(1), len(x), size, device).long()
    argmax = lambda logits, b: logits.argmax(1)  # noqa: E731
    preds = run_steps(
        model, x, as_fill(fill, x), pixel_ranks(scores), counts, argmax, size, progress, "pixel perturbation"
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
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> CurveResult:
    """Deletion curve: softmax probability of ``target`` as the most important pixels are replaced
    by ``fill`` (InputIBA: zero in normalised space = the dataset mean colour in pixel space),
    ``steps`` evaluations from 0 % to 100 % removed. Lower AUC = the map found what matters."""
    check_inputs(x, scores, target)
    device = model_device(model, fallback=x.device)
    x, scores, target = x.to(device), scores.to(device), target.to(device).long()
    counts = step_counts(steps, x.shape[2] * x.shape[3]).to(device)
    probs = run_steps(
        model, as_fill(fill, x), x, pixel_ranks(scores), counts, _target_probability(target),
        images_per_pass(batch_size, x), progress, "deletion",
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
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> CurveResult:
    """Insertion curve: start from a Gaussian-blurred copy of ``x`` (σ in pixels, default
    :func:`default_blur_sigma`) and put the original pixels back, most important first; softmax
    probability of ``target`` at ``steps`` evaluations from 0 % (blurred) to 100 % (the original).
    Higher AUC = the map found what matters."""
    check_inputs(x, scores, target)
    device = model_device(model, fallback=x.device)
    x, scores, target = x.to(device), scores.to(device), target.to(device).long()
    h, w = x.shape[2:]
    sigma = default_blur_sigma(h, w) if blur_sigma is None else float(blur_sigma)
    start = gaussian_blur(x, sigma, blur_kernel)
    counts = step_counts(steps, h * w).to(device)
    probs = run_steps(
        model, x, start, pixel_ranks(scores), counts, _target_probability(target), images_per_pass(batch_size, x),
        progress, "insertion",
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


# -- registration -------------------------------------------------------------------------------
def _pixel_perturbation(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = pixel_perturbation(
        pick_model(inputs, p["model"]), inputs.x, inputs.labels, inputs.scores, p["fractions"],
        fill=pick_fill(inputs, p["fill"]), batch_size=p["batch_size"], progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "accuracy": r.accuracy, "agreement": r.agreement}


def _faithfulness(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = faithfulness(inputs.model, inputs.black_box, inputs.x, inputs.selection, pick_fill(inputs, p["fill"]),
                     inputs.simplified)
    return {"faithfulness_original": r["original"], "faithfulness_simplified": r["simplified"]}


def _deletion(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = deletion(
        pick_model(inputs, p["model"]), inputs.x, inputs.target, inputs.scores, p["steps"],
        fill=pick_fill(inputs, p["fill"]), batch_size=p["batch_size"], progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "probability": r.probabilities}


def _insertion(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = insertion(
        pick_model(inputs, p["model"]), inputs.x, inputs.target, inputs.scores, p["steps"],
        None if p["blur_sigma"] == "auto" else p["blur_sigma"], blur_kernel=p["blur_kernel"],
        batch_size=p["batch_size"], progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "probability": r.probabilities}


AUTO = {"batch_size": BATCH_SIZE_AUTO}  # batch_size None: images per forward chosen for throughput
CURVE_NOTES = {
    "score": "softmax probability of target",
    "order": "most important first",
    "auc": "trapezoid over the fraction of pixels in [0, 1]",
    "ties": TIES,
}
PIXEL_PERTURBATION = register_metric(Metric(
    name="pixel_perturbation", kind="curve", needs_ground_truth=False, fn=_pixel_perturbation,
    primary="accuracy", x_label="fraction of pixels kept (top of the ranking)",
    description="DiET pixel perturbation: keep the top-p pixels, fill the rest, accuracy and agreement",
    parameters={
        "fractions": DEFAULT_FRACTIONS,
        "fill": "dataset_mean",  # the dataset mean colour (DiET's Q with sigma = 0); or a number / C-list
        "model": "explained",  # the explanation's model (DiET: tuned f_v); "black_box" for f_b
        "batch_size": None,
    },
    notes={
        "score": "accuracy vs labels",
        "agreement": "agreement with model: prediction == the model's own prediction on the unmasked image",
        "selection": "keep exactly ceil(p*H*W) top pixels",
        "ties": TIES,
    },
    auto=AUTO,
))
register_metric(dataclasses.replace(
    PIXEL_PERTURBATION, name="pixel_perturbation_black_box",
    description="DiET pixel perturbation scored on the black box f_b (for DiET's maps: the paper's Figure 3)",
    parameters={**PIXEL_PERTURBATION.parameters, "model": "black_box"},
))
FAITHFULNESS_NOTES = {
    "original": "argmax f_v(x) == argmax f_b(x)",
    "simplified": "argmax f_v(x_s) == argmax f_b(x), x_s = the method's own simplified image where it defines "
                  "one (DiET: its rounded mask upsampled as in training, the mean colour elsewhere), else the image "
                  "on the method's binary selection, the fill elsewhere (NaN for methods with neither)",
    "f_v": "the explanation's model (DiET: the tuned model; post-hoc methods: the black box itself)",
}
register_metric(Metric(
    name="faithfulness", kind="scalar", needs_ground_truth=False, fn=_faithfulness, primary="faithfulness_original",
    description="DiET faithfulness on original data: f_v's prediction agrees with f_b's",
    parameters={"fill": "dataset_mean"}, notes=FAITHFULNESS_NOTES,
))
register_metric(Metric(
    name="faithfulness_simplified", kind="scalar", needs_ground_truth=False, fn=_faithfulness,
    primary="faithfulness_simplified",
    description="DiET faithfulness on simplified data: f_v on the method's simplified image x_s agrees with f_b on the image",
    parameters={"fill": "dataset_mean"}, notes=FAITHFULNESS_NOTES,
))
register_metric(Metric(
    name="deletion", kind="curve", needs_ground_truth=False, fn=_deletion, primary="probability",
    x_label="fraction of pixels removed (most important first)", higher_is_better=False,
    description="Deletion: target softmax as the most important pixels are replaced by the fill (AUC, lower = better)",
    parameters={
        "steps": DEFAULT_STEPS,  # evaluations including 0 % and 100 %
        "fill": "dataset_mean",  # = zero in normalised space (InputIBA)
        "model": "explained",
        "batch_size": None,
    },
    notes=CURVE_NOTES, auto=AUTO,
))
register_metric(Metric(
    name="insertion", kind="curve", needs_ground_truth=False, fn=_insertion, primary="probability",
    x_label="fraction of pixels inserted (most important first)",
    description="Insertion: target softmax as the most important pixels are put back into a blurred image (AUC)",
    parameters={
        "steps": DEFAULT_STEPS,
        "blur_sigma": "auto",  # pixels; auto = 15 * min(H, W) / 224 (InputIBA: sigma 15 at 224 px)
        "blur_kernel": None,  # None = 2 * ceil(3 sigma) + 1, capped at 2 * min(H, W) - 1
        "model": "explained",
        "batch_size": None,
    },
    notes={"start": "Gaussian blur of the image", **CURVE_NOTES}, auto=AUTO,
))
