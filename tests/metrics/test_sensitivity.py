"""Sensitivity-n (InputIBA §4.4.1): exact additive maps score 1, random maps about 0, constant maps NaN."""
from __future__ import annotations

import torch

from xai_core.metrics import METRICS, EvalInputs
from xai_core.metrics.sensitivity import sensitivity_counts, sensitivity_n

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
