"""The COMET paper's evaluation metrics, for every method (pixel space, ties as in :mod:`xai_core.ranking`):

- :func:`fidelity_removal` (COMET Table 5): the explained model's accuracy as the top-p pixels of the
  map are replaced by the fill, p = 0, 5, 10, 20 %: the faster it drops, the more the removed pixels
  mattered (lower is better).
- :func:`iou_curve` (COMET Table 3, the an8Flower protocol): IoU of the min-max normalised map
  thresholded at t = 0, 0.05, …, 1 with the ground truth; its normalised AUC.
- :func:`robustness` (COMET Table 6): PxAP (:func:`.localisation.pxap`) of the map as given, of the
  same method's map of the image with 20 % of its pixels removed at random (:func:`remove_at_random`),
  and of its map of the same objects over another background (the dataset's ``test_background``
  split). A group metric: three scores per image, each a mean ± std over images.

Registered here: fidelity_removal, iou_curve, robustness.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError
from ..models.inference import model_device
from ..noise import ImageNoise
from ..progress import Progress, no_progress
from .base import X_KEY, EvalInputs, Metric, pick_fill, pick_model, register_metric
from .localisation import EMPTY_GT, PXAP_THRESHOLDS, minmax_normalise, pxap
from .perturbing import BATCH_SIZE_AUTO, Fill, as_fill, check_inputs, images_per_pass, run_steps
from ..ranking import TIES, fraction_to_count, pixel_ranks, top_k_mask

FIDELITY_FRACTIONS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)  # COMET Table 5
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))  # 0, 0.05, …, 1.0
NOISE_FRACTION = 0.2  # COMET Table 6: 20 % of the pixels removed at random
BACKGROUND_SPLIT = "test_background"  # the test objects over other backgrounds (parts, hard_mnist)


def fidelity_removal(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    fractions: Sequence[float] = FIDELITY_FRACTIONS,
    *,
    fill: Fill,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> torch.Tensor:
    """COMET's fidelity test, per image and fraction (B×T float, 0/1): remove the top
    ``ceil(p·H·W)`` pixels of ``scores`` (all channels, replaced by ``fill``) and record whether
    ``model``'s prediction still equals ``labels``. Fractions in the order asked; p = 0 is the
    unperturbed image. A faithful map makes the accuracy drop fast (lower is better)."""
    check_inputs(x, scores, labels)
    device = model_device(model, fallback=x.device)
    x, scores, labels = x.to(device), scores.to(device), labels.to(device).long()
    n = x.shape[2] * x.shape[3]
    counts = torch.tensor([fraction_to_count(f, n) for f in fractions], dtype=torch.long, device=device)
    argmax = lambda logits, b: logits.argmax(1)  # noqa: E731
    preds = run_steps(model, as_fill(fill, x), x, pixel_ranks(scores), counts, argmax,
                      images_per_pass(batch_size, x), progress, "fidelity removal").long()
    return (preds == labels.view(-1, 1)).float()


def iou_curve(
    scores: torch.Tensor, gt_masks: torch.Tensor, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> torch.Tensor:
    """COMET's IoU curve (the an8Flower protocol), per image and threshold (B×T float64): each map is
    min-max normalised (:func:`.localisation.minmax_normalise`), then the IoU of ``{s ≥ t}`` with the
    ground truth at every ``t`` in ``thresholds`` (in the order given). A map equal to the ground truth
    scores 1 at every t > 0 and |GT|/(H·W) at t = 0 (every pixel is ≥ 0). A constant map becomes all 0:
    IoU |GT|/(H·W) at t = 0 and 0 at every t > 0. Empty ground truth → NaN."""
    if scores.ndim != 3 or gt_masks.shape != scores.shape:
        raise InvalidInputError(
            f"scores and ground-truth masks must both be B×H×W, got {tuple(scores.shape)} and {tuple(gt_masks.shape)}"
        )
    th = torch.as_tensor(thresholds, dtype=torch.float64, device=scores.device).flatten()
    if th.numel() == 0:
        raise InvalidInputError("iou_curve needs at least one threshold")
    b = scores.shape[0]
    s = minmax_normalise(scores.detach()).reshape(b, -1)
    g = gt_masks.to(scores.device).bool().reshape(b, -1)
    out = torch.empty(b, th.numel(), dtype=torch.float64, device=s.device)
    for k in range(th.numel()):  # one B×N pass per threshold (a B×T×N tensor is large at 224 px)
        sel = s >= th[k]
        out[:, k] = (sel & g).sum(1).double() / (sel | g).sum(1).clamp_min(1).double()
    return torch.where(g.any(1, keepdim=True), out, torch.full_like(out, math.nan))


def remove_at_random(
    x: torch.Tensor, fraction: float = NOISE_FRACTION, *, fill: Fill, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (B×C×H×W) with exactly ``ceil(fraction·H·W)`` pixels per image (all channels) replaced by
    ``fill``, drawn uniformly at random from a stream seeded by the image's own pixels and ``seed``
    (:class:`xai_core.noise.ImageNoise`): an image loses the same pixels whichever batch it is in.
    Returns (the images, the removed pixels B×H×W bool)."""
    if x.ndim != 4:
        raise InvalidInputError(f"images must be B×C×H×W, got shape {tuple(x.shape)}")
    h, w = x.shape[2:]
    draws = ImageNoise(x, seed).rand(h, w)
    removed = top_k_mask(draws, fraction_to_count(fraction, h * w))
    return torch.where(removed[:, None], as_fill(fill, x), x), removed


