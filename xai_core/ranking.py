"""Deterministic pixel rankings, shared by every metric that keeps or removes "the top pixels" and
by :mod:`xai_core.units` (a map's top units). Pure tensor code below both, so neither imports the other
to reach it.

Tie-breaking (docs/methods/protocols.md): pixels are ranked by a *stable* descending sort of
the flattened (row-major) scores, so among equal scores the pixel with the smaller flat index
``i * W + j`` ranks first (counts as more important). NaN scores rank last (as ``-inf``).
"Top-p" keeps exactly ``ceil(p * H * W)`` pixels, whatever the ties (the reference code's
``>=`` vs ``>`` thresholds keep fewer or more pixels than asked when scores tie).
"""
from __future__ import annotations

import math

import torch

from .errors import InvalidInputError

#: the tie rule in words, printed with every metric that ranks pixels
TIES = "stable descending sort: equal scores rank by row-major pixel index, lower first; NaN last"


def _check_scores(scores: torch.Tensor) -> torch.Tensor:
    if scores.ndim != 3:
        raise InvalidInputError(f"scores must be B×H×W, got shape {tuple(scores.shape)}")
    return scores


def pixel_ranks(scores: torch.Tensor) -> torch.Tensor:
    """Rank of every pixel, B×H×W long: 0 = most important. Ties go to the lower flat index."""
    _check_scores(scores)
    b, h, w = scores.shape
    flat = scores.detach().reshape(b, h * w).float()
    flat = torch.where(torch.isnan(flat), torch.full_like(flat, -math.inf), flat)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(h * w, device=flat.device).expand(b, -1))
    return ranks.view(b, h, w)


def fraction_to_count(fraction: float, n: int) -> int:
    """``ceil(fraction * n)`` robust to float noise (0.05 * 100 is 5.000000000000001, not 6)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise InvalidInputError(f"fraction must be in [0, 1], got {fraction}")
    return min(n, math.ceil(round(float(fraction) * n, 9)))


def top_k_mask(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """B×H×W bool keeping exactly ``k`` top-ranked pixels per image (``k`` an int or a B tensor
    of per-image counts, clipped to [0, H·W]). Ties broken as in :func:`pixel_ranks`."""
    ranks = pixel_ranks(scores)
    n = ranks.shape[1] * ranks.shape[2]
    if isinstance(k, torch.Tensor) and k.ndim > 0:
        if k.shape != (scores.shape[0],):
            raise InvalidInputError(f"k must be an int or a tensor of {scores.shape[0]} counts")
        kk = k.to(ranks.device, torch.long).clamp(0, n).view(-1, 1, 1)
    else:
        kk = max(0, min(n, int(k)))
    return ranks < kk


def top_fraction_mask(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """B×H×W bool keeping exactly ``ceil(fraction·H·W)`` top-ranked pixels per image."""
    _check_scores(scores)
    return top_k_mask(scores, fraction_to_count(fraction, scores.shape[1] * scores.shape[2]))
