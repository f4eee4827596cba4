"""The benchmarks: per-instance seconds per 224-px image; perturbation metrics' forwards/s beside the model's."""
from __future__ import annotations

import pytest
import torch

from xai_core import services
from xai_core.bench import _metric_throughput, _per_instance
from xai_core.metrics.perturbing import images_per_pass


def test_per_instance_timings_cover_each_method_preset_and_batch():
    stages = []
    out = _per_instance(["smoke"], [1, 2], "cpu", 0, lambda d, t, m="", **kw: stages.append(m))
    assert set(out) == {"iba@smoke", "input_iba@smoke"}
    for timings in out.values():
        assert set(timings) == {"B=1", "B=2"} and all(v > 0 for v in timings.values())
    assert any("input_iba (smoke) on 2 image(s) of natural" in m for m in stages)


def test_metric_throughput_runs_each_perturbation_metric_at_its_default_settings_at_224px():
    from xai_core.metrics.perturbation import DEFAULT_FRACTIONS, DEFAULT_STEPS
    from xai_core.metrics.sensitivity import DEFAULT_MASKS_PER_N

    ctx = services.load_context("natural", "smoke", device="cpu")
    out = _metric_throughput(ctx, 1, passes=1, repeats=1)
    chunk = images_per_pass(None, torch.zeros(1, 3, 224, 224))
    assert out["dataset"] == "natural@224px" and out["images"] == 1 and out["images_per_pass"] == chunk
    # the defaults a user gets (deletion's 51 steps, not a few), counted per image; pixel perturbation and
    # sensitivity-n add one reference forward per image
    assert {k: v["forwards"] for k, v in out["metrics"].items()} == {
        "pixel_perturbation": 1 + len(DEFAULT_FRACTIONS), "deletion": DEFAULT_STEPS, "insertion": DEFAULT_STEPS,
        "sensitivity_n": 1 + DEFAULT_MASKS_PER_N}
    assert out["model_images_per_second"] > 0
    for v in out["metrics"].values():
        assert v["forwards_per_second"] > 0
        assert v["ratio"] == pytest.approx(v["forwards_per_second"] / out["model_images_per_second"])
        assert v["cpu_ratio"] > 0  # the same ratio in CPU time: what a shared machine distorts least


def test_fits_time_fitting_explaining_and_one_a1a2_seed_from_scratch():
    from xai_core.bench import run_bench

    out = run_bench(preset="smoke", device="cpu", sections=("fits",), fit_dataset="mnist",
                    fit_methods=["gradient", "dorar"])
    assert out["sections"] == ["fits"] and "ms_per_image" not in out and "training" not in out
    rows = out["fits"]["methods"]
    assert rows["gradient"]["fit_seconds"] is None and rows["dorar"]["fit_seconds"] > 0  # trained from scratch
    for row in rows.values():
        assert row["ms_per_image"] > 0 and row["a1a2_seconds_per_seed"] > 0 and 1 <= row["a1a2_epochs"] <= 2


def test_an_unknown_section_is_one_line():
    from xai_core.bench import run_bench
    from xai_core.errors import XAIError

    with pytest.raises(XAIError, match="unknown bench section"):
        run_bench(sections=("speed",))
