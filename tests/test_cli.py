"""CLI round trips on the smoke preset, and bad input: exit status 2 with one line on stderr."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from xai_core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_datasets_and_methods_json(capsys):
    code, out, _ = run(capsys, "datasets", "--json")
    assert code == 0
    names = [d["name"] for d in json.loads(out)]
    for n in ["hard_mnist", "spurious_patch", "mnist", "mnist38", "fashion_mnist", "parts", "natural"]:
        assert n in names
    code, out, _ = run(capsys, "methods", "--json")
    methods = {m["name"]: m["kind"] for m in json.loads(out)}
    assert methods["gradient"] == "post-hoc" and methods["random"] == "reference"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--dataset", "nope", "--methods", "gradient", "--metrics", "iou", "--json", "x.json"], "unknown dataset 'nope'"),
        (["evaluate", "--dataset", "hard_mnist", "--methods", "nope", "--metrics", "iou", "--json", "x.json"], "unknown method 'nope'"),
        (["evaluate", "--dataset", "hard_mnist", "--methods", "gradient", "--metrics", "nope", "--json", "x.json"], "unknown metric 'nope'"),
        (["explain", "--dataset", "imagefolder:/does/not/exist", "--index", "0", "--methods", "gradient", "--out", "o"], "/does/not/exist"),
        (["evaluate", "--dataset", "mnist", "--preset", "smoke", "--methods", "gradient", "--metrics", "iou", "--json", "x.json"], "ground-truth"),
        (["ablate", "--dataset", "hard_mnist", "--methods", "gradient", "--factors", "2,x", "--json", "x.json"], "--factors"),
        (["ablate", "--dataset", "mnist", "--methods", "gradient", "--metric", "mass_in_signal", "--json", "x.json"], "ground-truth"),
        (["signal_distractor", "--dataset", "mnist", "--json", "x.json"], "ground-truth"),
        (["signal_distractor", "--dataset", "hard_mnist", "--fractions", "0.2,2", "--json", "x.json"], "--fractions"),
        (["evaluate", "--dataset", "hard_mnist", "--methods", "dorar", "--metrics", "hit_rate", "--units", "5",
          "--json", "x.json"], "unit size 5 does not divide"),
        (["train", "--dataset", "mnist", "--methods", "dorar", "--n-e", "50"], "n_e must be 1–49"),
        (["evaluate", "--dataset", "parts", "--methods", "gradient", "--metrics", "pxap", "--randomize-labels",
          "--json", "x.json"], "randomised labels refit trained methods"),
        (["evaluate", "--dataset", "parts", "--methods", "gradient", "--metrics", "pxap", "--set", "comet.t=0.03",
          "--json", "x.json"], "'comet' is not among --methods"),
        (["evaluate", "--dataset", "parts", "--methods", "comet", "--metrics", "pxap", "--set", "comet.tau=1",
          "--json", "x.json"], "comet has no setting 'tau'"),
        (["train", "--dataset", "parts", "--methods", "comet", "--set", "comet.t"], "METHOD.SETTING=VALUE"),
        (["evaluate", "--dataset", "mnist38", "--methods", "gradient", "--metrics", "sen", "--metric-set",
          "sen.norm=false", "--json", "x.json"], "metric 'sen' has no setting norm"),
        (["evaluate", "--dataset", "mnist38", "--methods", "gradient", "--metrics", "sen", "--metric-set",
          "fs_fu.k=5", "--json", "x.json"], "'fs_fu' is not among --metrics"),
        (["evaluate", "--dataset", "mnist38", "--methods", "meed", "--metrics", "fs_fu", "--set", "meed.k=900",
          "--json", "x.json"], "k = 900 features asked"),
        (["evaluate", "--dataset", "mnist", "--methods", "meed", "--metrics", "fs_fu", "--set", "meed.adversary=flip",
          "--json", "x.json"], "needs a binary task"),
        (["ablate", "--dataset", "mnist38", "--methods", "gradient", "--components", "--metric", "fs_fu",
          "--json", "x.json"], "gradient declares no components to ablate"),
        (["reproduce", "--papers", "nope", "--json", "x.json"], "unknown paper 'nope'"),
        (["evaluate", "--dataset", "hard_mnist", "--methods", "gradient", "--metrics", "iou", "--target", "pred",
          "--json", "x.json"], "the class explained is one of top1, label, not 'pred'"),
        (["ablate", "--dataset", "hard_mnist", "--methods", "gradient", "--target", "", "--json", "x.json"],
         "the class explained is one of top1, label"),
        (["reproduce", "--claims", "meed.nope", "--json", "x.json"], "unknown claim 'meed.nope'"),
    ],
)
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_explain_round_trip(capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "3",
                       "--methods", "ground_truth,gradient,gradcam", "--out", str(out))
    assert code == 0, err
    manifest = json.loads((out / "explanation.json").read_text())
    assert manifest["samples"][0]["index"] == 3
    assert set(manifest["samples"][0]["methods"]) == {"ground_truth", "gradient", "gradcam"}
    for name in ["00003_image.png", "00003_ground_truth.png", "00003_gradcam_heatmap.png", "00003_gradient_overlay.png"]:
        assert (out / name).stat().st_size > 100
    import numpy as np

    scores = np.load(out / "00003_scores.npz")
    assert scores["gradient"].shape == (32, 32)


def test_explain_index_out_of_range(capsys, tmp_path):
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "999999",
                       "--methods", "gradient", "--out", str(tmp_path / "o"))
    assert code == 2 and "out of range" in err


def test_evaluate_json_shape_and_reference_bounds(capsys, tmp_path):
    path = tmp_path / "eval.json"
    code, _, err = run(capsys, "evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods",
                       "ground_truth,random,gradient", "--metrics", "iou,pixel_perturbation,deletion", "--n", "24",
                       "--json", str(path))
    assert code == 0, err
    result = json.loads(path.read_text())
    assert result["dataset"] == "hard_mnist" and result["preset"] == "smoke" and result["n"] == 24
    assert set(result["results"]) == {"ground_truth", "random", "gradient"}
    gt, rnd = result["results"]["ground_truth"], result["results"]["random"]
    assert gt["iou"] == pytest.approx(1.0)
    assert rnd["iou"] < 0.4
    curve = gt["pixel_perturbation"]
    assert len(curve["x"]) == len(curve["y"]) and 0 <= curve["auc"] <= 1
    assert "fill" in result["settings"] and "deletion" in result["settings"]["metrics"]


def test_target_reaches_the_evaluation_and_the_ablation(capsys, tmp_path):
    """--target (default top1) is the class every map explains; the JSON says which."""
    def evaluate(*extra: str) -> dict:
        path = tmp_path / "eval.json"
        code, _, err = run(capsys, "evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "gradient",
                           "--metrics", "deletion", "--n", "8", "--json", str(path), *extra)
        assert code == 0, err
        return json.loads(path.read_text())

    top1, label = evaluate(), evaluate("--target", "label")
    assert (top1["settings"]["target"], label["settings"]["target"]) == ("top1", "label")
    # the smoke black box's top-1 is mostly not the label: deletion scores another class's softmax
    assert top1["results"]["gradient"]["deletion"]["auc"] != label["results"]["gradient"]["deletion"]["auc"]
    out = tmp_path / "ablation.json"
    code, _, err = run(capsys, "ablate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "gradient",
                       "--metric", "deletion", "--factors", "1", "--n", "8", "--target", "label", "--json", str(out))
    assert code == 0, err
    assert json.loads(out.read_text())["runs"]["1"]["settings"]["target"] == "label"


def test_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xai_core", "methods"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "integrated_gradients" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "xai_core", "train", "--dataset", "nope"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "unknown dataset" in proc.stderr


def test_user_model(capsys, tmp_path):
    """--model explains a user's ONNX classifier; a file we will not run is one clear line."""
    from model_files import onnx_cnn

    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_cnn(channels=3))
    out = tmp_path / "out"
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                       "--methods", "gradient", "--model", str(path), "--out", str(out))
    assert code == 0, err
    assert (out / "00000_gradient_heatmap.png").exists()
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                       "--methods", "fullgrad", "--model", str(path), "--out", str(out))
    assert code == 2 and "user models" in err

    bad = tmp_path / "state.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                       "--methods", "gradient", "--model", str(bad), "--out", str(out))
    assert code == 2 and "not a TorchScript model" in err and err.count("\n") == 1 and str(tmp_path) not in err


