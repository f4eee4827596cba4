"""A setting sweep keeps each value's per-image scores (the same images, in order, for every value), so a
claim can judge the sweep on part of the curve's axis, image by image; the summary stays as it was."""
from __future__ import annotations

import json

import pytest
import torch

from xai_core import services
from xai_core.reproduce.claims import SweepBand


def test_setting_sweep_keeps_per_image_scores_that_agree_with_its_summary():
    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    result = services.setting_sweep(ctx, "smoothgrad", "noise_std", [0.05, 0.5], "pixel_perturbation", 6)
    for value in (0.05, 0.5):
        scores = result["per_image"]["smoothgrad"][value]
        run = result["runs"][value]["results"][f"smoothgrad (noise_std = {value})"]["pixel_perturbation"]
        assert len(scores["y"]) == 6 and all(len(row) == len(scores["x"]) for row in scores["y"])
        y = torch.tensor(scores["y"], dtype=torch.float64)
        order = torch.argsort(torch.tensor(scores["x"]))  # the summary's curve runs over x ascending
        assert torch.allclose(y.mean(0)[order], torch.tensor(run["y"], dtype=torch.float64))
        assert result["summary"]["smoothgrad"][value] == pytest.approx(run["auc"])  # the old summary, unchanged
        assert set(y.unique().tolist()) <= {0.0, 1.0}  # accuracy per image and fraction
    written = json.loads(json.dumps(result))  # a claim reads it back from JSON (keys become strings)
    band = SweepBand("smoothgrad", "noise_std", (0.05, 0.5), 0.01, 0.1, paired=0.05)(written)
    kept = [i for i, x in enumerate(result["per_image"]["smoothgrad"][0.5]["x"]) if 0.01 <= x <= 0.1]
    assert len(kept) == 4  # 10, 5, 2 and 1 % kept: the paper's Table 7
    expected = torch.tensor(result["per_image"]["smoothgrad"][0.5]["y"], dtype=torch.float64)[:, kept].mean().item()
    assert band["noise_std = 0.5"] == pytest.approx(expected)
    assert band["noise_std = 0.05 − noise_std = 0.5"] == pytest.approx(band["noise_std = 0.05"] - expected)


def test_per_image_scores_of_each_kind():
    from xai_core.services.ablations import per_image_scores

    curve = {"x": torch.tensor([1.0, 0.1], dtype=torch.float64),
             "accuracy": torch.tensor([[1.0, float("nan")], [1.0, 0.0]])}
    assert per_image_scores("accuracy", curve) == {"x": [1.0, 0.1], "y": [[1.0, None], [1.0, 0.0]]}
    assert per_image_scores("iou", {"iou": torch.tensor([0.5, float("nan")])}) == {"y": [0.5, None]}
    assert per_image_scores("a1", {"a1": torch.zeros(3, 2)}) is None  # seeded: one column per seed
    assert per_image_scores("iou", {}) is None
