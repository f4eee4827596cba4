"""Batched, device-side evaluation metrics and the ``METRICS`` registry.

Pure functions over tensors live in one module per family (:mod:`.perturbation`, :mod:`.localisation`,
:mod:`.sensitivity`, :mod:`.sanity`, :mod:`.units`, :mod:`.removal`, :mod:`.fidelity`; pixel rankings,
shared with :mod:`xai_core.units`, in :mod:`xai_core.ranking`), each registering its metrics beside
them (import = register); :mod:`.base` holds the uniform interface (:class:`EvalInputs`,
:class:`Metric`, :func:`aggregate`), :mod:`.results` the typed results (:class:`EvaluationResult`, one
value type per metric kind). A metric's ``parameters`` can be overridden per call, its ``notes`` say
how it is defined; both are printed next to each result.
"""
from __future__ import annotations

from .base import (
    METRICS,
    X_KEY,
    ApproximatorPair,
    EvalInputs,
    FitsApproximators,
    FitsGenerators,
    Metric,
    Reconstruct,
    aggregate,
    aggregate_curves,
    aggregate_group,
    aggregate_scalar,
    aggregate_seeded,
    evaluate_metric,
    headline,
    merge_batches,
    normalised_auc,
    pick_fill,
    pick_model,
    register_metric,
    summary,
)
from .fidelity import (
    SEN_RADIUS,
    SEN_SAMPLES,
    explanation_size,
    feature_fidelity,
    max_sensitivity,
    selected_features,
    uniform_noise,
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
    DEFAULT_FRACTIONS,
    DEFAULT_STEPS,
    REGIONS,
    CurveResult,
    PixelPerturbationResult,
    default_blur_sigma,
    deletion,
    faithfulness,
    gaussian_blur,
    insertion,
    pixel_perturbation,
    region_masking_accuracy,
    step_counts,
)
from ..ranking import fraction_to_count, pixel_ranks, top_fraction_mask, top_k_mask
from .removal import (
    BACKGROUND_SPLIT,
    FIDELITY_FRACTIONS,
    IOU_THRESHOLDS,
    NOISE_FRACTION,
    fidelity_removal,
    iou_curve,
    remove_at_random,
    robustness,
)
from .sanity import (
    DEFAULT_SANITY_STEPS,
    SanityResult,
    cascade,
    cascade_counts,
    parametrised_layers,
    sanity_check,
    ssim_maps,
)
from .results import (
    CurveValue,
    EvaluationResult,
    GroupValue,
    MetricValue,
    ResultLike,
    ScalarValue,
    SeededScore,
    SeededValue,
    Series,
    Stat,
    aggregate_value,
    as_result,
    value_from_json,
)
from .sensitivity import DEFAULT_MASKS_PER_N, DEFAULT_N_FRACTIONS, SensitivityResult, sensitivity_counts, sensitivity_n
from .units import unit_size
from . import comet_variants  # noqa: F401,E402  (registers the COMET authors' variants)

#: the listing order (UI, CLI help): DiET's metrics, then InputIBA's, then DoRaR's, then COMET's, then MEED's (modules
#: register by family)
METRICS.reorder(("iou", "pxap", "mass_in_signal", "pixel_perturbation", "pixel_perturbation_black_box",
                 "faithfulness", "faithfulness_simplified", "deletion", "insertion", "ehr", "sensitivity_n",
                 "sanity", "a1a2", "hit_rate", "fidelity_removal", "iou_curve", "robustness",
                 "pxap_pooled", "iou_share_curve", "fidelity_removal_fp", "fs_fu", "sen"))

__all__ = [
    "METRICS", "X_KEY", "ApproximatorPair", "EvalInputs", "FitsApproximators", "FitsGenerators", "Metric",
    "Reconstruct", "aggregate", "aggregate_curves", "aggregate_group", "aggregate_scalar",
    "CurveValue", "EvaluationResult", "GroupValue", "MetricValue", "ResultLike", "ScalarValue", "SeededScore",
    "SeededValue", "Series", "Stat", "aggregate_value", "as_result", "value_from_json",
    "aggregate_seeded", "evaluate_metric", "headline", "merge_batches", "pick_fill", "pick_model", "register_metric",
    "summary",
    "PXAP_THRESHOLDS", "REGIONS", "average_precision", "faithfulness", "region_masking_accuracy", "iou",
    "mass_in_signal", "minmax_normalise", "pxap",
    "DEFAULT_FRACTIONS", "DEFAULT_STEPS", "CurveResult", "PixelPerturbationResult",
    "default_blur_sigma", "deletion", "gaussian_blur", "insertion", "normalised_auc", "pixel_perturbation",
    "step_counts", "fraction_to_count", "pixel_ranks", "top_fraction_mask", "top_k_mask",
    "EHR_BASE_THRESHOLD", "EHR_QUANTILE_LEVELS", "ehr", "ehr_normalise",
    "DEFAULT_MASKS_PER_N", "DEFAULT_N_FRACTIONS", "SensitivityResult", "sensitivity_counts", "sensitivity_n",
    "DEFAULT_SANITY_STEPS", "SanityResult", "cascade", "cascade_counts", "parametrised_layers", "sanity_check",
    "ssim_maps", "unit_size",
    "BACKGROUND_SPLIT", "FIDELITY_FRACTIONS", "IOU_THRESHOLDS", "NOISE_FRACTION", "fidelity_removal", "iou_curve",
    "remove_at_random", "robustness",
    "SEN_RADIUS", "SEN_SAMPLES", "explanation_size", "feature_fidelity", "max_sensitivity", "selected_features",
    "uniform_noise",
]
