"""DiET's split IoU claims, its mask-scale claims judged at 1–10 % kept with a paired bootstrap over
images, and the machinery behind them (paired_bootstrap, band_means, SweepBand, best_paired, the paired
rule of separation) on synthetic numbers whose right answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from xai_core import reproduce
from xai_core.methods.diet import DiETConfig
from xai_core.reproduce import CLAIMS, Verdict
from xai_core.reproduce import claims as c
from xai_core.reproduce.entries import diet
from xai_core.reproduce.render import rejudge

FRACTIONS = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01]  # pixel_perturbation's default, in the order it runs them


# -- the paired bootstrap -----------------------------------------------------------------------------------
def test_paired_bootstrap_sees_a_small_shift_that_unpaired_intervals_hide():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 200)  # large spread between images
    a, b = base + 0.02, base  # the same images, a 0.02 better on every one
    mean, (low, high) = c.paired_bootstrap(list(a), list(b))
    assert mean == pytest.approx(0.02) and low == pytest.approx(0.02) and high == pytest.approx(0.02)
    wide_a, wide_b = c.bootstrap_ci95(a), c.bootstrap_ci95(b)
    assert wide_a[0] < wide_b[1]  # unpaired, the two intervals of the mean overlap


def test_paired_bootstrap_interval_contains_zero_for_noise_and_is_deterministic():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 0.2, 100), rng.normal(0.5, 0.2, 100)
    mean, (low, high) = c.paired_bootstrap(list(a), list(b))
    assert low < 0 < high and low <= mean <= high
    assert c.paired_bootstrap(list(a), list(b)) == (mean, (low, high))  # seed 0: the same interval every time
    assert c.paired_bootstrap(list(a), list(b), seed=1) != (mean, (low, high))


def test_paired_bootstrap_drops_images_missing_either_score():
    mean, ci = c.paired_bootstrap([1.0, None, 0.5, float("nan")], [0.0, 0.3, 0.5, 0.2])
    assert mean == pytest.approx(0.5) and ci[0] <= 0.5 <= ci[1]  # images 0 and 2 only: differences 1.0 and 0.0
    assert c.paired_bootstrap([None], [1.0]) is None
    with pytest.raises(ValueError):
        c.paired_bootstrap([1.0], [1.0, 0.0])


def test_band_means_average_each_image_over_the_x_in_the_band():
    curves = [[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, None]]
    assert c.band_means(FRACTIONS, curves, 0.01, 0.1) == [0.25, 1.0]
    assert c.band_means(FRACTIONS, curves, 0.3, 0.4) == [None, None]


# -- the reader and the check ---------------------------------------------------------------------------------
def sweep(per_u: dict[int, list[list[float]]], keys=int) -> dict:
    """services.setting_sweep's shape with per-image curves (int keys as returned, str once read from JSON)."""
    return {"dataset": "hard_mnist", "metric": "pixel_perturbation", "setting": "u", "factors": list(per_u),
            "summary": {"diet": {keys(u): 0.94 for u in per_u}}, "runs": {},
            "per_image": {"diet": {keys(u): {"x": FRACTIONS, "y": ys} for u, ys in per_u.items()}}}


def images(low_band: list[float]) -> list[list[float]]:
    """One curve per image: 1 at ≥ 20 % kept (where every u scores 1), the given accuracy at 1–10 % kept."""
    return [[1.0, 1.0, 1.0] + [v] * 4 for v in low_band]


def test_sweep_band_reads_each_u_and_the_paired_differences():
    n = 100
    result = sweep({1: images([0.0] * n), 2: images([1.0] * 60 + [0.0] * 40), 4: images([1.0] * 50 + [0.0] * 50)})
    reader = c.sweep_band("diet", "u", [1, 2, 4], 0.01, 0.1, paired=2)
    ours = reader(result)
    assert ours["u = 1"] == 0.0 and ours["u = 2"] == pytest.approx(0.6) and ours["u = 4"] == pytest.approx(0.5)
    assert ours["u = 2 − u = 1"] == pytest.approx(0.6) and ours["u = 2 − u = 1 low"] > 0.4
    assert ours["u = 2 − u = 4"] == pytest.approx(0.1) and ours["u = 2 − u = 4 low"] > 0  # 10 images better, none worse
    intervals = reader.intervals(result)
    assert intervals["u = 2 − u = 4"] == (ours["u = 2 − u = 4 low"], ours["u = 2 − u = 4 high"])
    assert intervals["u = 2"][0] < 0.6 < intervals["u = 2"][1]
    assert reader(sweep({1: images([0.0]), 2: images([1.0])}, keys=str))["u = 2"] == 1.0  # keys as JSON has them
    assert reader({"summary": {}})["u = 2"] is None  # a sweep written before per-image scores


