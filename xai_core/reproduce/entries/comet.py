"""COMET's claims (Zhang et al., docs/methods/comet.md, Tables 2–6), on ``parts`` (the an8Flower idea, drawn)."""
from __future__ import annotations

from typing import Any

from ...metrics import CurveValue
from ..claims import (Claim, Measurement, all_of, metric_value, metric_values, near, number, ordering, ratio,
                      register_claim, section_values)

PAPER = "comet"
BASELINES = ["gradcam", "fullgrad", "smoothgrad", "gradient"]
#: the COMET authors' metric variants (xai_core.metrics.comet_variants): their IoU curve (calculate_auc of the IoU
#: of S > 0.9), their pooled PxAP (MaskEvaluator) and their fidelity (the masked image straight to f_P)
IOU, PXAP, FIDELITY = "iou_share_curve", "pxap_pooled", "fidelity_removal_fp"
MAIN = Measurement("evaluate", "parts", {"methods": ["comet", *BASELINES, "random"],
                                         "metrics": [IOU, PXAP, FIDELITY, "robustness"], "n": 500})
RANDOM_LABELS = Measurement("randomisation", "parts", {"method": "comet", "metrics": [IOU, PXAP], "n": 500})
ACCURACY = Measurement("accuracy", "parts", {"method": "comet"})
NOTE = "ours: quick preset (5 epochs, small selector; the paper: 200 epochs, LR-ASPP), 500 test images"
AUTHORS = "measured with the authors' variant {metric} ({how}; docs/metrics.md#the-comet-authors-variants)"
SWEEP = ("the fit's t sweep picked t = 0.1 (3-epoch proxies on 2,000 training images, validation PxAP 0.027 / 0.461 / "
         "0.492 / 0.298 for t = 0.02 / 0.05 / 0.1 / 0.2; the run of 2026-12-08), but full quick fits rank 0.05 above "
         "0.1 on every COMET metric: on the same 500 test images, t = 0.05 scores IoU share 0.539, pooled PxAP 0.607, 5 % "
         "removal 0.160, per-image PxAP clean / noisy / new background 0.650 / 0.668 / 0.611, against t = 0.1's "
         "0.341 / 0.380 / 0.178 / 0.398 / 0.480 / 0.320 (python -m xai_core evaluate --dataset parts --preset quick "
         "--methods comet --set comet.t=0.05 --metrics iou_share_curve,pxap_pooled,fidelity_removal_fp,robustness "
         "--n 500). The proxies mis-rank the two budgets; choosing t by full fits' validation PxAP is the fix to "
         "test")
LABELS = {"COMET": "comet", "Grad-CAM": "gradcam", "FullGrad": "fullgrad", "SmoothGrad": "smoothgrad",
          "gradient": "gradient"}


def _fidelity(result: dict[str, Any]) -> dict[str, float | None]:
    """Each method's accuracy with 5 % of its top pixels removed (judged), then COMET's and Grad-CAM's at 1 % and
    2 %, fractions below and around the disc's size (shown)."""
    out = {label: _at(result, method, 0.05) for label, method in LABELS.items()}
    out.update({f"{label} at {p:g} %": _at(result, method, p / 100) for p in (1, 2)
                for label, method in (("COMET", "comet"), ("Grad-CAM", "gradcam"))})
    return out


def _at(result: dict[str, Any], method: str, share: float) -> float | None:
    """The method's fidelity_removal_fp accuracy with ``share`` of the pixels removed (None: not a point)."""
    curve = metric_value(result, method, FIDELITY)
    if not isinstance(curve, CurveValue) or share not in curve.x:
        return None
    return number(curve.y[curve.x.index(share)])


def _accuracy(result):
    bb, own = result.get("black_box", {}), result.get("comet", {})
    return {"f_P clean": own.get("clean"), "black box clean": bb.get("clean")}


register_claim(Claim(
    "comet.accuracy", PAPER, "Table 2",
    "The predictor on the selected features keeps the black box's accuracy (within a point; the paper: COMET 94.33 % "
    "against ResNet-18's 91.16 % on ImageNet-9)",
    {"f_P clean": 0.9433, "black box clean": 0.9116}, ACCURACY, _accuracy,
    near("f_P clean", "black box clean", 0.01),
    note=NOTE))

register_claim(Claim(
    "comet.iou_curve", PAPER, "Table 3",
    "COMET's maps overlap the discriminative part best: its IoU-curve AUC is the highest (an8Flower: 72.5 against "
    "Grad-CAM's 15.74)",
    {"COMET": 0.725, "Grad-CAM": 0.1574}, MAIN, metric_values(IOU, LABELS),
    all_of(*(ordering(["COMET", other]) for other in LABELS if other != "COMET")),
    note=NOTE + "; " + AUTHORS.format(metric=IOU, how="their calculate_auc: the share of images whose IoU of "
                                      "S > 0.9 with the disc is at or above each level, post-hoc maps min-max "
                                      "normalised first; ours, iou_curve, thresholds the map instead")))

