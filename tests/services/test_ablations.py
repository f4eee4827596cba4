"""Ablations over a real black box: the resolution sweep and a method-setting sweep."""
from __future__ import annotations

import pytest

from xai_core import services


def test_resolution_ablation_on_smoke_black_box():
    ctx = services.load_context("hard_mnist", "smoke")
    steps = []
    result = services.resolution_ablation(ctx, ["gradient", "random"], "iou", [1, 8], n=16,
                                          progress=lambda d, t, m="", **_: steps.append((d, t)))
    assert set(result["summary"]) == {"gradient", "random"} and result["factors"] == [1, 8]
    direct = services.evaluate(ctx, ["gradient"], ["iou"], 16)["results"]["gradient"]["iou"]
    assert result["summary"]["gradient"][1] == pytest.approx(direct)  # u = 1 is the plain evaluation
    assert result["summary"]["gradient"][8] != pytest.approx(direct)  # coarsening changes the ranking
    assert steps[-1][0] == steps[-1][1] and all(d <= t for d, t in steps)


def test_resolution_ablation_of_a_group_metric_sums_up_its_primary_value():
    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    result = services.resolution_ablation(ctx, ["gradient"], "robustness", [1, 4], n=2)
    runs = {u: result["runs"][u]["results"]["gradient"]["robustness"] for u in (1, 4)}
    assert result["summary"]["gradient"] == {u: runs[u]["pxap_noisy"] for u in (1, 4)}  # the headline
    assert runs[4]["pxap_noisy"] != pytest.approx(runs[1]["pxap_noisy"])  # re-explained maps are coarsened too


def test_setting_sweep_labels_each_value_and_draws_one_curve_each():
    ctx = services.load_context("hard_mnist", "smoke")
    steps = []
    result = services.setting_sweep(ctx, "iba", "steps", [1, 3], "deletion", 4,
                                    progress=lambda d, t, m="", **_: steps.append((d, t, m)))
    assert result["setting"] == "steps" and result["factors"] == [1, 3] and set(result["summary"]["iba"]) == {1, 3}
    run = result["runs"][3]
    assert list(run["results"]) == ["iba (steps = 3)"] and run["settings"]["methods"]["iba (steps = 3)"]["steps"] == 3
    assert result["summary"]["iba"][3] == pytest.approx(run["results"]["iba (steps = 3)"]["deletion"]["auc"])
    curves = services.sweep_curves(result)
    assert list(curves["results"]) == ["iba (steps = 1)", "iba (steps = 3)"] and curves["n"] == 4
    assert all(d <= t for d, t, _ in steps) and steps[-1][2] == "steps = 3: evaluating"
