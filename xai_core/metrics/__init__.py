"""Batched, device-side evaluation metrics and the ``METRICS`` registry.

Pure functions over tensors live in one module per family (:mod:`.ranking`,
:mod:`.perturbation`, :mod:`.localisation`, :mod:`.sensitivity`, :mod:`.sanity`); :mod:`.base`
holds the uniform interface (:class:`EvalInputs`, :class:`Metric`, :func:`aggregate`). This
module registers the built-in metrics; every setting (fill, score type, steps, blur) is named in
``Metric.settings`` so it can be printed next to each result.
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
from .localisation import (
    EHR_BASE_THRESHOLD,
    EHR_QUANTILE_LEVELS,
    PXAP_THRESHOLDS,
    average_precision,
    ehr,
    ehr_normalise,
    iou,
    mass_in_signal,
    minmax_normalise,
    pxap,
)
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
from .sanity import (
    DEFAULT_SANITY_STEPS,
    SanityResult,
    cascade,
    cascade_counts,
    parametrised_layers,
    sanity_check,
    ssim_maps,
)
from .sensitivity import DEFAULT_MASKS_PER_N, DEFAULT_N_FRACTIONS, SensitivityResult, sensitivity_counts, sensitivity_n

TIES = "stable descending sort: equal scores rank by row-major pixel index, lower first; NaN last"
EMPTY_GT = "images with an empty ground truth are NaN and left out of the mean (n counts the rest)"


def _float_list(v: Any) -> list[float] | None:
    """A list of numbers from a sequence or a comma-separated string (CLI overrides)."""
    if v is None or v == "none":
        return None
    if isinstance(v, str):
        v = [p for p in v.split(",") if p.strip()]
    return [float(e) for e in v]


def _int_list(v: Any) -> list[int] | None:
    floats = _float_list(v)
    return None if floats is None else [int(round(e)) for e in floats]


def _bool(v: Any) -> bool:
    """A boolean setting; CLI-style strings "false", "no", "0", "off" are False."""
    if isinstance(v, str):
        return v.strip().lower() not in ("false", "no", "0", "off", "")
    return bool(v)


def _iou(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"iou": iou(inputs.scores, inputs.masks)}


def _mass_in_signal(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"mass_in_signal": mass_in_signal(inputs.scores, inputs.masks)}


def _faithfulness(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = faithfulness(inputs.model, inputs.black_box, inputs.x, inputs.selection, pick_fill(inputs, s["fill"]),
                     inputs.simplified)
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


def _ehr(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"ehr": ehr(inputs.scores, inputs.masks, int(s["quantile_levels"]), float(s["base_threshold"]),
                       str(s["normalisation"]))}


def _sensitivity_n(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = sensitivity_n(
        pick_model(inputs, s["model"]), inputs.x, inputs.target, inputs.scores, _float_list(s["fractions"]),
        counts=_int_list(s["counts"]), masks_per_n=int(s["masks_per_n"]), fill=pick_fill(inputs, s["fill"]),
        seed=int(s["seed"]), batch_size=int(s["batch_size"]), progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "correlation": r.correlation}


def _sanity(inputs: EvalInputs, s: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = sanity_check(
        inputs.model, inputs.scores, inputs.reexplain, int(s["steps"]), include_norm=_bool(s["include_norm"]),
        absolute=_bool(s["absolute"]), seed=int(s["seed"]), progress=inputs.progress,
    )
    return {X_KEY: r.fractions, "ssim": r.ssim}


def _example_counts(h: int, w: int) -> str:
    return ", ".join(map(str, sensitivity_counts(h * w)))


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
    "simplified": "argmax f_v(x_s) == argmax f_b(x), x_s = the method's own simplified image where it defines "
                  "one (DiET: its rounded mask upsampled as in training, the mean colour elsewhere), else the image "
                  "on the method's binary selection, the fill elsewhere (NaN for methods with neither)",
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
    description="DiET faithfulness on simplified data: f_v on the method's simplified image x_s agrees with f_b on the image",
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
register_metric(Metric(
    name="ehr", kind="scalar", needs_ground_truth=True, fn=_ehr, primary="ehr",
    description="InputIBA EHR: heat inside the ground truth per pixel above each quantile threshold, "
                "AUC over thresholds",
    settings={
        "quantile_levels": EHR_QUANTILE_LEVELS,  # q = 0, 1/(Q-1), …, 1
        "base_threshold": EHR_BASE_THRESHOLD,  # normalised heat below it is ignored (not counted, no quantile)
        "normalisation": "max",  # max: clip < 0, divide by the max; minmax; none (maps already in [0, 1])
        "threshold": "t_q = min(q-quantile of the heat >= base_threshold, 0.99 * max heat); keep heat >= t_q",
        "ratio": "sum of heat on ground-truth pixels above t_q / number of pixels above t_q (paper §4.5)",
        "auc": "trapezoid over q in [0, 1]",
        "no_heat": "a map with no heat above base_threshold scores 0",
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="sensitivity_n", kind="curve", needs_ground_truth=False, fn=_sensitivity_n, primary="correlation",
    x_label="n, pixels removed at random, as a fraction of the image's pixels",
    description="Sensitivity-n: Pearson r between the target-logit drop and the attribution inside n random pixels",
    settings={
        "fractions": DEFAULT_N_FRACTIONS,  # log-spaced, 1 % … 80 % of H·W
        "counts": None,  # absolute n values (pixels); replaces fractions when given
        "n": "round(fraction*H*W), at least 1, duplicates dropped; x = n/(H*W). "
             f"At 28x28: {_example_counts(28, 28)}; at 32x32: {_example_counts(32, 32)}; "
             f"at 224x224: {_example_counts(224, 224)}",
        "masks_per_n": DEFAULT_MASKS_PER_N,  # InputIBA: 200
        "sets": "random n-pixel sets drawn once per n from the seed, the same for every image and method",
        "seed": 0,
        "fill": "dataset_mean",
        "score": "Pearson r over the sets, per image, of the target-logit drop and the attribution summed over "
                 "the set (NaN where either is constant, e.g. a constant map)",
        "output_change": "drop of the target logit (not softmax): f(x)[t] - f(x with the set filled)[t]",
        "auc": "trapezoid over the fraction of pixels, divided by its range (mean height)",
        "model": "explained",
        "batch_size": DEFAULT_BATCH_SIZE,
    },
))
register_metric(Metric(
    name="sanity", kind="curve", needs_ground_truth=False, fn=_sanity, primary="ssim",
    x_label="fraction of parametrised layers randomised (output layer first)", higher_is_better=False,
    description="Sanity check (cascading randomisation): SSIM of the map with the original as layers are "
                "re-initialised from the top (lower = the map depends on the weights)",
    settings={
        "steps": DEFAULT_SANITY_STEPS,  # evaluations: 0 layers, then counts spread over 1 … L, ending at L
        "layers": "modules with parameters of their own (Conv, Linear, BatchNorm, …) in registration order "
                  "(named_modules); L = their count, x = k/L",
        "order": "cascading from the top: step k re-initialises the last k layers (output side) of a copy",
        "include_norm": True,  # normalisation layers count as layers (reset: weight 1, bias 0, running stats 0/1)
        "reinit": "reset_parameters() (PyTorch's initialisation) seeded by seed + layer index from the top; "
                  "modules without it: N(0, own std^2); global RNG untouched",
        "seed": 0,
        "randomised_model": "the explained model (the black box for post-hoc methods), deep-copied",
        "absolute": True,  # |s| before normalising (Adebayo et al.); False keeps the sign
        "normalisation": "each map min-max to [0, 1] on its own",
        "score": "SSIM with the original map: scikit-image structural_similarity, data_range=1, "
                 "7x7 uniform window (smaller odd window under 7 px); step 0 is the original itself (1)",
        "not_rerunnable": "NaN curves where the method cannot re-explain with another model (trained methods: "
                          "refitting per step is too slow; prepared explainers with custom settings)",
    },
))

__all__ = [
    "METRICS", "X_KEY", "EvalInputs", "Metric", "aggregate", "aggregate_curves", "aggregate_scalar",
    "evaluate_metric", "merge_batches", "pick_fill", "pick_model", "register_metric", "summary",
    "PXAP_THRESHOLDS", "REGIONS", "average_precision", "faithfulness", "region_masking_accuracy", "iou", "mass_in_signal", "minmax_normalise", "pxap",
    "DEFAULT_BATCH_SIZE", "DEFAULT_FRACTIONS", "DEFAULT_STEPS", "CurveResult", "PixelPerturbationResult",
    "default_blur_sigma", "deletion", "gaussian_blur", "insertion", "normalised_auc", "pixel_perturbation",
    "step_counts", "fraction_to_count", "pixel_ranks", "top_fraction_mask", "top_k_mask",
    "EHR_BASE_THRESHOLD", "EHR_QUANTILE_LEVELS", "ehr", "ehr_normalise",
    "DEFAULT_MASKS_PER_N", "DEFAULT_N_FRACTIONS", "SensitivityResult", "sensitivity_counts", "sensitivity_n",
    "DEFAULT_SANITY_STEPS", "SanityResult", "cascade", "cascade_counts", "parametrised_layers", "sanity_check",
    "ssim_maps",
]
