"""Explanation units: pooling, the top n_e with deterministic ties, back to pixels, the checks."""
from __future__ import annotations

import pytest
import torch

from xai_core import units
from xai_core.errors import InvalidInputError


def test_default_size_aims_at_a_seven_by_seven_grid():
    assert [units.default_size(s) for s in (28, 32, 64, 224, 12)] == [4, 4, 8, 32, 2]


def test_pool_top_and_back_to_pixels():
    scores = torch.zeros(1, 8, 8)
    scores[0, 4:8, 0:4] = 1.0  # unit (1, 0) of a 2×2 grid of 4-px units
    scores[0, 0, 7] = 3.0  # one bright pixel: unit (0, 1) has mean 3/16
    pooled = units.pool(scores, 4)
    assert torch.allclose(pooled, torch.tensor([[[0.0, 3 / 16], [1.0, 0.0]]]))
    top = units.top_units(pooled, 2)
    assert top.tolist() == [[[False, True], [True, False]]]
    pixels = units.selection(scores, 4, 1)
    assert pixels.shape == (1, 8, 8) and pixels[0, 4:, :4].all() and pixels.sum() == 16


def test_ties_go_to_the_lower_row_major_unit():
    chosen = units.top_units(torch.ones(1, 3, 3), 4)
    assert chosen.flatten().tolist() == [True] * 4 + [False] * 5


def test_index_map_numbers_units_row_major():
    idx = units.index_map(4, 2)
    assert idx.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


@pytest.mark.parametrize("size, n_e, message", [(5, 4, "does not divide"), (4, 50, "n_e must be 1–49"),
                                                (4, 0, "n_e must be 1–49")])
def test_bad_units_are_one_line(size, n_e, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        units.check_units(28, size, n_e)
    assert "\n" not in str(err.value)
