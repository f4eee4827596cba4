"""Localisation metrics: how well a map matches a ground-truth mask, per image.

Images whose ground truth is empty get NaN (no pixel to find); aggregation ignores NaNs and
reports how many images counted.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InvalidInputError
from .ranking import top_k_mask

PXAP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, …, 0.95


def _check(scores: torch.Tensor, gt_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if scores.ndim != 3 or gt_masks.shape != scores.shape:
        raise InvalidInputError(
            f"scores and ground-truth masks must both be B×H×W, got {tuple(scores.shape)} and {tuple(gt_masks.shape)}"
        )
    return scores.detach(), gt_masks.to(scores.device).bool()


def iou(scores: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """DiET's IoU (B float): the top-n pixels of the map, n = |GT| of that image (ties broken as in
    :mod:`.ranking`), against the GT pixels. 1 = the n highest scores are exactly the GT.
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