def robustness(
    scores: torch.Tensor,
    gt_masks: torch.Tensor,
    x: torch.Tensor,
    explain_again: Callable[[torch.Tensor], torch.Tensor] | None,
    background: torch.Tensor | None = None,
    *,
    fill: Fill,
    fraction: float = NOISE_FRACTION,
    seed: int = 0,
    thresholds: Sequence[float] | torch.Tensor | None = PXAP_THRESHOLDS,
) -> dict[str, torch.Tensor]:
    """COMET's robustness test, per image (three B float64 tensors), PxAP against ``gt_masks``:
    ``pxap_clean`` of ``scores``; ``pxap_noisy`` of ``explain_again`` on ``x`` after
    :func:`remove_at_random`; ``pxap_background`` of ``explain_again`` on ``background`` (the same
    objects and ground truth over other backgrounds, B×C×H×W). NaN where there is nothing to score:
    no ``explain_again`` (both re-explained values), no ``background``, an empty ground truth."""
    clean = pxap(scores, gt_masks, thresholds)
    nan = torch.full_like(clean, math.nan)
    if explain_again is None:
        return {"pxap_clean": clean, "pxap_noisy": nan, "pxap_background": nan}
    noisy_x, _ = remove_at_random(x, fraction, fill=fill, seed=seed)
    noisy = pxap(explain_again(noisy_x), gt_masks, thresholds)
    moved = nan if background is None else pxap(explain_again(background.to(x.device)), gt_masks, thresholds)
    return {"pxap_clean": clean, "pxap_noisy": noisy, "pxap_background": moved}


