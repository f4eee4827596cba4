"""DiET's and InputIBA's claims read their values from results shaped as the services return them
(services.evaluate, region_masking, setting_sweep) and judge them as their checks say: hand-made
results with the README's measured numbers, and ones that break each ordering."""
from __future__ import annotations

from xai_core import reproduce
from xai_core.reproduce import CLAIMS, Verdict
from xai_core.reproduce.entries import diet, inputiba

SANITY_X = [0.0, 1 / 9, 3 / 9, 5 / 9, 7 / 9, 1.0]  # cnn_light: 9 layers in 5 cascade steps


def verdict(claim_id: str, result: dict) -> Verdict:
    return Verdict.of(CLAIMS.get(claim_id), result)


def evaluate_result(values: dict[str, dict[str, object]]) -> dict:
    """services.evaluate's shape: {"results": {method: {metric: value}}} (curves as {"x", "y", "auc"})."""
    return {"dataset": "test", "preset": "quick", "n": 200, "results": values}


def curve(auc: float, x=(0.0, 0.5, 1.0)) -> dict:
    return {"x": list(x), "y": [auc] * len(x), "auc": auc, "n": 32}


def sanity_curve(ys: list[float]) -> dict:
    return {"x": SANITY_X, "y": ys, "auc": sum(ys) / len(ys), "n": 16}


# -- DiET -----------------------------------------------------------------------------------------------
def main_result(iou: dict[str, float], original: float = 0.970, simplified: float = 0.965) -> dict:
    results = {m: {"iou": v, "faithfulness": 1.0, "faithfulness_simplified": None} for m, v in iou.items()}
    results["diet"].update({"faithfulness": original, "faithfulness_simplified": simplified})
    return evaluate_result(results)


README_MAIN = {"diet": 0.308, "fullgrad": 0.241, "gradcam": 0.223, "smoothgrad": 0.318, "gradient": 0.218}


# diet.iou_best and diet.iou_baseline_order: tests/reproduce/test_diet_claims.py


def test_diet_faithfulness_reads_diets_original_and_simplified_agreement():
    v = verdict("diet.faithfulness", main_result(README_MAIN))
    assert v.ours == {"original": 0.970, "simplified": 0.965} and v.holds is True
    v = verdict("diet.faithfulness", main_result(README_MAIN, original=0.97, simplified=0.945))
    assert v.holds is False and "simplified = 0.945 (< 0.95)" in v.reason
    assert verdict("diet.faithfulness", evaluate_result({})).holds is None


def masking_result(f_v: dict[str, list[float]], fractions=(0.2, 0.5, 0.8)) -> dict:
    """services.region_masking's shape."""
    return {"fractions": list(fractions), "n": 200, "fill": "dataset mean colour",
            "models": {"black box": {"distractor": [0.94, 0.89, 0.80], "signal": [0.945, 0.925, 0.88],
                                     "random": [0.92, 0.67, 0.13]},
                       "diet (tuned model)": f_v}}


def test_diet_signal_distractor_reads_f_v_at_20_and_80_percent():
    paper_like = {"distractor": [0.97, 0.96, 0.96], "signal": [0.77, 0.5, 0.34], "random": [0.96, 0.8, 0.59]}
    v = verdict("diet.signal_distractor", masking_result(paper_like))
    assert v.ours == {"distractor 20%": 0.97, "signal 20%": 0.77, "random 20%": 0.96,
                      "distractor 80%": 0.96, "signal 80%": 0.34, "random 80%": 0.59}
    assert v.holds is True
    readme = {"distractor": [0.935, 0.83, 0.75], "signal": [0.95, 0.915, 0.855], "random": [0.905, 0.535, 0.14]}
    v = verdict("diet.signal_distractor", masking_result(readme))
    assert v.ours["signal 80%"] == 0.855 and v.holds is False
    assert "distractor 80% 0.75 vs signal 80% 0.855" in v.reason
    # a run without 80 % (or without DiET's tuned model) is n/a, not a verdict
    assert verdict("diet.signal_distractor", masking_result(readme, (0.2, 0.5, 0.7))).holds is None
    assert verdict("diet.signal_distractor", {"fractions": [0.2, 0.5, 0.8], "models": {}}).holds is None


# diet.mask_scale (1–10 % kept, paired over images): tests/reproduce/test_diet_claims.py


def test_diet_mask_scale_runs_at_quick_and_its_paper_version_at_paper():
    assert diet.SWEEP.presets == ("quick",) and diet.SWEEP_PAPER.presets == ("paper",)
    quick = {c.id for c in reproduce.select(["diet"], "quick")}
    paper = {c.id for c in reproduce.select(["diet"], "paper")}
    assert "diet.mask_scale" in quick - paper and "diet.mask_scale_paper" in paper - quick


