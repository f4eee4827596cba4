"""1 vs N processes (issue 16): wall time of the same evaluation run as one process and under
``torchrun --standalone --nproc_per_node N``, and how far their results differ.

Usage: PYTHONPATH=. .venv/bin/python scripts/measure_ranks.py [--processes 2] [--json results/ranks.json]
The black box and DiET's fit come from the store (run once before timing: ``--warm`` does that).
``--fit meed [--fit-dataset mnist38] --json results/ranks_fit_meed.json`` times a fit from scratch instead
(data parallel on the ranks) and evaluates each fit alike.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVALUATE = ["evaluate", "--dataset", "hard_mnist", "--preset", "quick", "--device", "cpu",
            "--methods", "diet,gradient,smoothgrad,integrated_gradients,gradcam",
            "--metrics", "iou,deletion,pixel_perturbation", "--num-images", "256"]


def _run(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def _numbers(value, path=""):
    """(path, number) pairs of a nested JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


def measure_fit(method: str, dataset: str, metrics: str, processes: int, out: str) -> None:
    """A fit from scratch as one process and on ``processes`` ranks (each in its own empty cache, the
    black box trained there first, untimed), then the same evaluation of each fit."""
    train = ["train", "--dataset", dataset, "--preset", "quick", "--device", "cpu"]
    evaluate = ["evaluate", "--dataset", dataset, "--preset", "quick", "--device", "cpu", "--methods", method,
                "--metrics", metrics, "--num-images", "200"]
    runs = {}
    for label, launcher in (("1 process", [sys.executable, "-m", "xai_core"]),
                            (f"{processes} processes", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        f"--nproc_per_node={processes}", "-m", "xai_core"])):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XAI_CACHE_DIR"] = cache
            _run([sys.executable, "-m", "xai_core", *train])  # the black box
            seconds = _run([*launcher, *train, "--methods", method])
            _run([sys.executable, "-m", "xai_core", *evaluate, "--json", f"{cache}/eval.json"])
            runs[label] = {"fit_s": round(seconds, 1),
                           "results": json.loads(Path(f"{cache}/eval.json").read_text())["results"][method]}
    del os.environ["XAI_CACHE_DIR"]
    result = {"command": f"python -m xai_core {' '.join(train)} --methods {method}", "evaluated": " ".join(evaluate),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "runs": runs}
    Path(out).write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json", default=str(ROOT / "results" / "ranks.json"))
    parser.add_argument("--warm", action="store_true", help="train what the evaluation needs first (untimed)")
    parser.add_argument("--fit", default=None, metavar="METHOD",
                        help="instead: time a fit of METHOD from scratch, 1 process vs --processes (data parallel)")
    parser.add_argument("--fit-dataset", default="mnist38")
    parser.add_argument("--fit-metrics", default="fs_fu")
    args = parser.parse_args()
    if args.fit:
        return measure_fit(args.fit, args.fit_dataset, args.fit_metrics, args.processes, args.json)
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one.json", Path(tmp) / "many.json"
        if args.warm:
            _run([sys.executable, "-m", "xai_core", *EVALUATE[:-2], "--num-images", "2", "--json", str(one)])
        single_s = _run([sys.executable, "-m", "xai_core", *EVALUATE, "--json", str(one)])
        os.environ["OMP_NUM_THREADS"] = "1"  # torchrun's default per process: the scaling reference
        single_thread_s = _run([sys.executable, "-m", "xai_core", *EVALUATE, "--json", str(one)])
        del os.environ["OMP_NUM_THREADS"]
        ranks_s = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={args.processes}", "-m", "xai_core", *EVALUATE, "--json", str(many)])
        a, b = json.loads(one.read_text()), json.loads(many.read_text())
    pa, pb = dict(_numbers(a["results"])), dict(_numbers(b["results"]))
    diffs = [abs(pa[k] - pb[k]) for k in pa if not (math.isnan(pa[k]) and math.isnan(pb[k]))]
    out = {
        "command": "python -m xai_core " + " ".join(EVALUATE),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "processes": args.processes,
        "one_process_s": round(single_s, 1),
        "one_process_one_thread_s": round(single_thread_s, 1),
        f"{args.processes}_processes_s": round(ranks_s, 1),
        "speedup": round(single_s / ranks_s, 2),
        "speedup_over_one_thread": round(single_thread_s / ranks_s, 2),
        "results_equal": a["results"] == b["results"],
        "max_abs_difference": max(diffs),
        "values_compared": len(diffs),
        "same_keys": pa.keys() == pb.keys(),
        "one_process_results": a["results"],
    }
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "one_process_results"}, indent=2))


if __name__ == "__main__":
    main()
