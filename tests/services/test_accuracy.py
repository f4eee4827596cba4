"""The explained model's test accuracy beside the black box's, clean and with pixels removed (COMET's Table 2)."""
from __future__ import annotations

import pytest
import torch

from xai_core import services
from xai_core.models.inference import predict


@pytest.fixture(scope="module")
def ctx():
    return services.load_context("hard_mnist", "smoke", device="cpu")


def test_a_post_hoc_method_explains_the_black_box_itself(ctx):
    scores = services.explained_accuracy(ctx, "gradient")
    assert scores["gradient"] == scores["black_box"]
    batch = ctx.test.batch(list(range(len(ctx.test))))
    clean = float((predict(ctx.black_box, batch.x).argmax(1) == batch.y).float().mean())
    assert scores["black_box"]["clean"] == pytest.approx(clean)
    assert scores["black_box"]["removed"] != clean  # 10 % of the pixels gone changes predictions


def test_removal_is_seeded_and_removing_nothing_is_the_clean_accuracy(ctx):
    assert services.explained_accuracy(ctx, "random", removed=0.5) == services.explained_accuracy(ctx, "random",
                                                                                                  removed=0.5)
    nothing = services.explained_accuracy(ctx, "random", removed=0.0)["black_box"]
    assert nothing["removed"] == nothing["clean"]


def test_nothing_of_the_shared_black_box_changes(ctx):
    before = {k: v.clone() for k, v in ctx.black_box.state_dict().items()}
    services.explained_accuracy(ctx, "gradient", removed=0.2)
    assert all(torch.equal(before[k], v) for k, v in ctx.black_box.state_dict().items())
    assert not ctx.black_box.training
