"""Time estimates shown before long work: the documented rule (measured runs scaled by images ×
epochs × the classifier's cost), what needs a confirmation, and no estimate off the CPU."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from xai_core import services
from xai_core.data import dataset_info
from xai_core.services import estimates
from xai_core.methods import METHODS
from xai_core.services.estimates import BLACK_BOX_RUNS, Estimate, black_box_estimate, duration, scaled


def test_the_rule_gives_back_each_measured_run_at_its_own_settings():
    hard = dataset_info("hard_mnist", "quick")
    diet = METHODS.get("diet").measured_fit
    assert scaled(diet, 1500, 60, "cnn_light", hard) == pytest.approx(1986)
    assert scaled(diet, 3000, 30, "cnn_light", hard) == pytest.approx(1986)  # images × epochs
    assert black_box_estimate("hard_mnist", "quick", device="cpu").seconds == pytest.approx(BLACK_BOX_RUNS["cnn_light"].seconds)


def test_paper_black_boxes_on_cpu_are_long_and_need_a_confirmation():
    quick, paper = black_box_estimate("hard_mnist", "quick", "cpu"), black_box_estimate("hard_mnist", "paper", "cpu")
    assert not quick.needs_confirmation  # 93 s
    assert paper.needs_confirmation and paper.seconds > 3600  # resnet18 at 224 px: hours on 2 cores
    assert "2 CPU cores" in paper.text and "resnet18 at 224 px" in paper.text and paper.text.startswith("about ")


def test_durations_and_thresholds():
    assert [duration(s) for s in (0.2, 45, 400, 1986, 9000)] == ["1 s", "45 s", "7 min", "33 min", "2.5 h"]
    assert Estimate(121, "x").needs_confirmation and not Estimate(120, "x").needs_confirmation
    assert not Estimate(None, "x").needs_confirmation and Estimate(None, "x").text == "unknown (x)"


@pytest.fixture(scope="module")
def ctx():
    return services.load_context("hard_mnist", "smoke", device="cpu")


def test_fit_estimates_follow_the_schedule_and_skip_what_is_ready(ctx, monkeypatch):
    monkeypatch.setattr(estimates, "is_ready", lambda ctx, method, **config: False)  # other tests may have fitted it
    short, longer = estimates.fit_estimate(ctx, "diet"), estimates.fit_estimate(ctx, "diet", mask_epochs=4)
    assert 0 < short.seconds < estimates.CONFIRM_ABOVE_S  # smoke: no confirmation (the app tests click straight through)
    assert longer.seconds == pytest.approx(short.seconds * 25 / 15)  # 5 rounds × (4 + 1) epochs against 5 × (2 + 1)
    assert "DiET quick on hard_mnist took 1,986 s on 2 CPU cores" in short.text and "at most 15 epochs" in short.text
    assert estimates.fit_estimate(ctx, "gradient").seconds is None  # nothing to train
    sweep = estimates.sweep_estimate(ctx, "diet", "u", [2, 4])
    assert sweep.seconds == pytest.approx(sum(estimates.fit_estimate(ctx, "diet", u=u).seconds for u in (2, 4)))
    assert sweep.text.startswith("about ") and "2 of 2 values to fit" in sweep.text
    monkeypatch.setattr(estimates, "is_ready", lambda ctx, method, **config: config.get("u") == 2)
    assert estimates.sweep_estimate(ctx, "diet", "u", [2, 4]).seconds == pytest.approx(
        estimates.fit_estimate(ctx, "diet", u=4).seconds)  # a fitted value costs nothing


def test_no_estimate_and_no_confirmation_off_the_cpu(ctx, monkeypatch):
    monkeypatch.setattr(estimates, "is_ready", lambda ctx, method, **config: False)
    on_gpu = dataclasses.replace(ctx, device=torch.device("cuda"))
    estimate = estimates.fit_estimate(on_gpu, "diet")
    assert estimate.seconds is None and not estimate.needs_confirmation and "CPU only" in estimate.text


def test_a_method_that_cannot_train_on_a_dataset_says_so_before_any_work():
    """DoRaR's noise needs 50 training images; natural has 32: one line from the estimate and the
    requirement check (the pickers show it), never an exception inside a page."""
    ctx = services.load_context("natural", "smoke")
    unmet = estimates.unmet_requirement(ctx, "dorar")
    assert unmet and "needs at least 50" in unmet and "\n" not in unmet
    assert estimates.fit_estimate(ctx, "dorar") == Estimate(None, unmet)
    assert estimates.unmet_requirement(ctx, "diet") is None and estimates.unmet_requirement(ctx, "gradient") is None