# -- registration -------------------------------------------------------------------------------
def _fidelity_removal(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    labels = inputs.labels.to(inputs.target.device)
    truth = torch.where(labels >= 0, labels, inputs.target)  # unknown labels: the explained class
    accuracy = fidelity_removal(
        pick_model(inputs, p["model"]), inputs.x, truth, inputs.scores, p["fractions"],
        fill=pick_fill(inputs, p["fill"]), batch_size=p["batch_size"], progress=inputs.progress,
    )
    return {X_KEY: torch.tensor([float(f) for f in p["fractions"]], dtype=torch.float64), "accuracy": accuracy}


def _iou_curve(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {X_KEY: torch.tensor([float(t) for t in p["thresholds"]], dtype=torch.float64),
            "iou": iou_curve(inputs.scores, inputs.masks, p["thresholds"])}


def _robustness(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    rerun = inputs.explain_again
    background = (inputs.other_split(p["background_split"])  # loaded only here, only when it can be explained
                  if rerun is not None and inputs.other_split is not None else None)
    return robustness(inputs.scores, inputs.masks, inputs.x, rerun, background, fill=pick_fill(inputs, p["fill"]),
                      fraction=p["fraction"], seed=p["seed"], thresholds=p["thresholds"])


AUC_NOTE = "trapezoid over x, divided by the x range (the curve's mean height)"
register_metric(Metric(
    name="fidelity_removal", kind="curve", needs_ground_truth=False, fn=_fidelity_removal, primary="accuracy",
    x_label="fraction of pixels removed (most important first)", higher_is_better=False,
    description="COMET fidelity (Table 5): the explained model's accuracy as the map's top-p pixels are removed "
                "(lower = better)",
    parameters={
        "fractions": FIDELITY_FRACTIONS,
        "fill": "dataset_mean",  # or a number / C-list
        "model": "explained",  # COMET: selector + predictor; DiET: f_v; others: the black box; or "black_box"
        "batch_size": None,
    },
    notes={
        "score": "accuracy vs labels (the explained class where a label is unknown)",
        "removal": "the top ceil(p*H*W) pixels of the map, all channels, replaced by the fill; p = 0 is the image",
        "explained_model": "the model the explanation explains: COMET's selector + predictor pipeline, DiET's "
                           "tuned f_v, the black box for every other method",
        "ties": TIES,
        "auc": AUC_NOTE,
    },
    auto={"batch_size": BATCH_SIZE_AUTO},
))
register_metric(Metric(
    name="iou_curve", kind="curve", needs_ground_truth=True, fn=_iou_curve, primary="iou",
    x_label="threshold t on the min-max normalised map",
    description="COMET IoU curve (Table 3, the an8Flower protocol): IoU of the thresholded map with the ground "
                "truth over thresholds (AUC)",
    parameters={"thresholds": IOU_THRESHOLDS},
    notes={
        "score": "IoU of {s >= t} with the ground truth",
        "normalisation": "min-max per image, then s >= t",
        "first_threshold": "at t = 0 every pixel is selected: IoU = |GT|/(H*W) for every map",
        "constant_map": "min-max makes it all 0: IoU |GT|/(H*W) at t = 0, 0 at every t > 0",
        "auc": AUC_NOTE,
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="robustness", kind="group", needs_ground_truth=True, fn=_robustness, primary="pxap_noisy",
    description="COMET robustness (Table 6): PxAP of the map, of the map of the image with 20% of its pixels "
                "removed at random, and of the map of the same objects over another background",
    parameters={
        "fraction": NOISE_FRACTION,  # of the pixels removed at random for pxap_noisy
        "fill": "dataset_mean",
        "seed": 0,  # with each image's pixels, seeds the image's own random stream
        "thresholds": PXAP_THRESHOLDS,
        "background_split": BACKGROUND_SPLIT,
    },
    notes={
        "score": "PxAP as in the pxap metric (min-max per image, s >= threshold) against the test image's "
                 "ground-truth mask",
        "pxap_clean": "the map as given",
        "pxap_noisy": "the same method (settings, explained class) re-explaining the image after exactly "
                      "ceil(fraction*H*W) of its pixels (all channels) are replaced by the fill, drawn uniformly "
                      "at random from a stream seeded by the image's pixels and seed: the same image loses the "
                      "same pixels in any batch",
        "pxap_background": "the same method explaining the image at the same index of the background_split split "
                           "(test_background: the same objects and ground truth over another background); null "
                           "for every image when the dataset has no such split (parts and hard_mnist have one)",
        "headline": "pxap_noisy",
        "not_rerunnable": "pxap_noisy and pxap_background are null where the metric runs without a way to "
                          "re-explain (outside services.evaluate)",
        "aggregation": "per value: mean and sample std over images (value_std), images counted (value_n); n "
                       "counts pxap_noisy's",
        "empty_ground_truth": EMPTY_GT,
    },
))
