"""Localisation metrics: how well a map matches a ground-truth mask, per image.

Images whose ground truth is empty get NaN (no pixel to find); aggregation ignores NaNs and
reports how many images counted. Registered here: iou, pxap, mass_in_signal, ehr.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import InvalidInputError
from .base import EvalInputs, Metric, register_metric
from ..ranking import TIES, top_k_mask

PXAP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, …, 0.95
EHR_QUANTILE_LEVELS = 11  # q = 0, 0.1, …, 1 (the InputIBA authors' code)
EHR_BASE_THRESHOLD = 0.1  # normalised heat below this is ignored (the authors' code)
EHR_TOP_CAP = 0.99  # a threshold never exceeds 0.99 × the map's maximum (the authors' code)
EHR_NORMALISATIONS = ("max", "minmax", "none")
EMPTY_GT = "images with an empty ground truth are NaN and left out of the mean (n counts the rest)"


def _check(scores: torch.Tensor, gt_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if scores.ndim != 3 or gt_masks.shape != scores.shape:
        raise InvalidInputError(
            f"scores and ground-truth masks must both be B×H×W, got {tuple(scores.shape)} and {tuple(gt_masks.shape)}"
        )
    return scores.detach(), gt_masks.to(scores.device).bool()


def iou(scores: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """DiET's IoU (B float): the top-n pixels of the map, n = |GT| of that image (ties broken as in
    :mod:`xai_core.ranking`), against the GT pixels. 1 = the n highest scores are exactly the GT.
    Images with an empty GT give NaN. A random map scores about p/(2−p), p = n/(H·W)."""
    scores, gt = _check(scores, gt_masks)
    n = gt.flatten(1).sum(1)
    top = top_k_mask(scores, n)
    inter = (top & gt).flatten(1).sum(1).double()
    union = (top | gt).flatten(1).sum(1).double()
    return torch.where(n > 0, inter / union.clamp_min(1), torch.full_like(inter, math.nan))


def average_precision(scores: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """Per-image average precision of pixel scores against a binary mask (B float), exactly
    scikit-learn's ``average_precision_score``: ``Σ_k (R_k − R_{k−1})·P_k`` over every distinct
    score as threshold (``score ≥ τ``), descending; tied scores form one step. Empty GT → NaN."""
    scores, gt = _check(scores, gt_masks)
    b = scores.shape[0]
    s = scores.reshape(b, -1).double()
    g = gt.reshape(b, -1)
    s, order = torch.sort(s, dim=1, descending=True, stable=True)
    g = g.gather(1, order).double()
    n = s.shape[1]
    idx = torch.arange(n, device=s.device).expand(b, n)
    tp = g.cumsum(1)
    precision = tp / (idx + 1)
    is_end = torch.ones_like(g, dtype=torch.bool)
    is_end[:, :-1] = s[:, 1:] != s[:, :-1]  # last pixel of a group of equal scores
    is_start = torch.ones_like(is_end)
    is_start[:, 1:] = is_end[:, :-1]
    start = torch.cummax(torch.where(is_start, idx, torch.zeros_like(idx)), dim=1).values
    tp_before = torch.where(start > 0, tp.gather(1, (start - 1).clamp_min(0)), torch.zeros_like(tp))
    npos = g.sum(1)
    ap = torch.where(is_end, (tp - tp_before) * precision, torch.zeros_like(tp)).sum(1) / npos.clamp_min(1)
    return torch.where(npos > 0, ap, torch.full_like(ap, math.nan))


def minmax_normalise(scores: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own min and max (constant maps become 0)."""
    b = scores.shape[0]
    flat = scores.reshape(b, -1).double()
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    out = torch.where(span > 0, (flat - lo) / safe, torch.zeros_like(flat))
    return out.view_as(scores)


