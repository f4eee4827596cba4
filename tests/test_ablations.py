"""Resolution ablation: block averaging of maps, and the sweep over a real black box."""
from __future__ import annotations

import pytest
import torch

from xai_core import ablations, services


def test_block_average_by_hand():
    s = torch.arange(16.0).view(1, 4, 4)
    assert torch.equal(ablations.block_average(s, 1), s)
    out = ablations.block_average(s, 2)
    expected = torch.tensor([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5],
                             [10.5, 10.5, 12.5, 12.5], [10.5, 10.5, 12.5, 12.5]])
    assert torch.equal(out[0], expected)
    assert out.sum() == s.sum()  # divisible sizes keep the total mass


def test_block_average_uneven_size_and_bad_factor():
    s = torch.ones(2, 5, 7)
    out = ablations.block_average(s, 4)
    assert out.shape == s.shape and torch.allclose(out, s)  # edge blocks average their valid pixels
    with pytest.raises(ValueError):
        ablations.block_average(s, 0)


def test_resolution_factors_and_example_maps():
    assert ablations.resolution_factors(64) == [1, 2, 4, 8, 16]
    assert ablations.resolution_factors(32) == [1, 2, 4, 8]
    maps = ablations.downscaled_maps(torch.rand(8, 8).numpy(), [1, 4])
    assert len(maps) == 2 and maps[1].shape == (8, 8) and len(set(maps[1][:4, :4].ravel().tolist())) == 1


def test_resolution_ablation_on_smoke_black_box():
    ctx = services.load_context("hard_mnist", "smoke")
    steps = []
    result = ablations.resolution_ablation(ctx, ["gradient", "random"], "iou", [1, 8], n=16,
                                           progress=lambda d, t, m="", **_: steps.append((d, t)))
    assert set(result["summary"]) == {"gradient", "random"} and result["factors"] == [1, 8]
    direct = services.evaluate(ctx, ["gradient"], ["iou"], 16)["results"]["gradient"]["iou"]
    assert result["summary"]["gradient"][1] == pytest.approx(direct)  # u = 1 is the plain evaluation
    assert result["summary"]["gradient"][8] != pytest.approx(direct)  # coarsening changes the ranking
    assert steps[-1][0] == steps[-1][1] and all(d <= t for d, t in steps)
