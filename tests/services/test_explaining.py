"""Explaining for display: samples, the sample picker's filters, top classes, arrays for caches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_core import services
from xai_core.errors import XAIError
from xai_core.methods import Explanation


def test_sample_indices_filter_by_label_and_outcome():
    labels, preds = torch.tensor([0, 1, 1, 2, 1]), torch.tensor([0, 1, 2, 2, 0])
    assert services.sample_indices(labels, preds) == [0, 1, 2, 3, 4]
    assert services.sample_indices(labels, preds, 1) == [1, 2, 4]
    assert services.sample_indices(labels, preds, 1, "correct") == [1]
    assert services.sample_indices(labels, preds, None, "misclassified") == [2, 4]
    with pytest.raises(XAIError, match="outcome must be one of"):
        services.sample_indices(labels, preds, outcome="nope")


def test_first_as_arrays_keeps_maps_and_names_predicted_classes():
    expl = Explanation(torch.rand(2, 4, 4), torch.rand(2, 4, 4) > 0.5,
                       {"simplified": torch.rand(2, 3, 4, 4), "f_v(x)_probs": torch.tensor([[0.1, 0.9], [0.5, 0.5]])},
                       settings={"u": 4})
    out = services.first_as_arrays(expl, ("cat", "dog"))
    assert isinstance(out["scores"], np.ndarray) and out["scores"].shape == (4, 4)
    assert out["selection"].dtype == bool and out["extras"]["simplified"].shape == (3, 4, 4)
    assert out["predictions"] == {"f_v(x)": "dog (90.0%)"} and out["settings"] == {"u": 4}


def test_explain_indices_predictions_and_top_k():
    ctx = services.load_context("hard_mnist", "smoke")
    batch, out = services.explain_indices(ctx, ["ground_truth", "gradient"], [3, 5])
    assert batch.indices.tolist() == [3, 5] and set(out) == {"ground_truth", "gradient"}
    assert torch.equal(out["ground_truth"].scores.bool(), batch.masks.cpu())
    labels, preds = services.predicted_labels(ctx)
    assert len(labels) == len(preds) == len(ctx.test)
    top = services.top_k(ctx, ctx.test.sample(0)[0], k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert top[0][0] == ctx.info.class_names[int(preds[0])]


def test_targets_choose_the_class_explained():
    ctx = services.load_context("hard_mnist", "smoke")
    x, label, mask = ctx.test.sample(3)
    other = (label + 1) % len(ctx.info.class_names)
    _, default = services.explain_indices(ctx, ["gradient"], [3])
    _, same = services.explain_indices(ctx, ["gradient"], [3], targets=torch.tensor([label]))
    _, moved = services.explain_indices(ctx, ["gradient"], [3], targets=torch.tensor([other]))
    assert torch.equal(default["gradient"].scores, same["gradient"].scores)  # default: the label
    assert not torch.equal(default["gradient"].scores, moved["gradient"].scores)
    batch, shifted = services.explain_indices(ctx, ["gradient"], [3], split="test_background")
    assert torch.equal(batch.y, torch.tensor([label])) and not torch.equal(batch.x[0], x)  # same digit, new canvas
    assert not torch.equal(shifted["gradient"].scores, default["gradient"].scores)
    with pytest.raises(XAIError, match="targets must be 1 class indices"):
        services.explain_indices(ctx, ["gradient"], [3], targets=torch.tensor([99]))
    assert all(services.method_row(m).label_free for m in ("diet", "dorar", "comet"))
    assert not services.method_row("gradient").label_free


def test_class_choices_put_prediction_then_label_first():
    ctx = services.load_context("hard_mnist", "smoke")
    x = ctx.test.sample(0)[0]
    pred = int(services.predicted_labels(ctx)[1][0])
    wrong = (pred + 1) % len(ctx.info.class_names)
    choices = services.class_choices(ctx, x, wrong)
    assert [k for k, _ in choices[:2]] == [pred, wrong]
    assert sorted(k for k, _ in choices) == list(range(len(ctx.info.class_names)))
    assert choices[0][1].endswith("· prediction") and choices[1][1].endswith("· label") and "%" in choices[0][1]
    assert services.class_choices(ctx, x, pred)[0][1].endswith("· prediction = label")


def test_evaluation_splits_and_their_predictions():
    ctx = services.load_context("hard_mnist", "smoke")
    assert services.evaluation_splits(ctx.info) == ["test", "test_background"]
    background = services.evaluation_split(ctx, "test_background")
    labels, preds = services.predicted_labels(ctx, "test_background")
    assert len(labels) == len(preds) == len(background)
    assert services.evaluation_split(ctx, None) is ctx.test
    with pytest.raises(XAIError, match="unknown split 'train'"):
        services.evaluation_split(ctx, "train")
