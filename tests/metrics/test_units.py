"""Metrics on a map's top n_e units: hit_rate by hand, a1a2's per-seed values and their aggregation."""
from __future__ import annotations

import pytest
import torch

from xai_core.errors import XAIError
from xai_core.metrics import METRICS, aggregate
from xai_core.metrics.base import EvalInputs

from .helpers import MeanModel


def _inputs(scores: torch.Tensor, masks: torch.Tensor | None = None, reconstruction=None) -> EvalInputs:
    b = scores.shape[0]
    x = torch.full((b, 1, 8, 8), 0.9)
    model = MeanModel()
    labels = model(x).argmax(1)
    return EvalInputs(model=model, black_box=model, x=x, labels=labels, target=labels, scores=scores, masks=masks,
                      fill=torch.tensor([0.5]), reconstruction=reconstruction)


def test_hit_rate_counts_selected_units_touching_the_ground_truth():
    scores = torch.zeros(2, 8, 8)
    scores[:, :4, :4] = 3.0  # unit 0 first,
    scores[:, :4, 4:] = 2.0  # then unit 1
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 0, 0] = True  # image 0: one pixel of unit 0
    masks[1, 7, 7] = True  # image 1: only unit 3
    out = METRICS.get("hit_rate")(_inputs(scores, masks), units=4, n_e=2)
    assert out["hit_rate"].tolist() == [0.5, 0.0]
    assert METRICS.get("hit_rate")(_inputs(scores, masks), units=4, n_e=1)["hit_rate"].tolist() == [1.0, 0.0]


class FakeFitter:
    """Records what a1a2 asks for; seed s's 'G1' keeps the image when s is even, G2 always darkens it."""

    default_seeds = 3

    def __init__(self) -> None:
        self.calls = []

    def fit(self, size, n_e, seed, *, epochs, train_images):
        self.calls.append((size, n_e, seed, epochs, train_images))

        def reconstruct(x, keep):
            self.keep = keep
            return (x if seed % 2 == 0 else 1 - x), torch.zeros_like(x)

        return reconstruct


def test_a1a2_scores_each_seed_and_aggregates_over_seeds():
    scores = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(0))
    fitter = FakeFitter()
    metric = METRICS.get("a1a2")
    out = metric(_inputs(scores, reconstruction=fitter), units=2, n_e=3, epochs=5, controls=False)
    assert [c[:4] for c in fitter.calls] == [(2, 3, 0, 5), (2, 3, 1, 5), (2, 3, 2, 5)]
    assert fitter.keep.shape == (4, 8, 8) and fitter.keep.flatten(1).sum(1).eq(12).all()  # 3 units of 2×2 pixels
    assert out["a1"].tolist() == [[1.0, 0.0, 1.0]] * 4 and out["a2"].tolist() == [[0.0] * 3] * 4
    result = aggregate(metric, out)
    assert result["a1_seeds"] == [1.0, 0.0, 1.0] and result["a1"] == pytest.approx(2 / 3)
    assert result["a1_std"] == pytest.approx(float(torch.tensor([1.0, 0.0, 1.0]).std()))
    assert result["a2"] == 0.0 and result["seeds"] == 3 and result["n"] == 4


def test_a1a2_needs_its_generators():
    with pytest.raises(XAIError, match="trains generators"):
        METRICS.get("a1a2")(_inputs(torch.rand(1, 8, 8)))
