"""``torchrun -m xai_core evaluate`` on 2 CPU processes (gloo) writes the single process's JSON."""
from __future__ import annotations

import json

import pytest

from tests.torchrun import errors, torchrun
from xai_core import cli

METHODS = "gradient,smoothgrad,integrated_gradients,random,diet"
METRICS = "iou,deletion,pixel_perturbation"


def _evaluate(json_path, n: int = 24) -> list[str]:
    return ["evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", METHODS, "--metrics", METRICS,
            "--num-images", str(n), "--json", str(json_path)]


def test_two_processes_write_the_single_process_result(tmp_path):
    proc = torchrun(_evaluate(tmp_path / "two.json"))  # DiET is fitted by both ranks together if not cached
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cli.main([*_evaluate(tmp_path / "one.json"), "--device", "cpu"]) == 0
    one, two = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("one", "two"))
    assert two["settings"].pop("processes") == 2
    assert two["n"] == one["n"] == 24
    assert set(two["results"]) == set(METHODS.split(","))
    _assert_close(two["results"], one["results"])  # scalars and curves, per method and metric
    _assert_close(two["spread"], one["spread"])
    for run in (one, two):  # whether this run found the black box cached describes the run, not the result
        run["settings"]["black_box"].pop("from_cache")
    assert two["settings"] == one["settings"]


def _assert_close(a, b, where: str = "") -> None:
    """Equal structure; numbers equal up to float rounding."""
    if isinstance(b, dict):
        assert set(a) == set(b), where
        for k in b:
            _assert_close(a[k], b[k], f"{where}/{k}")
    elif isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6, nan_ok=True), where
    else:
        assert a == b, where


def test_more_processes_than_images_is_one_line_and_writes_nothing(tmp_path):
    proc = torchrun(_evaluate(tmp_path / "out.json", n=1))
    assert proc.returncode != 0
    assert errors(proc) == ["error: 2 processes for --num-images 1: start at most one process per image"]
    assert not (tmp_path / "out.json").exists()


def test_a_failing_rank_ends_the_job_naming_it_and_writes_nothing(tmp_path):
    proc = torchrun(_evaluate(tmp_path / "out.json"), fault="shard")
    assert proc.returncode != 0
    assert "error: rank 1 stopped: RuntimeError: injected failure" in errors(proc), proc.stderr[-3000:]
    assert not (tmp_path / "out.json").exists()