def test_best_paired_holds_only_when_the_paired_interval_excludes_zero():
    check = c.best_paired("u = 2", ["u = 1", "u = 4"])
    ours = {"u = 1": 0.5, "u = 2": 0.7, "u = 4": 0.6, "u = 2 − u = 1": 0.2, "u = 2 − u = 1 low": 0.1,
            "u = 2 − u = 1 high": 0.3, "u = 2 − u = 4": 0.1, "u = 2 − u = 4 low": 0.02, "u = 2 − u = 4 high": 0.18}
    holds, reason = check.judge(ours, {})
    assert holds is True and "u = 4 0.6 (Δ +0.1 [0.02, 0.18])" in reason
    noisy = {**ours, "u = 2 − u = 4 low": -0.01}
    holds, reason = check.judge(noisy, {})
    assert holds is False and reason.endswith("not separated: u = 4")  # a better mean within noise does not hold
    behind = {**ours, "u = 4": 0.75, "u = 2 − u = 4": -0.05, "u = 2 − u = 4 low": -0.1, "u = 2 − u = 4 high": 0.0}
    holds, reason = check.judge(behind, {})
    assert holds is False and "but u = 4 0.75" in reason
    assert check.judge({k: v for k, v in ours.items() if k != "u = 2 − u = 1 low"}, {})[0] is None
    lower = c.best_paired("a", ["b"], lower_is_better=True)
    assert lower.judge({"a": 0.1, "b": 0.3, "a − b": -0.2, "a − b low": -0.3, "a − b high": -0.1}, {})[0] is True


def test_separation_uses_a_pairs_paired_interval_where_there_is_one():
    check = c.best_paired("u = 2", ["u = 1", "u = 4"])
    overlapping = {"u = 1": (0.4, 0.7), "u = 2": (0.5, 0.8), "u = 4": (0.5, 0.8)}
    assert c.separation(check, overlapping) == (False, "overlap: u = 2–u = 1, u = 2–u = 4")
    paired = {**overlapping, "u = 2 − u = 1": (0.05, 0.2), "u = 2 − u = 4": (-0.01, 0.1)}
    assert c.separation(check, paired) == (False, "paired interval contains 0: u = 2–u = 4")
    assert c.separation(check, {**paired, "u = 2 − u = 4": (0.01, 0.1)}) == (True, "every pair separate")
    assert c.separation(check, {"u = 2 − u = 1": (0.05, 0.2), "u = 2 − u = 4": (0.01, 0.1)})[0] is True


# -- DiET's claims ----------------------------------------------------------------------------------------------
def test_mask_scale_claim_judges_the_low_band_paired():
    n = 100
    flat_auc = sweep({1: images([0.5] * n), 2: images([0.5] * n), 4: images([0.5] * n)})
    v = Verdict.of(CLAIMS.get("diet.mask_scale"), flat_auc)
    assert v.holds is False and "not separated" in v.reason  # a tie is not a win
    clear = sweep({1: images([0.3] * n), 2: images([0.6] * n), 4: images([0.5] * n)})
    v = Verdict.of(CLAIMS.get("diet.mask_scale"), clear)
    assert v.holds is True and v.ours["u = 2"] == pytest.approx(0.6) and v.separated is True
    assert v.intervals["u = 2 − u = 4"] == pytest.approx((0.1, 0.1))
    finer = sweep({1: images([0.7] * n), 2: images([0.6] * n), 4: images([0.5] * n)})
    assert Verdict.of(CLAIMS.get("diet.mask_scale"), finer).holds is False
    # a stored report is judged again from its recorded values alone (render.rejudge)
    report = {"preset": "quick", "claims": [{"id": "diet.mask_scale", "ours": v.ours, "status": "current",
                                             **v.row_fields(), "command": diet.SWEEP.command("quick")}]}
    row = next(r for r in rejudge(report)["claims"] if r["id"] == "diet.mask_scale")
    assert row["holds"] is True and row["separated"] is True