def manipulated_result(iou: dict[str, float], original=0.925, simplified=0.90, gradient_iou=0.03) -> dict:
    """evaluate's shape on the manipulated black box, whose record carries its gradient check."""
    results = {m: {"iou": v, "faithfulness": 1.0, "faithfulness_simplified": None} for m, v in iou.items()}
    results["diet"].update({"faithfulness": original, "faithfulness_simplified": simplified})
    check = {"manipulation": 1.0, "manipulation_check": {"gradient_iou": gradient_iou, "target_iou": 0.05}}
    return {**evaluate_result(results), "settings": {"black_box": check}}


README_MANIPULATED = {"diet": 0.254, "smoothgrad": 0.149, "gradcam": 0.186, "gradient": 0.042,
                      "integrated_gradients": 0.029}


def test_diet_manipulated_iou_gradient_breaks_and_diet_stays_best():
    assert diet.MANIPULATED.model == "manipulated"
    v = verdict("diet.manipulated_iou", manipulated_result(README_MANIPULATED))
    assert v.ours == {"DiET": 0.254, "SmoothGrad": 0.149, "Grad-CAM": 0.186, "gradient": 0.042,
                      "Integrated Gradients": 0.029, "black box gradient IoU": 0.03}
    assert v.holds is True
    v = verdict("diet.manipulated_iou", manipulated_result(README_MANIPULATED, gradient_iou=0.124))
    assert v.holds is None and "not verified" in v.reason  # the manipulation did not take: not judged
    # the honest black box's numbers: gradient is not broken (0.218 vs 0.308: 1.4×) and SmoothGrad leads
    honest = {"diet": 0.308, "smoothgrad": 0.318, "gradcam": 0.223, "gradient": 0.218, "integrated_gradients": 0.162}
    v = verdict("diet.manipulated_iou", manipulated_result(honest))
    assert v.holds is False and "SmoothGrad 0.318" in v.reason and "1.4× lower" in v.reason
    assert "--manipulated" in CLAIMS.get("diet.manipulated_iou").measurement.command("quick")


def test_diet_manipulated_faithfulness():
    v = verdict("diet.manipulated_faithfulness", manipulated_result(README_MANIPULATED))
    assert v.ours == {"original": 0.925, "simplified": 0.90, "black box gradient IoU": 0.03} and v.holds is False
    assert verdict("diet.manipulated_faithfulness",
                   manipulated_result(README_MANIPULATED, 0.99, 0.98)).holds is True


def test_diet_spurious_patch_iou_and_faithfulness():
    readme = {"diet": 0.697, "smoothgrad": 0.125, "gradcam": 0.560, "gradient": 0.554}
    result = manipulated_result(readme, 0.965, 0.985)
    v = verdict("diet.spurious_iou", result)
    assert v.ours == {"DiET": 0.697, "SmoothGrad": 0.125, "Grad-CAM": 0.560, "gradient": 0.554} and v.holds is True
    v = verdict("diet.spurious_iou", manipulated_result({**readme, "gradcam": 0.70}))
    assert v.holds is False and "Grad-CAM 0.7" in v.reason
    assert verdict("diet.spurious_iou", manipulated_result({**readme, "diet": 0.55, "gradcam": 0.5,
                                                            "gradient": 0.5})).holds is False  # below 0.6
    v = verdict("diet.spurious_faithfulness", result)
    assert v.ours == {"original": 0.965, "simplified": 0.985} and v.holds is True
    assert CLAIMS.get("diet.spurious_iou").measurement.dataset == "spurious_patch"


# -- InputIBA ---------------------------------------------------------------------------------------------
def natural_result(deletion: dict[str, float], insertion: dict[str, float]) -> dict:
    return evaluate_result({m: {"deletion": curve(deletion[m]), "insertion": curve(insertion[m])} for m in deletion})


README_DELETION = {"input_iba": 0.069, "iba": 0.131, "gradcam": 0.152, "gradient": 0.119,
                   "integrated_gradients": 0.049}
README_INSERTION = {"input_iba": 0.507, "iba": 0.362, "gradcam": 0.328, "gradient": 0.285,
                    "integrated_gradients": 0.289}
PAPER_DELETION = {"input_iba": 0.045, "iba": 0.090, "gradcam": 0.133, "gradient": 0.15, "integrated_gradients": 0.210}


def test_inputiba_deletion_ordering():
    v = verdict("inputiba.deletion", natural_result(PAPER_DELETION, README_INSERTION))
    assert v.ours == {"InputIBA": 0.045, "IBA": 0.090, "Grad-CAM": 0.133, "IG": 0.210, "gradient": 0.15}
    assert v.holds is True and v.reason == "ours: InputIBA < IBA < Grad-CAM < IG"
    v = verdict("inputiba.deletion", natural_result(README_DELETION, README_INSERTION))
    assert v.holds is False and "Grad-CAM 0.152 vs IG 0.049" in v.reason and "InputIBA 0.069 vs" not in v.reason
    assert CLAIMS.get("inputiba.deletion").measurement.dataset == "natural"