register_claim(Claim(
    "comet.pxap", PAPER, "Table 4",
    "COMET's PxAP is above every baseline's (ImageNet-9: 76.38 against Grad-CAM's 51.15)",
    {"COMET": 0.7638, "Grad-CAM": 0.5115}, MAIN, metric_values(PXAP, LABELS),
    all_of(*(ordering(["COMET", other]) for other in LABELS if other != "COMET")),
    note=NOTE + "; " + AUTHORS.format(metric=PXAP, how="their MaskEvaluator: one precision-recall curve over the "
                                      "pixels of every image, raw S(x); ours, pxap, averages per-image APs"),
    missed=SWEEP + ". Even at t = 0.05 pooled PxAP stays below Grad-CAM's 0.618 and FullGrad's 0.692: COMET loses "
           "at the disc's edge and wins everywhere else (`python scripts/comet_edge_band.py`, 200 test images, "
           "results/comet_edge_band_quick.json, t = 0.05, 2026-12-07 code): its budget is about 205 pixels against "
           "the disc's 95 (2.3 %), and 130 background pixels per image score at least half its maximum, 88 % of "
           "them within 4 px of the edge (a dilated disc). Leaving a 2-px band around the edge out of the scoring, "
           "pooled PxAP is COMET 0.909 against Grad-CAM 0.806 (with it, 0.614 against 0.651). The sweep's grid "
           "(0.02, 0.05, 0.1, 0.2) has no value at the disc's size; the runs that test it: `python -m xai_core "
           "evaluate --dataset parts --preset quick --methods comet,gradcam --metrics pxap_pooled --set comet.t=0.03 "
           "--n 500 --json out.json`, and at the paper preset `python -m xai_core reproduce --claims comet.pxap "
           "--preset paper` (GPU)."))

register_claim(Claim(
    "comet.fidelity", PAPER, "Table 5",
    "Removing COMET's top 5 % of pixels hurts the classifier most (the lowest accuracy after removal; ImageNet-9: "
    "10.64 % against Grad-CAM's 85.20 %)",
    {"COMET": 0.1064, "Grad-CAM": 0.852}, MAIN, _fidelity,
    all_of(*(ordering(["COMET", other], lower_is_better=True) for other in LABELS if other != "COMET")),
    note=NOTE + "; " + AUTHORS.format(metric=FIDELITY, how="the masked image fed straight to f_P, the selector "
                                      "not re-run; the black box for the other methods") + "; removing 5 % of "
                                      "`parts` covers the 2 % disc for every method (chance accuracy 1/6): the "
                                      "values at 1 % and 2 % are shown beside it, not judged",
    missed="at t = 0.1 COMET's 0.178 is within 0.004 of FullGrad's 0.174 (both near chance 1/6: removing 5 % erases "
           "the 2 % disc for every method); at 1 % and 2 % COMET leads clearly (0.730 / 0.438 against Grad-CAM's "
           "0.996 / 0.716). The sweep's t = 0.1 is not the better budget (comet.pxap's note): a full fit at t = 0.05 "
           "scores 0.160, the lowest of all."))

register_claim(Claim(
    "comet.robustness", PAPER, "Table 6",
    "COMET's maps stay the best localised on noisy images (20 % of the pixels removed) and on new backgrounds: "
    "PxAP above Grad-CAM's in both (the paper: 73.04 / 74.22 against 47.28 / 52.54)",
    {"COMET noisy": 0.7304, "Grad-CAM noisy": 0.4728, "COMET background": 0.7422, "Grad-CAM background": 0.5254},
    MAIN,
    lambda r: {f"{label} {kind}": metric_values("robustness", {label: method}, f"pxap_{kind}")(r)[label]
               for label, method in (("COMET", "comet"), ("Grad-CAM", "gradcam")) for kind in ("noisy", "background")},
    all_of(ordering(["COMET noisy", "Grad-CAM noisy"]), ordering(["COMET background", "Grad-CAM background"])),
    note=NOTE + "; PxAP here is ours (per-image, min-max; robustness has no authors' variant yet)",
    missed="the gap is on clean images, not robustness: per-image PxAP clean / noisy / new background is COMET 0.398 / "
           "0.480 / 0.320 and Grad-CAM 0.748 / 0.721 / 0.745 at the chosen t = 0.1; at t = 0.05 COMET's is 0.650 / "
           "0.668 / 0.611, a change from clean (+0.018 noisy, -0.039 background) no worse than Grad-CAM's (-0.027 / "
           "-0.003), but from a lower start (the edge ring and the sweep's budget: comet.pxap's note)."))

register_claim(Claim(
    "comet.random_labels", PAPER, "§4 (data randomisation)",
    "Trained on randomised labels, COMET's maps lose their localisation (IoU-curve AUC falls to ≤ 1/3; the paper's "
    "COMET-DR: 5.83 against 72.5)",
    {"COMET random labels": 0.0583, "COMET": 0.725}, RANDOM_LABELS,
    section_values(real=metric_values(IOU, {"COMET": "comet"}), random=metric_values(IOU, {"COMET random labels": "comet"})),
    ratio("COMET random labels", "COMET", 3),
    note=NOTE + "; " + AUTHORS.format(metric=IOU, how="their calculate_auc, S > 0.9") + "; both fits (real and "
    "randomised labels) measured in the same run on the same metric"))