def test_outputs_and_cache_are_checked_before_any_work(capsys, tmp_path, monkeypatch):
    """An unwritable --json / --out, a cache folder that is a file: one line at once, nothing left behind."""
    folder = tmp_path / "taken"
    folder.mkdir()
    code, _, err = run(capsys, "evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "random",
                       "--metrics", "iou", "--n", "2", "--json", str(folder))
    assert code == 2 and "is a directory" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no taken.tmp
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0",
                       "--methods", "random", "--out", str(blocker / "sub"))
    assert code == 2 and "not a writable folder" in err
    monkeypatch.setenv("XAI_CACHE_DIR", str(blocker))
    code, _, err = run(capsys, "train", "--dataset", "hard_mnist", "--preset", "smoke")
    assert code == 2 and "not a directory" in err and err.count("\n") == 1



def test_train_pretrained_black_box_reports_no_accuracy(capsys):
    """`natural` uses the pretrained ImageNet model: nothing is trained and no accuracy is invented."""
    code, out, err = run(capsys, "train", "--dataset", "natural", "--preset", "smoke")
    assert code == 0, err
    assert "pretrained, nothing to train" in out


def test_ablate_writes_the_sweep(capsys, tmp_path):
    out = tmp_path / "ablation.json"
    code, stdout, err = run(capsys, "ablate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods",
                            "gradient", "--metric", "deletion", "--factors", "1,4", "--n", "8", "--json", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["factors"] == [1, 4] and set(result["summary"]["gradient"]) == {"1", "4"}
    assert "gradient: u=1:" in stdout


def test_evaluate_prints_na_for_metrics_a_method_cannot_score(capsys, tmp_path):
    out = tmp_path / "e.json"
    code, stdout, err = run(capsys, "evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "gradient",
                            "--metrics", "faithfulness,faithfulness_simplified,deletion", "--n", "4", "--json", str(out))
    assert code == 0, err
    assert "faithfulness=1.0000" in stdout and "faithfulness_simplified=n/a" in stdout and "(AUC)" in stdout
    assert json.loads(out.read_text())["results"]["gradient"]["faithfulness_simplified"] is None


def test_evaluate_units_reach_dorar_and_the_unit_metrics(capsys, tmp_path):
    out = tmp_path / "e.json"
    code, stdout, err = run(capsys, "evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods",
                            "gradient,dorar", "--metrics", "hit_rate", "--units", "16", "--n-e", "2", "--n", "4",
                            "--json", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["settings"]["metrics"]["hit_rate"]["n_e"] == 2 and result["settings"]["metrics"]["hit_rate"]["units"] == 16
    dorar = result["settings"]["methods"]["dorar"]
    assert dorar["n_e"] == 2 and dorar["units"] == 16 and dorar["unit_grid"].endswith("units of 16×16 px")
    assert all(0.0 <= result["results"][m]["hit_rate"] <= 1.0 for m in ("gradient", "dorar"))
    assert "dorar: hit_rate=" in stdout


def test_values_print_by_their_kind():
    from xai_core.cli import _short
    from xai_core.metrics import value_from_json

    seeded = value_from_json("a1a2", {"a1": 0.8, "a1_std": 0.01, "a1_seeds": [0.8], "seeds": 1, "n": 5,
                                      "a2": 0.2, "a2_std": 0.02, "a2_seeds": [0.2]})
    assert _short(seeded) == "a1 0.8000±0.0100 a2 0.2000±0.0200"
    group = value_from_json("robustness", {"pxap_clean": 0.6, "pxap_clean_std": 0.1, "pxap_clean_n": 4,
                                           "pxap_background": None, "pxap_background_std": None,
                                           "pxap_background_n": 0, "n": 4})
    assert _short(group) == "pxap_clean 0.6000±0.1000 pxap_background n/a"
    unscored = value_from_json("deletion", {"x": [0, 0.5, 1], "y": [None] * 3, "auc": None, "n": 0})
    assert _short(unscored) == "n/a" and _short(value_from_json("deletion", {"x": [0, 1], "y": [1, 0],
                                                                             "auc": 0.25})) == "0.2500 (AUC)"
    assert _short(value_from_json("iou", None, {"mean": None, "std": None, "n": 0})) == "n/a"
    assert _short(value_from_json("iou", 0.5)) == "0.5000" and _short(0.5) == "0.5000" and _short(None) == "n/a"


def test_ablate_sweeps_a_method_setting(capsys, tmp_path):
    out = tmp_path / "sweep.json"
    code, stdout, err = run(capsys, "ablate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "diet",
                            "--sweep", "u=4,8", "--metric", "iou", "--n", "8", "--json", str(out),
                            "--examples", str(tmp_path / "ex"), "--index", "3")
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["setting"] == "u" and set(result["summary"]["diet"]) == {"4", "8"}
    assert result["runs"]["diet"]["4"]["settings"]["methods"]["diet (u = 4)"]["u"] == 4
    assert "diet: u=4:" in stdout
    for u, cells in (4, "8×8"), (8, "4×4"):  # each value's own mask of sample 3
        folder = tmp_path / "ex" / f"diet_u={u}"
        assert (folder / "00003_diet_selection.png").exists()
        manifest = json.loads((folder / "explanation.json").read_text())
        assert manifest["samples"][0]["index"] == 3 and manifest["samples"][0]["methods"]["diet"]["mask_resolution"] == cells
    code, _, err = run(capsys, "ablate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "gradient",
                       "--sweep", "u=4", "--json", str(out))
    assert code == 2 and "no sweepable setting 'u'" in err


def test_signal_distractor_writes_table_6(capsys, tmp_path):
    """Signal vs distractor for the black box and DiET's tuned model: with nothing erased every region
    scores the model's plain accuracy on those images (the erasure itself: test_diet)."""
    from xai_core import services

    out = tmp_path / "masking.json"
    code, stdout, err = run(capsys, "signal_distractor", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "diet",
                            "--fractions", "0,1", "--n", "16", "--json", str(out))
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["fractions"] == [0.0, 1.0] and result["n"] == 16
    assert set(result["models"]) == {"black box", "diet (tuned model)"}
    for regions in result["models"].values():
        assert set(regions) == {"distractor", "signal", "random"}
        assert len({accs[0] for accs in regions.values()}) == 1  # fraction 0: the same unmasked images
    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    batch = ctx.test.batch(list(range(16)))
    with torch.no_grad():
        accuracy = float((ctx.black_box(batch.x).argmax(1) == batch.y).float().mean())
    assert result["models"]["black box"]["signal"][0] == pytest.approx(accuracy)
    assert "model=diet (tuned model), masked=signal" in stdout


def test_evaluate_prints_metrics_without_ground_truth_as_n_a_with_the_reason(capsys, tmp_path, monkeypatch):
    """mnist has no masks: iou is n/a (not an error) as long as another metric applies."""
    from xai_core import cli, services

    seen = {}

    def fake_evaluate(ctx, methods, metrics, n, **kwargs):
        seen["metrics"] = metrics
        return {"results": {"gradient": {"iou": None, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.5}}},
                "settings": {"not_applicable": {"iou": "mnist has no ground-truth masks"}}}

    monkeypatch.setattr(cli, "_load_context", lambda args: None)  # nothing trained or loaded
    monkeypatch.setattr(services, "evaluate", fake_evaluate)
    out = tmp_path / "e.json"
    code, stdout, err = run(capsys, "evaluate", "--dataset", "mnist", "--preset", "smoke", "--methods", "gradient",
                            "--metrics", "iou,deletion", "--json", str(out))
    assert code == 0, err
    assert seen["metrics"] == ["iou", "deletion"]
    assert "gradient: iou=n/a (mnist has no ground-truth masks), deletion=0.5000 (AUC)" in stdout
    assert json.loads(out.read_text())["results"]["gradient"]["iou"] is None


def test_reproduce_report_only_judges_the_cache_without_running(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = run(capsys, "reproduce", "--papers", "meed", "--report-only", "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and {r["paper"] for r in report["claims"]} == {"meed"}
    assert all(r["status"] == "missing" and r["holds"] is None for r in report["claims"])
    assert "[n/a] meed.mnist_fidelity (Table 3)" in out and "0 of 4 claims hold at preset quick" in out


def test_component_ablation_prints_each_variant_by_kind(capsys, tmp_path, monkeypatch):
    """The committed MEED Table 2 run, printed as the CLI prints a fresh one (group scores ± std)."""
    from pathlib import Path

    from xai_core import cli, services

    stored = json.loads((Path(__file__).resolve().parents[1] / "results" / "meed_ablation_mnist38_quick.json")
                        .read_text())
    monkeypatch.setattr(cli, "_load_context", lambda args: None)  # nothing trained or loaded
    monkeypatch.setattr(services, "component_ablation", lambda ctx, method, metrics, n, progress, target: stored)
    out = tmp_path / "c.json"
    code, stdout, err = run(capsys, "ablate", "--dataset", "mnist38", "--preset", "smoke", "--methods", "meed",
                            "--components", "--metric", "fs_fu", "--json", str(out))
    assert code == 0, err
    lines = stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == list(stored["results"])
    fs_fu = stored["results"]["meed"]["fs_fu"]
    assert lines[0] == "meed: fs_fu=" + " ".join(f"{k} {fs_fu[k]:.4f}±{fs_fu[k + '_std']:.4f}"
                                                for k in ("fs_m", "fu_m", "fs_a", "fu_a"))
    assert json.loads(out.read_text()) == stored