def pxap(
    scores: torch.Tensor,
    gt_masks: torch.Tensor,
    thresholds: Sequence[float] | torch.Tensor | None = PXAP_THRESHOLDS,
) -> torch.Tensor:
    """COMET's PxAP (pixel average precision, from Choe et al.'s WSOL evaluation), per image (B).

    Each map is min-max normalised; precision and recall of ``{s ≥ τ}`` against the GT are taken
    at every threshold τ (default 0, 0.05, …, 0.95) plus τ = −∞, so pixels scoring below the
    first threshold still count (the reference code drops them, and its curve never reaches
    recall 1); PxAP = ``Σ_k (R(τ_k) − R(τ_{k+1}))·P(τ_k)`` over thresholds in descending order.
    This equals scikit-learn's ``average_precision_score`` on the scores quantised to the
    threshold bins. ``thresholds=None`` uses every distinct score (the exact AP). Empty GT → NaN.
    """
    scores, gt = _check(scores, gt_masks)
    s = minmax_normalise(scores)
    if thresholds is None:
        return average_precision(s, gt)
    th = torch.as_tensor(thresholds, dtype=torch.float64, device=s.device).sort().values
    bins = torch.searchsorted(th, s.reshape(s.shape[0], -1).contiguous(), right=True)  # 0 = below τ_1
    return average_precision(bins.view_as(s).double(), gt)


