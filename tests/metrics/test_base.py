"""The metric interface: registry, parameters vs notes, describe(), aggregation and AUCs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from xai_core.errors import XAIError
from xai_core.metrics import METRICS
from xai_core.metrics.base import aggregate, evaluate_metric, merge_batches, normalised_auc, summary

from .helpers import make_inputs

#: describe(fill=[0.5]) of every metric, captured before parameters and notes were split; the changes
#: since: batch_size, 64 then, is chosen for throughput now ("auto: …"); issue 26: a1a2's controls and
#: CE / ln 10, sen's explained output, the COMET authors' variants
DESCRIBE = json.loads((Path(__file__).parent / "describe.json").read_text(encoding="utf-8"))


def test_describe_is_pinned_for_every_metric_in_registration_order():
    assert list(METRICS) == list(DESCRIBE)
    for name in METRICS:
        assert json.loads(json.dumps(METRICS.get(name).describe(fill=[0.5]), allow_nan=False)) == DESCRIBE[name]


def test_parameters_and_notes_are_apart_and_read_only():
    for name in METRICS:
        m = METRICS.get(name)
        assert not set(m.parameters) & set(m.notes) and all(isinstance(v, str) for v in m.notes.values())
        assert dict(m.settings) == {**m.parameters, **m.notes}
    de = METRICS.get("deletion")
    assert de.parameters["batch_size"] is None and de.describe(batch_size=8)["batch_size"] == 8
    assert de.describe()["batch_size"].startswith("auto")
    with pytest.raises(XAIError, match="no setting score"):  # notes describe; they cannot be overridden
        de(make_inputs(3), score="logit")
    with pytest.raises(TypeError):
        de.notes["score"] = "logit"
    with pytest.raises(ValueError, match="both parameter and note"):
        type(de)(name="x", kind="scalar", needs_ground_truth=False, fn=de.fn, primary="x",
                 parameters={"a": 1}, notes={"a": "b"})


def test_normalised_auc_of_constant_and_linear_curves():
    x = torch.linspace(0, 1, 11)
    assert torch.allclose(normalised_auc(x, torch.full((3, 11), 0.7)), torch.full((3,), 0.7, dtype=torch.float64))
    xs = torch.tensor([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    assert float(normalised_auc(xs, torch.full((7,), 0.4))) == pytest.approx(0.4)
    assert float(normalised_auc(xs.flip(0), xs.flip(0))) == pytest.approx(0.505)  # unsorted x is sorted
    assert float(normalised_auc(x, x)) == pytest.approx(0.5)


def test_registry_names_settings_and_aggregation():
    for name in ("iou", "pxap", "pixel_perturbation", "deletion", "insertion"):
        assert name in METRICS and METRICS.describe(name)
    pp, de, ins = METRICS.get("pixel_perturbation"), METRICS.get("deletion"), METRICS.get("insertion")
    assert pp.parameters["fill"] == "dataset_mean" and pp.notes["score"] == "accuracy vs labels"
    assert "agreement with model" in pp.notes["agreement"]
    assert de.notes["score"] == ins.notes["score"] == "softmax probability of target"
    assert "steps" in de.parameters and "blur_sigma" in ins.parameters
    assert pp.describe(fill=torch.tensor([0.2]))["fill_value"] == pytest.approx([0.2])

    batches = [make_inputs(1), make_inputs(2)]
    for name in METRICS:
        metric = METRICS.get(name)
        if metric.kind == "seeded" or name == "sen":  # trains generators per seed: tests/metrics/test_units.py;
            continue  # sen re-explains noisy images (no explain_again here): tests/metrics/test_fidelity.py
        over = {"steps": 5} if "steps" in metric.parameters else {}
        if name == "fs_fu":  # no approximators here (they train on a training split): the black box's scores
            over = {"approximators": False}
        result, per_image = evaluate_metric(name, batches, **over)
        json.dumps({name: result, "settings": metric.describe(fill=[0.2], **over)}, allow_nan=False)
        if name == "faithfulness_simplified":  # these inputs carry no binary selection: nothing to score
            assert result is None and per_image[metric.primary].isnan().all()
        elif metric.kind == "scalar":
            assert isinstance(result, float) and per_image[metric.primary].shape == (6,)
            assert summary(metric, per_image)["n"] <= 6
        elif name == "sanity":  # no reexplain in these inputs: NaN curves (tests/metrics/test_sanity.py)
            assert result["n"] == 0 and result["auc"] is None and len(result["y"]) == len(result["x"])
        elif name == "fs_fu":  # agreements of the black box on the top-k features / the rest
            assert set(result) >= {"fs_m", "fu_m"} and "fs_a" not in result and result["n"] == 6
            assert 0.0 <= result["fs_m"] <= 1.0 and 0.0 <= result["fu_m"] <= 1.0
        elif metric.kind == "group":  # robustness: no explain_again in these inputs, so only the clean PxAP
            assert result["pxap_clean"] is not None and result["pxap_noisy"] is None and result["n"] == 0
            assert summary(metric, per_image) == {"mean": None, "std": None, "n": 0}
        elif name == "sensitivity_n":  # a correlation; NaN where the one-pixel model ignores every set
            assert result["n"] <= 6 and -1.0 <= result["auc"] <= 1.0 and result["x"] == sorted(result["x"])
        else:
            assert {"x", "y", "auc", "std", "n"} <= set(result) and result["n"] == 6
            assert result["x"] == sorted(result["x"]) and len(result["y"]) == len(result["x"])
            assert 0.0 <= result["auc"] <= 1.0
    # pixel perturbation: agreement curve and AUC come along; at x = 1 agreement is 1
    res, _ = evaluate_metric("pixel_perturbation", batches)
    assert res["agreement"][-1] == 1.0 and "agreement_auc" in res and res["x"][-1] == 1.0
    # aggregate of a merged dict equals aggregate over the concatenated batches
    parts = [METRICS.get("iou")(b) for b in batches]
    assert aggregate(METRICS.get("iou"), merge_batches(parts)) == pytest.approx(
        float(torch.cat([p["iou"] for p in parts]).nanmean())
    )


def test_registry_errors():
    with pytest.raises(XAIError, match="ground-truth"):
        METRICS.get("iou")(make_inputs(3, masks=False))
    with pytest.raises(XAIError, match="no setting"):
        METRICS.get("deletion")(make_inputs(3), stepz=3)
    with pytest.raises(XAIError):
        METRICS.get("nope")
    with pytest.raises(XAIError):
        METRICS.get("deletion")(make_inputs(3), fill="median", steps=3)
    with pytest.raises(TypeError):  # defaults are read-only
        METRICS.get("deletion").parameters["steps"] = 3


def test_registry_overrides_take_real_values():
    inp = make_inputs(4)
    a = METRICS.get("deletion")(inp, steps=5, fill=0.2, batch_size=2)
    b = METRICS.get("deletion")(inp, steps=5, fill=[0.2])
    assert torch.allclose(a["probability"], b["probability"]) and a["probability"].shape == (3, 5)
    pp = METRICS.get("pixel_perturbation")(inp, fractions=[1, 0.5, 0.1])
    assert pp["x"].tolist() == [1.0, 0.5, 0.1]
    ins = METRICS.get("insertion")(inp, steps=3, blur_sigma=1.5, blur_kernel=5)
    assert ins["probability"].shape == (3, 3)
    assert METRICS.get("pxap")(inp, thresholds=None)["pxap"].shape == (3,)


def test_metrics_are_listed_diet_first_then_inputiba_then_dorar_then_comet_then_meed():
    from xai_core.metrics import METRICS

    assert METRICS.names() == ["iou", "pxap", "mass_in_signal", "pixel_perturbation", "pixel_perturbation_black_box",
                               "faithfulness", "faithfulness_simplified", "deletion", "insertion", "ehr",
                               "sensitivity_n", "sanity", "a1a2", "hit_rate", "fidelity_removal", "iou_curve",
                               "robustness", "pxap_pooled", "iou_share_curve", "fidelity_removal_fp", "fs_fu", "sen"]
