"""Sensitivity-n (InputIBA §4.4.1): exact additive maps score 1, random maps about 0, constant maps NaN; the
authors' n grid and their filter of images with target probability ≥ 0.6."""
from __future__ import annotations

import pytest
import torch

from xai_core.errors import InvalidInputError
from xai_core.metrics import METRICS, EvalInputs, aggregate
from xai_core.metrics.sensitivity import log_counts, sensitivity_counts, sensitivity_n

from .helpers import input_times_weight, linear_model


def test_sensitivity_counts_are_rounded_unique_and_clipped():
    assert sensitivity_counts(100, (0.001, 0.01, 0.014, 0.5, 2.0)) == [1, 50, 100]
    assert sensitivity_counts(784)[0] == 8 and sensitivity_counts(784)[-1] == 627 and len(sensitivity_counts(784)) == 8
    assert sensitivity_counts(100, counts=[5, 5, 500, 0]) == [1, 5, 100]


def test_sensitivity_n_is_one_for_an_exact_additive_map_and_low_for_a_random_one():
    model = linear_model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 8, 8, generator=g)
    target = torch.tensor([0, 1, 3])
    exact = sensitivity_n(model, x, target, input_times_weight(model, x, target), fill=0.0, masks_per_n=40,
                          batch_size=37)
    assert exact.counts.tolist() == sensitivity_counts(64) and exact.correlation.shape == (3, len(exact.counts))
    assert torch.allclose(exact.fractions, exact.counts.double() / 64)
    # n = 64 (80 % rounds to 51, not all pixels) – every set differs, so r is defined everywhere
    assert torch.isfinite(exact.correlation).all() and (exact.correlation > 0.9999).all()
    rand = sensitivity_n(model, x, target, torch.rand(3, 8, 8, generator=g), fill=0.0, masks_per_n=40)
    assert rand.correlation.nanmean().abs() < 0.3
    # deterministic, and the same sets whatever the batch: image 1 alone scores as in the batch
    again = sensitivity_n(model, x[1:2], target[1:2], input_times_weight(model, x, target)[1:2], fill=0.0,
                          masks_per_n=40)
    assert torch.allclose(again.correlation[0], exact.correlation[1])


def test_sensitivity_n_constant_map_is_nan_and_registry_runs():
    model = linear_model()
    x = torch.rand(2, 3, 8, 8)
    target = torch.tensor([0, 2])
    flat = sensitivity_n(model, x, target, torch.ones(2, 8, 8), fill=0.0, masks_per_n=10)
    assert flat.correlation.isnan().all()
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=target, target=target,
                        scores=input_times_weight(model, x, target), masks=None, fill=torch.zeros(3))
    out = METRICS.get("sensitivity_n")(inputs, masks_per_n=20, counts=[1, 8, 32])
    assert out["x"].tolist() == [1 / 64, 8 / 64, 32 / 64] and (out["correlation"] > 0.9999).all()
    metric = METRICS.get("sensitivity_n")
    assert metric.kind == "curve" and metric.higher_is_better and "627" in metric.notes["n"]


def test_named_grids_are_the_inputiba_authors_log_grid():
    paper = sensitivity_counts(224 * 224, counts="paper")
    # the authors' np.logspace(0, 4.5, 45, dtype=int), duplicates dropped: 42 values, 1 … 31622
    assert len(paper) == 42 and paper[:8] == [1, 2, 3, 4, 5, 6, 8, 10] and paper[-2:] == [24987, 31622]
    assert sensitivity_counts(224 * 224, counts="paper_coarse") == [1, 3, 10, 31, 100, 316, 1000, 3162, 10000, 31622]
    # values at or above the image's pixel count are dropped (every set would be the whole image)
    assert sensitivity_counts(64 * 64, counts="paper_coarse") == [1, 3, 10, 31, 100, 316, 1000, 3162]
    assert log_counts(2.0, 3) == [1, 10, 100]
    with pytest.raises(InvalidInputError, match="paper_coarse"):
        sensitivity_counts(100, counts="nope")


def test_min_probability_scores_only_confident_images_and_says_how_many_passed():
    model = linear_model()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 8, 8, generator=g)
    probs = model(x).softmax(1).detach()
    confident = probs.argmax(1)  # each image's top class, and a class it finds unlikely
    unlikely = probs.argmin(1)
    target = torch.stack([confident[0], unlikely[1], confident[2], unlikely[3]])
    p_target = probs.gather(1, target[:, None]).squeeze(1)
    threshold = float(p_target[[0, 2]].min())  # images 0 and 2 pass (≥), 1 and 3 do not
    assert p_target[[1, 3]].max() < threshold
    scores = input_times_weight(model, x, target)
    full = sensitivity_n(model, x, target, scores, fill=0.0, masks_per_n=30, counts=[2, 8, 32])
    kept = sensitivity_n(model, x, target, scores, fill=0.0, masks_per_n=30, counts=[2, 8, 32],
                         min_probability=threshold)
    assert full.passed is None and kept.passed.tolist() == [True, False, True, False]
    assert kept.correlation[[1, 3]].isnan().all()
    # the images that pass score exactly as without the filter (same sets, same model outputs)
    assert torch.allclose(kept.correlation[[0, 2]], full.correlation[[0, 2]])
    nobody = sensitivity_n(model, x, target, scores, fill=0.0, masks_per_n=10, counts=[4], min_probability=1.0)
    assert not nobody.passed.any() and nobody.correlation.isnan().all()
    with pytest.raises(InvalidInputError):
        sensitivity_n(model, x, target, scores, fill=0.0, min_probability=1.5)


def test_registered_filter_reports_the_share_that_passed():
    model = linear_model()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    probs = model(x).softmax(1).detach()
    target = torch.stack([probs[0].argmax(), probs[1].argmin(), probs[2].argmin(), probs[3].argmin()])
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=target, target=target,
                        scores=input_times_weight(model, x, target), masks=None, fill=torch.zeros(3))
    metric = METRICS.get("sensitivity_n")
    threshold = float(probs[0].max())
    per_image = metric(inputs, masks_per_n=20, counts=[1, 8, 32], min_probability=threshold)
    assert per_image["passed"].tolist() == [[1.0] * 3] + [[0.0] * 3] * 3
    value = aggregate(metric, per_image)
    assert value["passed"] == [0.25] * 3 and value["n"] == 1  # 1 of 4 images counted
    assert "passed" not in metric(inputs, masks_per_n=20, counts=[1, 8, 32])  # no filter, no series
    described = metric.describe(counts="paper", min_probability=0.6)
    assert described["counts"] == "paper" and described["min_probability"] == 0.6 and "passed" in described["filter"]