def mass_in_signal(scores: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """Relevance mass accuracy (Arras et al., 2022), per image (B): the share of the map's
    positive mass inside the ground truth, ``Σ_GT max(s, 0) / Σ max(s, 0)``. 1 = all relevance on
    the signal, 0 = all on the distractors; a uniform map scores the GT's area fraction.
    Empty GT or an all-non-positive map → NaN."""
    scores, gt = _check(scores, gt_masks)
    pos = scores.double().clamp_min(0).flatten(1)
    total = pos.sum(1)
    inside = (pos * gt.flatten(1)).sum(1)
    ok = (total > 0) & gt.flatten(1).any(1)
    return torch.where(ok, inside / total.clamp_min(1e-300), torch.full_like(total, math.nan))


def ehr_normalise(scores: torch.Tensor, normalisation: str = "max") -> torch.Tensor:
    """Maps to [0, 1] for EHR: ``"max"`` clips negatives to 0 and divides by the map's maximum
    (a positive background stays visible, all-non-positive maps become 0); ``"minmax"`` is
    :func:`minmax_normalise`; ``"none"`` takes the scores as they are (already in [0, 1])."""
    if normalisation == "minmax":
        return minmax_normalise(scores)
    if normalisation == "none":
        return scores.double()
    if normalisation != "max":
        raise InvalidInputError(f"normalisation must be one of {EHR_NORMALISATIONS}, got {normalisation!r}")
    pos = scores.double().clamp_min(0).flatten(1)
    top = pos.amax(1, keepdim=True)
    out = torch.where(top > 0, pos / torch.where(top > 0, top, torch.ones_like(top)), torch.zeros_like(pos))
    return out.view_as(scores)


def ehr(
    scores: torch.Tensor,
    gt_masks: torch.Tensor,
    quantile_levels: int = EHR_QUANTILE_LEVELS,
    base_threshold: float = EHR_BASE_THRESHOLD,
    normalisation: str = "max",
) -> torch.Tensor:
    """InputIBA's Effective Heat Ratio (§4.5, Appendix F), per image (B): normalise the map
    (:func:`ehr_normalise`), ignore heat below ``base_threshold``; at each quantile level q in
    0 … 1 take the threshold ``t_q = min(quantile_q(heat ≥ base), 0.99·max)`` and the ratio
    ``Σ heat over GT pixels with heat ≥ t_q / #{pixels with heat ≥ t_q}`` (the paper's "sum of
    attribution within the bounding box divided by the total number of pixels above this
    threshold"); EHR = trapezoid area of the ratios over q ∈ [0, 1]. Heat outside the GT and
    weak heat inside it both lower the score; no heat at all scores 0. Empty GT → NaN.

    Appendix F (GT = a quarter of the image): (a) 1 inside / 0 outside scores 1 and (b) 1 inside /
    0.25 outside 0.4375 under every normalisation but ``"minmax"`` (which maps (b) onto (a)).
    (c) 0.25 inside / 0 outside scores 0.25 only with ``"none"``: any per-map rescaling turns it
    into (a), so it ties with (a) at 1 (the paper's lower (c) needs maps on an absolute scale)."""
    scores, gt = _check(scores, gt_masks)
    if int(quantile_levels) < 2:
        raise InvalidInputError(f"quantile_levels must be at least 2, got {quantile_levels}")
    b = scores.shape[0]
    s = ehr_normalise(scores, normalisation).reshape(b, -1)
    g = gt.reshape(b, -1)
    poi = s >= float(base_threshold)
    heat = torch.where(poi, s, torch.zeros_like(s))
    levels = torch.linspace(0.0, 1.0, int(quantile_levels), dtype=torch.float64, device=s.device)
    t = torch.nanquantile(torch.where(poi, s, torch.full_like(s, math.nan)), levels, dim=1).T  # B×Q
    t = torch.minimum(t, EHR_TOP_CAP * heat.amax(1, keepdim=True))
    ratios = torch.zeros_like(t)
    for k in range(t.shape[1]):  # one B×N pass per level (a B×Q×N tensor is large at 224 px)
        above = heat >= t[:, k : k + 1]  # NaN threshold (no heat at all) selects nothing: ratio 0
        count = above.sum(1)
        inside = torch.where(above & g, heat, torch.zeros_like(heat)).sum(1)
        ratios[:, k] = torch.where(count > 0, inside / count.clamp_min(1), torch.zeros_like(inside))
    area = torch.trapezoid(ratios, levels, dim=1)
    return torch.where(g.any(1), area, torch.full_like(area, math.nan))


# -- registration -------------------------------------------------------------------------------
def _iou(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"iou": iou(inputs.scores, inputs.masks)}


def _pxap(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"pxap": pxap(inputs.scores, inputs.masks, p["thresholds"])}


def _mass_in_signal(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"mass_in_signal": mass_in_signal(inputs.scores, inputs.masks)}


def _ehr(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"ehr": ehr(inputs.scores, inputs.masks, p["quantile_levels"], p["base_threshold"], p["normalisation"])}


register_metric(Metric(
    name="iou", kind="scalar", needs_ground_truth=True, fn=_iou, primary="iou",
    description="DiET IoU: top-n pixels of the map (n = |ground truth|) vs the ground truth",
    notes={
        "selection": "top-n pixels of the map, n = number of ground-truth pixels of each image",
        "ties": TIES,
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="pxap", kind="scalar", needs_ground_truth=True, fn=_pxap, primary="pxap",
    description="COMET PxAP: area under the pixel precision-recall curve vs the ground truth",
    parameters={"thresholds": PXAP_THRESHOLDS},  # None = every distinct score (exact AP)
    notes={
        "normalisation": "min-max per image, then s >= threshold",
        "below_first_threshold": "included (a final point at recall 1; the reference code drops it)",
        "pooling": "AP per image, mean over images",
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="mass_in_signal", kind="scalar", needs_ground_truth=True, fn=_mass_in_signal, primary="mass_in_signal",
    description="Signal vs distractor: share of the map's positive mass inside the ground truth (Arras et al.)",
    notes={
        "mass": "positive scores only, max(s, 0)",
        "chance": "a uniform map scores the ground truth's area fraction",
        "empty_ground_truth": EMPTY_GT + "; so are all-non-positive maps",
    },
))
register_metric(Metric(
    name="ehr", kind="scalar", needs_ground_truth=True, fn=_ehr, primary="ehr",
    description="InputIBA EHR: heat inside the ground truth per pixel above each quantile threshold, "
                "AUC over thresholds",
    parameters={
        "quantile_levels": EHR_QUANTILE_LEVELS,  # q = 0, 1/(Q-1), …, 1
        "base_threshold": EHR_BASE_THRESHOLD,  # normalised heat below it is ignored (not counted, no quantile)
        "normalisation": "max",  # max: clip < 0, divide by the max; minmax; none (maps already in [0, 1])
    },
    notes={
        "threshold": "t_q = min(q-quantile of the heat >= base_threshold, 0.99 * max heat); keep heat >= t_q",
        "ratio": "sum of heat on ground-truth pixels above t_q / number of pixels above t_q (paper §4.5)",
        "auc": "trapezoid over q in [0, 1]",
        "no_heat": "a map with no heat above base_threshold scores 0",
        "empty_ground_truth": EMPTY_GT,
    },
))
