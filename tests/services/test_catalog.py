"""What pages and the CLI list: method rows from declared capabilities, usable names, checks."""
from __future__ import annotations

import pytest

from xai_core import services
from xai_core.data import dataset_info
from xai_core.errors import XAIError
from xai_core.methods import METHODS
from xai_core.store import ArtifactStore


def test_method_rows_read_the_capabilities():
    rows = {r.name: r for r in services.method_rows()}
    assert list(rows) == list(METHODS)
    assert rows["gradient"].kind == "post-hoc" and rows["random"].kind == "reference"
    assert rows["diet"].kind == "trained" and rows["diet"].trained and "u" in rows["diet"].sweeps
    assert rows["iba"].kind == "per-instance" and rows["iba"].takes_layer and not rows["gradient"].takes_layer
    assert rows["gradient"].needs == "the black box only" and rows["gradient"].ready is None
    assert rows["gradient"].about == METHODS.describe("gradient")


def test_usable_names_follow_ground_truth():
    mnist, hard = dataset_info("mnist", "smoke"), dataset_info("hard_mnist", "smoke")
    on_mnist = [r.name for r in services.method_rows(mnist)]
    assert "ground_truth" not in on_mnist and "gradient" in on_mnist
    assert "ground_truth" in [r.name for r in services.method_rows(hard)]
    assert "iou" not in services.metric_names(mnist) and "iou" in services.metric_names(hard)
    assert "ground_truth" not in [r.name for r in services.method_rows(services.without_ground_truth(hard))]


def test_checks_are_one_line():
    mnist = dataset_info("mnist", "smoke")
    assert services.check_methods(["gradient"], mnist) == ["gradient"]
    with pytest.raises(XAIError, match="unknown method 'nope'"):
        services.check_methods(["nope"])
    with pytest.raises(XAIError, match="method 'ground_truth' needs ground-truth masks, which mnist"):
        services.check_methods(["ground_truth"], mnist)
    with pytest.raises(XAIError, match="metric 'iou' needs ground-truth masks"):
        services.check_metrics(["iou"], mnist)
    services.check_sweep(["diet"], "u")
    with pytest.raises(XAIError, match=r"method 'gradient' has no sweepable setting 'u' \(sweepable: none\)"):
        services.check_sweep(["gradient"], "u")


def test_readiness_on_a_context(tmp_path):
    ctx = services.load_context("hard_mnist", "smoke", store=ArtifactStore(tmp_path))
    rows = {r.name: r for r in services.method_rows(ctx.info, ready_on=ctx)}
    assert rows["gradient"].ready and rows["iba"].ready  # nothing to train
    assert not rows["diet"].ready and not services.is_ready(ctx, "diet")  # not trained in this store
    assert rows["diet"].table() == {"method": "diet", "kind": "trained", "needs": rows["diet"].needs,
                                    "ready": False, "about": rows["diet"].about}


def test_method_defaults_are_the_presets_settings():
    assert services.method_defaults("smoothgrad", "smoke")["samples"] == 4
    assert services.method_defaults("smoothgrad", "paper")["samples"] == 50
    assert services.method_defaults("integrated_gradients", "quick")["steps"] == 32
    assert services.method_defaults("diet", "paper")["u"] == 8 and services.method_defaults("diet", "quick")["u"] == 2
    assert services.method_defaults("gradcam", "quick")["layer"] == ""  # "": the model's last conv block
    offered = {row.name: [o.name for o in row.settings] for row in services.method_rows() if row.settings}
    assert offered["diet"] == ["u"] and offered["smoothgrad"] == ["noise_std", "samples"]
    for method, names in offered.items():  # every field offered is one of the method's
        assert set(names) <= set(services.method_defaults(method, "quick")), method
    with pytest.raises(XAIError, match="unknown method 'nope'"):
        services.method_defaults("nope", "quick")


def test_pickers_leave_out_what_a_dataset_cannot_take_with_the_reason():
    natural = services.load_context("natural", "smoke")
    rows, blocked = services.offered_methods(natural)
    assert "at least 50" in blocked["dorar"]  # 32 training images: DoRaR's background noise needs 50
    assert blocked["ground_truth"] == "needs ground-truth masks, which natural does not have"
    assert {r.name for r in rows} == set(METHODS) - set(blocked) and "gradient" not in blocked
    hard = services.load_context("hard_mnist", "smoke")
    assert services.offered_methods(hard)[1] == {}  # every method runs on the default dataset
    upload = services.without_ground_truth(hard.info)  # an uploaded image: no masks, whatever the dataset has
    assert services.offered_methods(hard, upload)[1] == {
        "ground_truth": "needs ground-truth masks, which this image does not have"}
