"""Map resolution: block averaging of maps, the factors offered, example maps."""
from __future__ import annotations

import pytest
import torch

from xai_core import resolution


def test_block_average_by_hand():
    s = torch.arange(16.0).view(1, 4, 4)
    assert torch.equal(resolution.block_average(s, 1), s)
    out = resolution.block_average(s, 2)
    expected = torch.tensor([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5],
                             [10.5, 10.5, 12.5, 12.5], [10.5, 10.5, 12.5, 12.5]])
    assert torch.equal(out[0], expected)
    assert out.sum() == s.sum()  # divisible sizes keep the total mass


def test_block_average_uneven_size_and_bad_factor():
    s = torch.ones(2, 5, 7)
    out = resolution.block_average(s, 4)
    assert out.shape == s.shape and torch.allclose(out, s)  # edge blocks average their valid pixels
    with pytest.raises(ValueError):
        resolution.block_average(s, 0)


def test_resolution_factors_and_example_maps():
    assert resolution.resolution_factors(64) == [1, 2, 4, 8, 16]
    assert resolution.resolution_factors(32) == [1, 2, 4, 8]
    maps = resolution.downscaled_maps(torch.rand(8, 8).numpy(), [1, 4])
    assert len(maps) == 2 and maps[1].shape == (8, 8) and len(set(maps[1][:4, :4].ravel().tolist())) == 1