def test_inputiba_insertion_ordering():
    v = verdict("inputiba.insertion", natural_result(README_DELETION, README_INSERTION))
    assert v.ours["InputIBA"] == 0.507 and v.ours["IG"] == 0.289 and v.holds is True
    v = verdict("inputiba.insertion", natural_result(README_DELETION, {**README_INSERTION, "gradcam": 0.4}))
    assert v.holds is False and "IBA 0.362 vs Grad-CAM 0.4" in v.reason


def sanity_result(ssim: dict[str, list[float]], sensitivity: dict[str, float]) -> dict:
    return evaluate_result({m: {"sanity": sanity_curve(ssim[m]), "sensitivity_n": curve(sensitivity[m])}
                            for m in ssim})


README_SSIM = {  # after 0, 1, 3, 5, 7, 9 of 9 layers (the README gives 1 / 3 / 5; 7 and 9 made up here)
    "input_iba": [1.0, 0.74, 0.57, 0.43, 0.40, 0.38], "iba": [1.0, 0.64, 0.40, 0.25, 0.2, 0.2],
    "gradcam": [1.0, 0.28, 0.20, 0.27, 0.2, 0.2], "gradient": [1.0, 0.53, 0.28, 0.16, 0.1, 0.1],
    "integrated_gradients": [1.0, 0.50, 0.26, 0.12, 0.1, 0.1], "random": [1.0] * 6}
README_SENSITIVITY = {"input_iba": 0.305, "iba": 0.179, "gradcam": 0.139, "gradient": 0.159,
                      "integrated_gradients": 0.389, "random": 0.0}


def test_inputiba_sanity_reads_ssim_at_half_and_all_layers():
    v = verdict("inputiba.sanity", sanity_result(README_SSIM, README_SENSITIVITY))
    assert v.ours == {"InputIBA": 0.43, "IBA": 0.25, "Grad-CAM": 0.27, "IG": 0.12, "gradient": 0.16, "random": 1.0,
                      "InputIBA, all layers": 0.38}
    assert v.holds is True
    v = verdict("inputiba.sanity", sanity_result({**README_SSIM, "input_iba": [1.0, 0.9, 0.8, 0.7, 0.6, 0.45]},
                                                 README_SENSITIVITY))
    assert v.holds is False and "InputIBA = 0.7 (> 0.5)" in v.reason
    nan = float("nan")
    assert verdict("inputiba.sanity", sanity_result({**README_SSIM, "input_iba": [nan] * 6},
                                                    README_SENSITIVITY)).holds is None


def test_inputiba_sensitivity_n():
    v = verdict("inputiba.sensitivity_n", sanity_result(README_SSIM, README_SENSITIVITY))
    assert v.ours == {"InputIBA": 0.305, "IBA": 0.179, "Grad-CAM": 0.139, "IG": 0.389, "gradient": 0.159}
    assert v.holds is False and "IG 0.389" in v.reason
    v = verdict("inputiba.sensitivity_n", sanity_result(README_SSIM, {**README_SENSITIVITY, "integrated_gradients": 0.1}))
    assert v.holds is True
    assert CLAIMS.get("inputiba.deletion").measurement is CLAIMS.get("inputiba.sensitivity_n").measurement


def test_inputiba_ehr_ordering():
    readme = {"input_iba": 0.318, "iba": 0.187, "gradcam": 0.177, "gradient": 0.141}
    v = verdict("inputiba.ehr", evaluate_result({m: {"ehr": e, "iou": 0.2} for m, e in readme.items()}))
    assert v.ours == {"InputIBA": 0.318, "IBA": 0.187, "Grad-CAM": 0.177, "gradient": 0.141}
    assert v.holds is True
    v = verdict("inputiba.ehr", evaluate_result({m: {"ehr": e} for m, e in {**readme, "gradcam": 0.2}.items()}))
    assert v.holds is False and "IBA 0.187 vs Grad-CAM 0.2" in v.reason
    assert inputiba.LOCALISATION.dataset == "hard_mnist"


def test_measurements_are_shared_and_claims_complete():
    claims = reproduce.select(["diet", "inputiba"], "quick")
    assert len(claims) == 14  # diet.iou_ordering split into diet.iou_best and diet.iou_baseline_order
    assert len(reproduce.measurements(claims)) == 9  # 6 DiET + 3 InputIBA measurements, each run once
    for claim in claims:
        assert claim.measurement.command("quick")
        assert set(claim.paper_values) <= set(claim.values({"results": {}}))