def test_mask_scale_sweeps_the_u_that_match_the_papers_cell_counts():
    assert DiETConfig.for_preset("quick").u == 2 and 64 // 2 == 32  # the paper's u = 8 of 224 px: 28×28 cells
    assert diet.SWEEP.params["values"] == [1, 2, 4] and diet.SWEEP_PAPER.params["values"] == [4, 8, 16]
    assert DiETConfig.for_preset("paper").u == 8
    assert "ablate" in diet.SWEEP.command("quick") and "--sweep u=1,2,4" in diet.SWEEP.command("quick")
    quick = {x.id for x in reproduce.select(["diet"], "quick")}
    assert "diet.mask_scale" in quick and "diet.mask_scale_paper" not in quick


def main_result(iou: dict[str, float]) -> dict:
    return {"dataset": "hard_mnist", "preset": "quick", "n": 200,
            "results": {m: {"iou": v} for m, v in iou.items()}}


def test_iou_claims_judge_the_headline_and_the_baselines_order_apart():
    paper = {"diet": 0.46, "fullgrad": 0.39, "gradcam": 0.30, "smoothgrad": 0.25, "gradient": 0.12}
    readme = {"diet": 0.308, "fullgrad": 0.241, "gradcam": 0.223, "smoothgrad": 0.318, "gradient": 0.218}
    for claim_id in ("diet.iou_best", "diet.iou_baseline_order"):
        assert Verdict.of(CLAIMS.get(claim_id), main_result(paper)).holds is True
        assert Verdict.of(CLAIMS.get(claim_id), main_result(readme)).holds is False
    # DiET best while the baselines keep another order: the headline holds, the ResNet order does not
    ours = {**readme, "diet": 0.40}
    assert Verdict.of(CLAIMS.get("diet.iou_best"), main_result(ours)).holds is True
    v = Verdict.of(CLAIMS.get("diet.iou_baseline_order"), main_result(ours))
    assert v.holds is False and "DiET" not in v.ours and "Grad-CAM 0.223 vs SmoothGrad 0.318" in v.reason
    assert Verdict.of(CLAIMS.get("diet.iou_best"), main_result({**paper, "fullgrad": 0.46})).holds is False  # a tie
    assert CLAIMS.get("diet.iou_best").paper_values["DiET"] == 0.461
    assert CLAIMS.get("diet.iou_baseline_order").check.words == "FullGrad > Grad-CAM > SmoothGrad > gradient"
    assert "diet.iou_ordering" not in CLAIMS.names()


def test_manipulated_claims_are_judged_only_once_the_black_box_is_verified():
    from xai_core.reproduce.claims import CLAIMS

    claim = CLAIMS.get("diet.manipulated_faithfulness")

    def result(check):
        faith = {"diet": {"faithfulness": 0.99, "faithfulness_simplified": 0.98}}
        return {"results": faith, "settings": {"black_box": {"manipulation": 1.0, **check}}}

    values = claim.values(result({"manipulation_check": {"gradient_iou": 0.124}}))
    assert values["black box gradient IoU"] == 0.124
    holds, reason = claim.check.judge(values, dict(claim.paper_values))
    assert holds is None and reason.startswith("not judged, the set-up is not verified: black box gradient IoU")
    holds, reason = claim.check.judge(claim.values(result({})), dict(claim.paper_values))  # an old record: no check
    assert holds is None and "missing" in reason
    verified = claim.values(result({"manipulation_check": {"gradient_iou": 0.03}}))
    assert (verified["original"], verified["simplified"]) == (0.99, 0.98)
    holds, reason = claim.check.judge(verified, dict(claim.paper_values))
    assert holds is True and reason.startswith("black box gradient IoU = 0.03 (≤ 0.05); original")
