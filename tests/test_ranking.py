"""Ranking: exact top-p counts, tie-breaking by row-major index, NaN last."""
from __future__ import annotations

import math

import pytest
import torch

from xai_core.errors import InvalidInputError
from xai_core.ranking import pixel_ranks, top_fraction_mask, top_k_mask


def test_top_fraction_keeps_exact_count_with_ties_and_is_deterministic():
    flat = torch.zeros(2, 10, 10)  # every score tied
    for p in (0.0, 0.01, 0.05, 0.1, 0.123, 0.2, 0.5, 0.999, 1.0):
        m = top_fraction_mask(flat, p)
        assert m.dtype == torch.bool and m.shape == (2, 10, 10)
        assert m.flatten(1).sum(1).tolist() == [math.ceil(round(p * 100, 9))] * 2
        assert torch.equal(m, top_fraction_mask(flat.clone(), p))
    # ties go to the lowest row-major index
    m = top_fraction_mask(torch.zeros(1, 3, 4), 0.25)
    assert m.flatten().nonzero().flatten().tolist() == [0, 1, 2]
    # 0.05·100 is 5.000000000000001 in floating point: still 5 pixels
    assert int(top_fraction_mask(torch.rand(1, 10, 10), 0.05).sum()) == 5


def test_top_k_mask_quantised_scores_and_per_image_k():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 4, (5, 8, 8), generator=g).float()  # heavy ties
    k = torch.tensor([0, 1, 17, 63, 64])
    m = top_k_mask(s, k)
    assert m.flatten(1).sum(1).tolist() == k.tolist()
    for b in range(5):  # every kept pixel scores at least as high as every dropped one
        if 0 < k[b] < 64:
            assert s[b][m[b]].min() >= s[b][~m[b]].max()
    assert torch.equal(top_k_mask(s, 10), top_k_mask(s, torch.full((5,), 10)))


def test_ranks_nan_last_and_permutation():
    s = torch.tensor([[[0.5, float("nan")], [0.9, 0.5]]])
    r = pixel_ranks(s)
    assert r.flatten().tolist() == [1, 3, 0, 2]
    assert sorted(pixel_ranks(torch.rand(3, 5, 7)).flatten(1)[1].tolist()) == list(range(35))
    with pytest.raises(InvalidInputError):
        top_fraction_mask(torch.rand(1, 4, 4), 1.5)
