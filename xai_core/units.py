"""Explanation units (DoRaR, docs/methods/protocols.md): an image cut into s_e×s_e chunks (s_e = 1: single pixels),
of which an explanation keeps the top n_e.

Every method's map becomes units the same way: the mean score over each chunk (:func:`pool`),
the top n_e chunks by a stable sort (:func:`top_units`; ties to the lower row-major unit index,
as :mod:`xai_core.ranking` breaks pixel ties), upsampled back to pixels nearest-neighbour
(:func:`to_pixels`). DoRaR, the ``a1a2`` and ``hit_rate`` metrics and LIME's feature mask share it.

MEED's features (docs/methods/meed.md) are units too: single pixels up to 32 px, 4×4 blocks above
(:func:`feature_unit`, max-pooled as the paper pools every method's map on ImageNet), and an
explanation is the top k of them (:func:`default_k`: the paper's k where it has one, else 10 %).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import InvalidInputError
from .ranking import top_k_mask

UNIT_GRID = 7  # the paper's MNIST grid (4×4 chunks of 28 px): the default unit size aims at it
#: the MEED paper's explanation sizes k (its Tables 3 and 4); other datasets keep 10 % of their units
PAPER_K = {"mnist38": 25, "fashion_pullover_shirt": 64}
TOP_K_SHARE = 0.1


def default_size(image_size: int) -> int:
    """The divisor of ``image_size`` closest to image_size / 7 (4 px at 28, 8 at 64, 32 at 224)."""
    divisors = [d for d in range(1, image_size + 1) if image_size % d == 0]
    return min(divisors, key=lambda d: (abs(d - image_size / UNIT_GRID), d))


def grid(image_size: int, size: int) -> int:
    """Units per side: ``image_size / size``."""
    return image_size // size


def check_units(image_size: int, size: int, n_e: int) -> None:
    """One line when ``size`` does not divide the image or ``n_e`` is not in [1, units]."""
    if int(size) < 1 or image_size % int(size):
        raise InvalidInputError(f"unit size {size} does not divide the {image_size}×{image_size} image "
                                f"(choose a divisor of {image_size})")
    total = grid(image_size, size) ** 2
    if not 1 <= int(n_e) <= total:
        raise InvalidInputError(f"n_e = {n_e} units asked, but a {image_size}-px image has {total} units of "
                                f"{size}×{size} px (n_e must be 1–{total})")


def pool(scores: torch.Tensor, size: int, how: str = "mean") -> torch.Tensor:
    """B×H×W pixel scores → B×h×w unit scores (the mean, or with ``how="max"`` the maximum, over
    each size×size chunk)."""
    if size == 1:
        return scores
    return (F.max_pool2d if how == "max" else F.avg_pool2d)(scores[:, None].float(), size)[:, 0]


def feature_unit(image_size: int) -> int:
    """MEED's feature unit side: 1 (pixels) up to 32 px, else 4 (its ImageNet setting) where 4
    divides the image, else 1."""
    return 1 if image_size <= 32 or image_size % 4 else 4


def default_k(dataset: str, image_size: int) -> int:
    """The explanation size k in :func:`feature_unit` units: the MEED paper's (25 on ``mnist38``, 64
    on ``fashion_pullover_shirt``), else 10 % of the units (at least 1)."""
    if dataset in PAPER_K:
        return PAPER_K[dataset]
    return max(1, round(TOP_K_SHARE * grid(image_size, feature_unit(image_size)) ** 2))


def check_k(image_size: int, size: int, k: int) -> None:
    """One line unless ``1 ≤ k ≤`` the image's units."""
    total = grid(image_size, size) ** 2
    if not 1 <= int(k) <= total:
        raise InvalidInputError(f"k = {k} features asked, but a {image_size}-px image has {total} units of "
                                f"{size}×{size} px (k must be 1–{total})")


def top_units(unit_scores: torch.Tensor, n_e: int) -> torch.Tensor:
    """B×h×w bool: exactly the ``n_e`` top-scoring units per image (stable ties, NaN last)."""
    return top_k_mask(unit_scores, n_e)


def to_pixels(units: torch.Tensor, size: int) -> torch.Tensor:
    """B×h×w unit values → B×H×W (each unit's value on its size×size pixels)."""
    return units if size == 1 else units.repeat_interleave(size, -2).repeat_interleave(size, -1)


def selection(scores: torch.Tensor, size: int, n_e: int) -> torch.Tensor:
    """B×H×W bool: the pixels of a map's top ``n_e`` units."""
    return to_pixels(top_units(pool(scores, size), n_e), size)


def index_map(image_size: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W long: each pixel's unit index (row-major), e.g. Captum's ``feature_mask``."""
    g = grid(image_size, size)
    return to_pixels(torch.arange(g * g, device=device).view(1, g, g), size)[0]
