"""Batched, device-side evaluation metrics and the ``METRICS`` registry.

Pure functions over tensors live in one module per family (:mod:`.ranking`,
:mod:`.perturbation`, :mod:`.localisation`); :mod:`.base` holds the uniform interface
(:class:`EvalInputs`, :class:`Metric`, :func:`aggregate`). This module registers the built-in
metrics; every setting (fill, score type, steps, blur) is named in ``Metric.settings`` so it
can be printed next to each result.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from .base import (
    METRICS,
    X_KEY,
    EvalInputs,
    Metric,
    aggregate,
    aggregate_curves,
    aggregate_scalar,
    evaluate_metric,
    merge_batches,
    pick_fill,
    pick_model,
    register_metric,
    summary,
)
from .localisation import PXAP_THRESHOLDS, average_precision, iou, mass_in_signal, minmax_normalise, pxap
from .perturbation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FRACTIONS,
    DEFAULT_STEPS,
    CurveResult,
    PixelPerturbationResult,
    default_blur_sigma,
    deletion,
    REGIONS,
    faithfulness,
    gaussian_blur,
    insertion,
    normalised_auc,
    pixel_perturbation,
    region_masking_accuracy,
    step_counts,
)
from .ranking import fraction_to_count, pixel_ranks, top_fraction_mask, top_k_mask

TIES = "stable descending sort: equal scores rank by row-major pixel index, lower first; NaN last"
EMPTY_GT = "images with an empty ground truth are NaN and left out of the mean (n counts the rest)"


def _float_list(v: Any) -> list[float] | None:
    """A list of numbers from a sequence or a comma-separated string (CLI overrides)."""
    if v is None or v == "none":
        return None
    if isinstance(v, str):
        v = [p for p in v.split(",") if p.strip()]
    return [float(e) for e in v]


def _iou(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"iou": iou(inputs.scores, inputs.masks)}


def _mass_in_signal(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"mass_in_signal": mass_in_signal(inputs.scores, inputs.masks)}


def _faithfulness(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = faithfulness(inputs.model, inputs.black_box, inputs.x, inputs.selection, pick_fill(inputs, s["fill"]))
    return {"faithfulness_original": r["original"], "faithfulness_simplified": r["simplified"]}


def _pxap(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"pxap": pxap(inputs.scores, inputs.masks, _float_list(s["thresholds"]))}


def _pixel_perturbation(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = pixel_perturbation(
        pick_model(inputs, s["model"]), inputs.x, inputs.labels, inputs.scores, _float_list(s["fractions"]),
        fill=pick_fill(inputs, s["fill"]), batch_size=int(s["batch_size"]), progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "accuracy": r.accuracy, "agreement": r.agreement}


def _deletion(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = deletion(
        pick_model(inputs, s["model"]), inputs.x, inputs.target, inputs.scores, int(s["steps"]),
        fill=pick_fill(inputs, s["fill"]), batch_size=int(s["batch_size"]), progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "probability": r.probabilities}


def _insertion(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    sigma = None if s["blur_sigma"] == "auto" else float(s["blur_sigma"])
    r = insertion(
        pick_model(inputs, s["model"]), inputs.x, inputs.target, inputs.scores, int(s["steps"]), sigma,
        blur_kernel=None if s["blur_kernel"] in (None, "none") else int(s["blur_kernel"]),
        batch_size=int(s["batch_size"]), progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "probability": r.probabilities}


register_metric(Metric(
    name="iou", kind="scalar", needs_ground_truth=True, fn=_iou, primary="iou",
    description="DiET IoU: top-n pixels of the map (n = |ground truth|) vs the ground truth",
    settings={
        "selection": "top-n pixels of the map, n = number of ground-truth pixels of each image",
        "ties": TIES,
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="pxap", kind="scalar", needs_ground_truth=True, fn=_pxap, primary="pxap",
    description="COMET PxAP: area under the pixel precision-recall curve vs the ground truth",
    settings={
        "thresholds": PXAP_THRESHOLDS,  # None = every distinct score (exact AP)
        "normalisation": "min-max per image, then s >= threshold",
        "below_first_threshold": "included (a final point at recall 1; the reference code drops it)",
        "pooling": "AP per image, mean over images",
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="mass_in_signal", kind="scalar", needs_ground_truth=True, fn=_mass_in_signal, primary="mass_in_signal",
    description="Signal vs distractor: share of the map's positive mass inside the ground truth (Arras et al.)",
    settings={
        "mass": "positive scores only, max(s, 0)",
        "chance": "a uniform map scores the ground truth's area fraction",
        "empty_ground_truth": EMPTY_GT + "; so are all-non-positive maps",
    },
))
PIXEL_PERTURBATION = register_metric(Metric(
    name="pixel_perturbation", kind="curve", needs_ground_truth=False, fn=_pixel_perturbation,
    primary="accuracy", x_label="fraction of pixels kept (top of the ranking)",
    description="DiET pixel perturbation: keep the top-p pixels, fill the rest, accuracy and agreement",
    settings={
        "fractions": DEFAULT_FRACTIONS,
        "fill": "dataset_mean",  # the dataset mean colour (DiET's Q with sigma = 0); or a number / C-list
        "score": "accuracy vs labels",
        "agreement": "agreement with model: prediction == the model's own prediction on the unmasked image",
        "model": "explained",  # the explanation's model (DiET: tuned f_v); "black_box" for f_b
        "selection": "keep exactly ceil(p*H*W) top pixels",
        "ties": TIES,
        "batch_size": DEFAULT_BATCH_SIZE,
    },
))
register_metric(dataclasses.replace(
    PIXEL_PERTURBATION, name="pixel_perturbation_black_box",
    description="DiET pixel perturbation scored on the black box f_b (for DiET's maps: the paper's Figure 3)",
    settings={**PIXEL_PERTURBATION.settings, "model": "black_box"},
))
FAITHFULNESS_SETTINGS = {
    "original": "argmax f_v(x) == argmax f_b(x)",
    "simplified": "argmax f_v(x_s) == argmax f_b(x), x_s = the image on the method's binary selection, "
                  "the fill elsewhere (NaN for methods without a selection)",
    "fill": "dataset_mean",
    "f_v": "the explanation's model (DiET: the tuned model; post-hoc methods: the black box itself)",
}
register_metric(Metric(
    name="faithfulness", kind="scalar", needs_ground_truth=False, fn=_faithfulness, primary="faithfulness_original",
    description="DiET faithfulness on original data: f_v's prediction agrees with f_b's",
    settings=FAITHFULNESS_SETTINGS,
))
register_metric(Metric(
    name="faithfulness_simplified", kind="scalar", needs_ground_truth=False, fn=_faithfulness,
    primary="faithfulness_simplified",
    description="DiET faithfulness on simplified data: f_v on the method's kept pixels agrees with f_b on the image",
    settings=FAITHFULNESS_SETTINGS,
))
register_metric(Metric(
    name="deletion", kind="curve", needs_ground_truth=False, fn=_deletion, primary="probability",
    x_label="fraction of pixels removed (most important first)", higher_is_better=False,
    description="Deletion: target softmax as the most important pixels are replaced by the fill (AUC, lower = better)",
    settings={
        "steps": DEFAULT_STEPS,  # evaluations including 0 % and 100 %
        "fill": "dataset_mean",  # = zero in normalised space (InputIBA)
        "score": "softmax probability of target",
        "order": "most important first",
        "auc": "trapezoid over the fraction of pixels in [0, 1]",
        "model": "explained",
        "ties": TIES,
        "batch_size": DEFAULT_BATCH_SIZE,
    },
))
register_metric(Metric(
    name="insertion", kind="curve", needs_ground_truth=False, fn=_insertion, primary="probability",
    x_label="fraction of pixels inserted (most important first)",
    description="Insertion: target softmax as the most important pixels are put back into a blurred image (AUC)",
    settings={
        "steps": DEFAULT_STEPS,
        "start": "Gaussian blur of the image",
        "blur_sigma": "auto",  # pixels; auto = 15 * min(H, W) / 224 (InputIBA: sigma 15 at 224 px)
        "blur_kernel": None,  # None = 2 * ceil(3 sigma) + 1, capped at 2 * min(H, W) - 1
        "score": "softmax probability of target",
        "order": "most important first",
        "auc": "trapezoid over the fraction of pixels in [0, 1]",
        "model": "explained",
        "ties": TIES,
        "batch_size": DEFAULT_BATCH_SIZE,
    },
))

__all__ = [
    "METRICS", "X_KEY", "EvalInputs", "Metric", "aggregate", "aggregate_curves", "aggregate_scalar",
    "evaluate_metric", "merge_batches", "pick_fill", "pick_model", "register_metric", "summary",
    "PXAP_THRESHOLDS", "REGIONS", "average_precision", "faithfulness", "region_masking_accuracy", "iou", "mass_in_signal", "minmax_normalise", "pxap",
    "DEFAULT_BATCH_SIZE", "DEFAULT_FRACTIONS", "DEFAULT_STEPS", "CurveResult", "PixelPerturbationResult",
    "default_blur_sigma", "deletion", "gaussian_blur", "insertion", "normalised_auc", "pixel_perturbation",
    "step_counts", "fraction_to_count", "pixel_ranks", "top_fraction_mask", "top_k_mask",
]
