"""COMET's claims read the authors' metric variants (iou_share_curve, pxap_pooled, fidelity_removal_fp) from
results shaped as services.evaluate returns them, and judge them as the paper states them."""
from __future__ import annotations

from xai_core.reproduce import CLAIMS, Verdict

FRACTIONS = [0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
METHODS = ("comet", "gradcam", "fullgrad", "smoothgrad", "gradient")


def _curve(auc: float, x: list[float] | None = None, y: list[float] | None = None) -> dict:
    x = x or [0.0, 0.5, 1.0]
    return {"x": x, "y": y or [auc] * len(x), "auc": auc, "n": 200}


def _result(iou: dict[str, float], pxap: dict[str, float], at5: dict[str, float]) -> dict:
    results = {}
    for m in METHODS:
        y = [1.0, 0.9, 0.8, 0.6, 0.4, at5[m], 0.15, 0.1]
        results[m] = {"iou_share_curve": _curve(iou[m]), "pxap_pooled": pxap[m],
                      "fidelity_removal_fp": _curve(0.3, FRACTIONS, y),
                      # our variants, present but not read by the claims
                      "iou_curve": _curve(0.0), "pxap": 0.0}
    return {"dataset": "parts", "preset": "quick", "n": 200, "results": results}


BEST = {"comet": 0.6, "gradcam": 0.3, "fullgrad": 0.25, "smoothgrad": 0.2, "gradient": 0.1}
WORST = {**BEST, "comet": 0.05}


def test_comet_measures_the_authors_variants_and_says_so():
    for claim_id in ("comet.iou_curve", "comet.pxap", "comet.fidelity", "comet.random_labels"):
        claim = CLAIMS.get(claim_id)
        assert "authors' variant" in claim.note, claim_id
        assert not {"iou_curve", "pxap", "fidelity_removal"} & set(claim.measurement.params["metrics"]), claim_id
    assert "--metrics iou_share_curve,pxap_pooled,fidelity_removal_fp,robustness" in \
        CLAIMS.get("comet.pxap").measurement.command("quick")


def test_iou_and_pxap_claims_read_the_variants_and_keep_the_papers_ordering():
    v = Verdict.of(CLAIMS.get("comet.iou_curve"), _result(BEST, WORST, BEST))
    assert v.ours == {"COMET": 0.6, "Grad-CAM": 0.3, "FullGrad": 0.25, "SmoothGrad": 0.2, "gradient": 0.1}
    assert v.holds is True
    v = Verdict.of(CLAIMS.get("comet.pxap"), _result(BEST, WORST, BEST))
    assert v.ours["COMET"] == 0.05 and v.holds is False


def test_fidelity_judges_five_percent_and_shows_one_and_two_percent():
    at5 = {"comet": 0.1, "gradcam": 0.2, "fullgrad": 0.3, "smoothgrad": 0.4, "gradient": 0.5}
    v = Verdict.of(CLAIMS.get("comet.fidelity"), _result(BEST, BEST, at5))
    assert v.ours["COMET"] == 0.1 and v.ours["Grad-CAM"] == 0.2 and v.holds is True
    assert v.ours["COMET at 1 %"] == 0.6 and v.ours["Grad-CAM at 2 %"] == 0.4  # shown, not judged
    v = Verdict.of(CLAIMS.get("comet.fidelity"), _result(BEST, BEST, {**at5, "comet": 0.25}))
    assert v.holds is False  # lower is better: 0.25 is above Grad-CAM's 0.2


def _section(iou: float) -> dict:
    return {"results": {"comet": {"iou_share_curve": _curve(iou), "pxap_pooled": 0.02}}}


def test_random_labels_compares_both_fits_on_the_share_curve():
    claim = CLAIMS.get("comet.random_labels")
    v = Verdict.of(claim, {"real": _section(0.3), "random": _section(0.09)})
    assert v.ours == {"COMET": 0.3, "COMET random labels": 0.09} and v.holds is True  # under a third
    assert Verdict.of(claim, {"real": _section(0.3), "random": _section(0.11)}).holds is False
    assert Verdict.of(claim, {"real": _section(0.3)}).holds is None  # the randomised fit is missing
    command = claim.measurement.command("quick")
    assert command.count("python -m xai_core evaluate") == 2 and "--set comet.randomize_labels=true" in command
