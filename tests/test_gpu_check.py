"""scripts/gpu_summary.py, the helper of scripts/gpu_check.sh: the one JSON built from sample step outputs,
the bounded black-box schedule of its ``xai`` wrapper, and the device-like import hiding of the smoke run.
(The script itself runs on the GPU machine, or tiny on CPU by hand: no test runs it.)"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gs():
    spec = importlib.util.spec_from_file_location("gpu_summary", ROOT / "scripts" / "gpu_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sample_outputs(folder: Path) -> None:
    (folder / "steps.tsv").write_text("setup\t9.2\t0\t60\ntests\t31.0\t0\t90\nblackbox\t70.4\t0\t120\n"
                                      "bench\t180.0\t124\t180\nevaluate\t0\t125\t0\n")
    (folder / "bench.log").write_text("bench: 10%\rbench: 50%\r\nloading natural\n")
    (folder / "tests.log").write_text(
        "..F.s.\n=========================== short test summary info ============================\n"
        "SKIPPED [1] tests/models/test_models.py:258: no CUDA device\n"
        "FAILED tests/metrics/test_removal.py::test_x[cuda] - AssertionError: boom\n"
        "1 failed, 10 passed, 1 skipped, 48 deselected in 12.34s\n")
    (folder / "machine.json").write_text(json.dumps({"gpu": {"name": "NVIDIA H200"}, "torch": "2.11.0"}))
    (folder / "settings.json").write_text(json.dumps({"scale": "paper", "preset": "paper"}))
    (folder / "bench.json").write_text(json.dumps({
        "ms_per_image": {"hard_mnist@224px": {"gradient": 2.0, "lime": 40.0},
                         "natural@224px": {"gradient": 4.0}, "hard_mnist@32px": {"gradient": 50.0}},
        "metric_throughput": {"dataset": "natural@224px", "model_images_per_second": 5000.0,
                              "metrics": {"deletion": {"forwards": 900, "seconds": 0.2, "forwards_per_second": 4500.0,
                                                       "ratio": 0.9}}},
        "seconds_per_image_224px": {"iba@paper": {"B=1": 0.5, "B=16": 0.05},
                                    "input_iba@paper": {"B=1": 6.0, "B=16": 0.8}},
    }))
    (folder / "blackbox.log").write_text("black box for hard_mnist (paper): test accuracy 0.9120\n")
    (folder / "peers.json").write_text(json.dumps({"peers": {"repeats": 5, "sizes": {"64": {"methods": {
        "gradient": {"ratio": 0.98}}}}}}))


def test_build_gathers_steps_tests_bench_and_targets(gs, tmp_path):
    _sample_outputs(tmp_path)
    summary = gs.build(tmp_path)
    assert [s["step"] for s in summary["steps"]] == ["setup", "tests", "blackbox", "bench", "evaluate"]
    bench_step = summary["steps"][3]
    assert bench_step["timed_out"] and not bench_step["ok"] and bench_step["log_tail"][-1] == "loading natural"
    assert "log_tail" not in summary["steps"][0] and summary["total_seconds"] == pytest.approx(290.6)
    assert summary["ok"] is False  # a step timed out, another was skipped
    tests = summary["tests"]
    assert (tests["passed"], tests["failed"], tests["skipped"], tests["deselected"]) == (10, 1, 1, 48)
    assert tests["seconds"] == 12.34 and tests["failures"] == ["tests/metrics/test_removal.py::test_x[cuda]"]
    assert not tests["ok"] and tests["skips"] == ["SKIPPED [1] tests/models/test_models.py:258: no CUDA device"]
    targets = summary["targets"]
    assert targets["input_iba@paper s/image"]["met"] is True  # 0.8 s ≤ 1 s at B = 16
    assert "met" not in targets["iba@paper s/image"]
    rates = targets["hard_mnist@224px images/s"]
    assert rates["images_per_second"] == {"gradient": 500.0, "lime": 25.0} and rates["below_target"] == ["lime"]
    assert "hard_mnist@32px images/s" not in targets  # only 224 px is held to the target
    assert targets["deletion forwards/s"]["forwards_per_second"] == 4500.0
    assert summary["machine"]["gpu"]["name"] == "NVIDIA H200" and summary["settings"]["preset"] == "paper"
    assert summary["black_box"] == {"dataset": "hard_mnist", "preset": "paper", "test_accuracy": 0.912}
    assert summary["evaluate"] is None and summary["evaluate_headline"] == {}
    assert summary["peers"]["sizes"]["64"]["methods"]["gradient"]["ratio"] == 0.98  # the peers step's section
    json.dumps(summary)  # JSON-able


def test_build_cli_writes_one_json_and_fails_with_a_failed_step(gs, tmp_path, capsys):
    _sample_outputs(tmp_path)
    out = tmp_path / "out" / "gpu_check.json"
    out.parent.mkdir()
    assert gs.main(["build", "--dir", str(tmp_path), "--json", str(out)]) == 1
    assert json.loads(out.read_text())["steps"][1]["seconds"] == 31.0
    printed = capsys.readouterr().out
    assert "bench" in printed and "(timed out)" in printed and "input_iba@paper" in printed
    (tmp_path / "steps.tsv").write_text("setup\t9.2\t0\t60\n")
    assert gs.main(["build", "--dir", str(tmp_path), "--json", str(out)]) == 0


def test_input_iba_target_is_not_judged_off_the_paper_preset(gs):
    targets = gs.targets({"seconds_per_image_224px": {"input_iba@smoke": {"B=2": 0.1}}})
    assert targets["input_iba@smoke s/image"]["met"] is None


def test_xai_bounds_the_black_box_schedule_for_that_run(gs, monkeypatch, capsys):
    from xai_core.models import training

    key = ("hard_mnist", "paper")
    monkeypatch.setitem(training.TRAIN_TABLE, key, training.TRAIN_TABLE[key])  # restored after the test
    full = training.train_config(*key)
    assert gs.main(["xai", "--black-box-epochs", "3", "--", "methods", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)  # the CLI ran
    assert training.train_config(*key) == training.TrainConfig(**{**full.__dict__, "epochs": 3})
    assert training.train_config("hard_mnist", "quick").epochs == training.TRAIN_TABLE[("hard_mnist", "quick")].epochs


def test_device_like_hides_local_packages_unless_carried(gs, tmp_path):
    gs.device_like(tmp_path / "hide")
    carried = tmp_path / "site" / "pytest"  # a package that is here; the carried copy is an empty stand-in
    carried.mkdir(parents=True)
    (carried / "__init__.py").write_text("CARRIED = True\n")
    code = ("import importlib.util as u; import pytest; print(getattr(pytest, 'CARRIED', False), "
            "u.find_spec('captum') is None)")
    env = {"PYTHONPATH": f"{tmp_path / 'site'}:{tmp_path / 'hide'}", "GPU_CHECK_HIDE": "pytest,captum",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_headline_takes_each_metric_number_or_curve_auc(gs):
    evaluate = {"results": {"diet": {"iou": 0.31234567, "pixel_perturbation": {"x": [0.1], "y": [0.5], "auc": 0.8}}},
                "ms_per_image": {"diet": 12.5}}
    assert gs.headline(evaluate) == {"diet": {"iou": 0.3123, "pixel_perturbation": 0.8, "ms_per_image": 12.5}}
