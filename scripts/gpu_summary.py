"""Helpers of scripts/gpu_check.sh (the one-call GPU check).

``python scripts/gpu_summary.py xai [--black-box-epochs N --black-box DATASET@PRESET] -- CLI ARGS``
    runs ``python -m xai_core CLI ARGS`` with the black box of DATASET at PRESET trained for at most N
    epochs instead of its table's (hard_mnist at paper: 30 epochs of a ResNet-18 on 8,000 images
    rendered at 224 px, about ten minutes; the check has eight in all). The shorter schedule is its
    own store entry (the epochs are part of the key), so every step that runs through this wrapper
    with the same N shares it, and a full-schedule black box elsewhere is never touched.

``python scripts/gpu_summary.py machine --json PATH [--device cuda]``
    machine, GPU and package versions (the carried wheels and xai_core must import); exits non-zero when
    ``--device cuda`` and no CUDA device is there.

``python scripts/gpu_summary.py device-like DIR``
    writes DIR/sitecustomize.py: with DIR on PYTHONPATH, the packages named in $GPU_CHECK_HIDE are not
    imported from this python's own site-packages, as on the GPU machine, which lacks them: only from
    the carried wheels' site folder (the smoke run proves the wheels are enough).

``python scripts/gpu_summary.py build --dir OUT [--json OUT/gpu_check.json]``
    gathers what the steps left in OUT (steps.tsv, machine.json, tests.log, bench.json, peers.json, evaluate.json,
    blackbox.log) into one JSON: machine and GPU, each step's wall time and exit status, the tests'
    summary, the bench and evaluate results, and the issue's targets beside the numbers measured.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

#: the issue's speed targets (issue 16, item 6)
INPUT_IBA_TARGET_S = 1.0  # seconds per 224-px image at B = 16, paper preset (the paper: 24 s on an RTX 3090)
BASELINE_TARGET_IPS = 100.0  # images per second at 224 px

_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?)")
_PYTEST_TIME = re.compile(r" in ([\d.]+)s")


# -- xai: the CLI with a bounded black-box schedule -----------------------------------------------
def run_xai(argv: list[str], epochs: int | None, black_box: str) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's xai_core
    from xai_core.cli import main
    from xai_core.models import training

    if epochs is not None:
        dataset, _, preset = black_box.partition("@")
        config = training.train_config(dataset, preset)
        training.TRAIN_TABLE[(dataset, preset)] = replace(config, epochs=min(config.epochs, epochs))
    return main(argv)


# -- machine, device-like --------------------------------------------------------------------------------
def machine(path: Path, device: str) -> int:
    import importlib.metadata as md
    import os
    import platform
    import subprocess

    import torch

    out: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                           "torch": torch.__version__, "torch_cuda": torch.version.cuda,
                           "cuda_available": torch.cuda.is_available()}
    for name in ("torchvision", "timm", "numpy", "scipy", "scikit-image", "scikit-learn", "captum", "mlxtend"):
        try:
            out.setdefault("packages", {})[name] = md.version(name)
        except md.PackageNotFoundError:
            out.setdefault("packages", {})[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                      "memory_gib": round(props.total_memory / 2**30, 1),
                      "multiprocessors": props.multi_processor_count, "count": torch.cuda.device_count()}
        try:
            out["gpu"]["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            out["gpu"]["driver"] = None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import captum  # the carried wheels and the project import
    import xai_core

    out["captum_from"] = str(Path(captum.__file__).parent.parent)
    out["xai_core_from"] = str(Path(xai_core.__file__).parent.parent)
    print(json.dumps(out, indent=2))
    path.write_text(json.dumps(out, indent=2) + "\n")
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: elsewhere run GPU_CHECK_DEVICE=cpu GPU_CHECK_SCALE=smoke", file=sys.stderr)
        return 1
    return 0


DEVICE_LIKE = '''"""gpu_check smoke: the packages named in $GPU_CHECK_HIDE come only from outside this python's own
site-packages (the carried wheels' site folder), as on the GPU machine, which lacks them."""
import importlib.machinery
import os
import site
import sys

_HIDDEN = set(os.environ.get("GPU_CHECK_HIDE", "").split(","))
_LOCAL = {os.path.realpath(p) for p in site.getsitepackages()}


class _DeviceLike(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if path is None and name in _HIDDEN:
            path = [p for p in sys.path if os.path.realpath(p or ".") not in _LOCAL]
        return super().find_spec(name, path, target)


sys.meta_path[:] = [_DeviceLike if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
'''


def device_like(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(DEVICE_LIKE)


# -- build: one JSON from the steps' outputs ---------------------------------------------------------
def pytest_summary(text: str) -> dict[str, Any]:
    """Counts and time of pytest's closing line, and the ids of failed/erroring tests (``-ra``)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    closing = next((ln for ln in reversed(lines) if _PYTEST_TIME.search(ln) and _PYTEST_COUNT.search(ln)), None)
    out: dict[str, Any] = {"line": closing.strip(" =") if closing else None}
    if closing:
        for count, word in _PYTEST_COUNT.findall(closing):
            out[{"error": "errors", "warning": "warnings"}.get(word, word)] = int(count)
        out["seconds"] = float(_PYTEST_TIME.search(closing).group(1))
    out["failures"] = [ln.split(" ", 1)[1].split(" - ")[0] for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    out["skips"] = [ln for ln in lines if ln.startswith("SKIPPED ")]
    out["ok"] = bool(closing) and not out.get("failed") and not out.get("errors")
    return out


def read_steps(path: Path, tail: int = 15) -> list[dict[str, Any]]:
    """steps.tsv: one line per step, ``name<TAB>seconds<TAB>exit status<TAB>timeout in s``; a step that
    failed keeps the last ``tail`` lines of its log (NAME.log beside steps.tsv)."""
    steps = []
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            rc = int(parts[2])
            steps.append({"step": parts[0], "seconds": float(parts[1]), "rc": rc,
                          "timeout_s": int(parts[3]) if len(parts) > 3 and parts[3] else None,
                          "timed_out": rc in (124, 137), "ok": rc == 0})
            log = path.parent / f"{parts[0]}.log"
            if rc and log.exists():
                lines = log.read_text(errors="replace").replace("\r", "\n").splitlines()
                steps[-1]["log_tail"] = [ln for ln in lines if ln.strip()][-tail:]
    return steps


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def targets(bench: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's targets beside what ``bench`` measured (absent entries: not measured)."""
    out: dict[str, Any] = {}
    if not bench:
        return out
    for key, by_batch in (bench.get("seconds_per_image_224px") or {}).items():
        name, _, preset = key.partition("@")
        row = {b: round(s, 4) for b, s in by_batch.items()}
        if name == "input_iba":
            b16 = by_batch.get("B=16")
            row.update(target_s_per_image_at_B16=INPUT_IBA_TARGET_S,
                       met=None if b16 is None or preset != "paper" else b16 <= INPUT_IBA_TARGET_S)
        out[f"{name}@{preset} s/image"] = row
    for dataset, per_method in (bench.get("ms_per_image") or {}).items():
        if not dataset.endswith("@224px"):
            continue
        rates = {m: round(1000.0 / ms, 1) for m, ms in per_method.items() if ms and ms > 0}
        out[f"{dataset} images/s"] = {"images_per_second": rates, "target": BASELINE_TARGET_IPS,
                                      "below_target": sorted(m for m, r in rates.items() if r < BASELINE_TARGET_IPS)}
    throughput = bench.get("metric_throughput") or {}
    if "deletion" in throughput.get("metrics", {}):
        d = throughput["metrics"]["deletion"]
        out["deletion forwards/s"] = {"dataset": throughput.get("dataset"), "forwards_per_second": round(d["forwards_per_second"], 1),
                                      "model_images_per_second": round(throughput["model_images_per_second"], 1),
                                      "ratio_to_model": round(d["ratio"], 3)}
    return out


def headline(evaluate: dict[str, Any] | None) -> dict[str, Any]:
    """Per method: each metric's number (a curve's AUC) and its ms per image, from ``evaluate``'s JSON."""
    if not evaluate:
        return {}
    out: dict[str, Any] = {}
    for method, values in (evaluate.get("results") or {}).items():
        row = {k: (v.get("auc") if isinstance(v, dict) else v) for k, v in values.items()}
        ms = (evaluate.get("ms_per_image") or {}).get(method)
        out[method] = {k: round(v, 4) if isinstance(v, float) else v for k, v in {**row, "ms_per_image": ms}.items()}
    return out


def black_box_line(log: str) -> dict[str, Any] | None:
    m = re.search(r"black box for (\S+) \((\w+)\): test accuracy ([\d.]+)", log)
    return None if m is None else {"dataset": m.group(1), "preset": m.group(2), "test_accuracy": float(m.group(3))}


def build(out_dir: Path, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    steps = read_steps(out_dir / "steps.tsv")
    tests_log = out_dir / "tests.log"
    bench = _load(out_dir / "bench.json")
    evaluate = _load(out_dir / "evaluate.json")
    peers = _load(out_dir / "peers.json")
    blackbox_log = out_dir / "blackbox.log"
    summary: dict[str, Any] = {
        "machine": _load(out_dir / "machine.json"),
        "settings": settings or _load(out_dir / "settings.json"),
        "steps": steps,
        "total_seconds": round(sum(s["seconds"] for s in steps), 1),
        "ok": bool(steps) and all(s["ok"] for s in steps),
        "tests": pytest_summary(tests_log.read_text(errors="replace")) if tests_log.exists() else None,
        "black_box": ((evaluate or {}).get("settings", {}).get("black_box")
                      or (black_box_line(blackbox_log.read_text(errors="replace")) if blackbox_log.exists() else None)),
        "targets": targets(bench),
        "evaluate_headline": headline(evaluate),
        "bench": bench,
        "peers": (peers or {}).get("peers"),
        "evaluate": evaluate,
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["xai"]:
        rest = argv[1:]
        cut = rest.index("--") if "--" in rest else len(rest)
        p = argparse.ArgumentParser(prog="gpu_summary.py xai")
        p.add_argument("--black-box-epochs", type=int, default=None)
        p.add_argument("--black-box", default="hard_mnist@paper", help="DATASET@PRESET whose schedule is bounded")
        opts = p.parse_args(rest[:cut])
        return run_xai(rest[cut + 1:], opts.black_box_epochs, opts.black_box)
    p = argparse.ArgumentParser(prog="gpu_summary.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="gather the steps' outputs into one JSON")
    b.add_argument("--dir", required=True, type=Path)
    b.add_argument("--json", type=Path, default=None, help="default: DIR/gpu_check.json")
    m = sub.add_parser("machine", help="machine, GPU and package versions as JSON")
    m.add_argument("--json", required=True, type=Path)
    m.add_argument("--device", default="cuda")
    d = sub.add_parser("device-like", help="write a sitecustomize.py hiding $GPU_CHECK_HIDE's local copies")
    d.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    if args.command == "machine":
        return machine(args.json, args.device)
    if args.command == "device-like":
        device_like(args.folder)
        return 0
    summary = build(args.dir)
    path = args.json or args.dir / "gpu_check.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {path}")
    for s in summary["steps"]:
        print(f"  {s['step']:<10} {s['seconds']:7.1f} s  rc={s['rc']}{' (timed out)' if s['timed_out'] else ''}")
    for name, row in summary["targets"].items():
        print(f"  {name}: {json.dumps(row)}")
    for method, row in summary["evaluate_headline"].items():
        print(f"  evaluate {method}: {json.dumps(row)}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
