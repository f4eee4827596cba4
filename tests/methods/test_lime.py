"""LIME: Captum's Lime on explanation units, mean-colour fill, one seeded stream per image."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core import units
from xai_core.data.base import DatasetInfo
from xai_core.errors import InvalidInputError
from xai_core.methods.base import create


class UnitSum(nn.Module):
    """Every class's logit is the sum of one unit's pixels (the 2×2-px unit at row 1, column 3 of 6×6)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 2:4, 6:8].sum((1, 2, 3))[:, None].repeat(1, 4)


def lime(net, info, **kw):
    return create("lime", net, info, preset="smoke", **kw)


def test_lime_ranks_the_unit_the_model_reads_first(tiny_info):
    x = 0.75 + 0.25 * torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(0))  # above the fill (0.5)
    scores = lime(UnitSum(), tiny_info, samples=200).explain(x, torch.tensor([0, 1, 2])).scores  # > 36 units
    unit = units.pool(scores, 2).flatten(1)  # 2-px units on 12 px: a 6×6 grid
    assert (unit.argmax(1) == 1 * 6 + 3).all()
    others = torch.cat([unit[:, :9], unit[:, 10:]], 1)
    assert others.abs().max() < 0.02 * unit[:, 9].min()
    # its coefficient is what removing it (filling the dataset mean colour) takes off the logit
    assert torch.allclose(unit[:, 9], (x[:, :, 2:4, 6:8] - 0.5).sum((1, 2, 3)), rtol=0.1)


def test_scores_are_one_signed_value_per_unit(tiny_net, tiny_info, batch):
    x, target, _ = batch
    explainer = lime(tiny_net, tiny_info)
    scores = explainer.explain(x, target).scores
    assert scores.shape == (6, 12, 12) and scores.dtype == torch.float32
    assert torch.equal(units.to_pixels(units.pool(scores, 2), 2), scores)  # constant inside each unit
    assert (scores < 0).any() and (scores > 0).any() and explainer.caps.signed
    assert explainer.settings()["fill"] == "dataset mean colour"
    assert explainer.settings()["unit_grid"] == "6×6 units of 2×2 px"


def test_each_image_gets_its_own_seeded_stream(tiny_net, tiny_info, batch):
    x, target, _ = batch
    torch.manual_seed(1)
    together = lime(tiny_net, tiny_info).explain(x, target).scores
    torch.manual_seed(2)  # the global generator plays no part
    alone = lime(tiny_net, tiny_info).explain(x[2:3], target[2:3]).scores
    assert torch.equal(alone[0], together[2])
    assert torch.equal(lime(tiny_net, tiny_info).explain(x, target).scores, together)
    assert not torch.equal(lime(tiny_net, tiny_info, seed=1).explain(x, target).scores, together)


def test_the_default_units_make_the_papers_grid_at_28_px():
    info = DatasetInfo("digits", "smoke", 28, 1, 10, tuple("0123456789"), (0.13,), (0.31,), False)
    explainer = lime(nn.Identity(), info)
    assert explainer.config.units == 4 and explainer.settings()["unit_grid"] == "7×7 units of 4×4 px"


def test_a_unit_size_that_does_not_divide_the_image_is_one_line(tiny_net, tiny_info):
    with pytest.raises(InvalidInputError, match="unit size 5 does not divide") as err:
        lime(tiny_net, tiny_info, units=5)
    assert "\n" not in str(err.value)
