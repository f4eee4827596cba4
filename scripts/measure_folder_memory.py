"""Peak memory and wall time of ``evaluate`` over a streamed ``imagefolder:`` as the number of test
images grows (issue 16, "Measure and report": peak RSS flat in the number of images).

For each N (default 2,000 and 20,000) it links a folder of a fixed train split (``--train``
images) and the first N test images, all 224-px PNGs with ground-truth masks, from a pool
generated once under ``--pool`` (seeded per file, so the 2,000 are among the 20,000 and reruns
reuse the files), then runs, with a fresh empty ``XAI_CACHE_DIR``::

    /usr/bin/time -v python -m xai_core evaluate --dataset imagefolder:FOLDER --preset PRESET \\
        --methods gradient --metrics mass_in_signal --num-images N --json OUT

which trains the default black box on the train split (its test accuracy reads all N test
images once), then explains and scores the N images. Memory is measured two ways: the child's
"Maximum resident set size" from ``/usr/bin/time -v`` (the largest single process: the main one),
and /proc polling every 0.2 s of the whole process tree (the main process and its DataLoader
workers): the peak of the summed RSS (shared pages counted once per process, an over-count) and
of the summed PSS (shared pages split between the processes sharing them). Writes one JSON.

The old code decoded a whole folder into one uint8 tensor (and one store entry): it held
N×3×S×S bytes (S: the preset's image size) on top of everything else, written in the JSON as
``old_code_pixels_mb`` for comparison.

Usage: .venv/bin/python scripts/measure_folder_memory.py [--sizes 2000,20000] [--train 300]
       [--preset quick] [--pool /tmp/xai_folder_memory] [--json results/folder_memory.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PX = 224  # the source files' size, whatever the preset resizes them to
CLASSES = ("disc", "square")
POOL_VERSION = 1  # bump when the generated pictures change
SIZES = {"quick": 64, "paper": 224, "smoke": 32}


# -- the synthetic folder --------------------------------------------------------------------------
def picture(split: str, index: int) -> tuple[np.ndarray, np.ndarray, str]:
    """One cheap seeded 224-px picture: a smooth two-colour gradient with a disc or a square (the
    class, alternating with the index) of random colour, size and place; its mask is the shape."""
    rng = np.random.default_rng([POOL_VERSION, SPLIT_IDS[split], index])
    cls = CLASSES[index % 2]
    a, b = rng.integers(0, 256, (2, 3)).astype(np.float32)
    t = np.linspace(0.0, 1.0, PX, dtype=np.float32)
    ramp = t[:, None] if rng.random() < 0.5 else t[None, :]
    img = a + (b - a) * ramp[..., None] * np.ones((PX, PX, 1), np.float32)
    r = int(rng.integers(20, 50))
    cy, cx = (int(v) for v in rng.integers(r, PX - r, 2))
    yy, xx = np.ogrid[:PX, :PX]
    if cls == "disc":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    else:
        mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
    img[mask] = rng.integers(0, 256, 3)
    return img.astype(np.uint8), mask, cls


SPLIT_IDS = {"train": 0, "test": 1}


def ensure_pool(pool: Path, split: str, n: int) -> list[tuple[Path, Path]]:
    """The first ``n`` pictures of ``split`` in the pool (written where missing): [(image, mask)]."""
    out = []
    for i in range(n):
        cls = CLASSES[i % 2]
        img_path = pool / split / cls / f"{i:06d}.png"
        mask_path = pool / "masks" / split / cls / f"{i:06d}.png"
        if not (img_path.is_file() and mask_path.is_file()):
            img, mask, _ = picture(split, i)
            img_path.parent.mkdir(parents=True, exist_ok=True)
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(img_path, compress_level=1)
            Image.fromarray((mask * 255).astype(np.uint8)).save(mask_path, compress_level=1)
        out.append((img_path, mask_path))
        if (i + 1) % 2000 == 0:
            print(f"  pool {split}: {i + 1}/{n}", flush=True)
    return out


def linked_folder(pool: Path, n_train: int, n_test: int) -> Path:
    """pool/train{n_train}_test{n_test}: hard links to the pool's first images of each split."""
    folder = pool / f"train{n_train}_test{n_test}"
    for split, n in (("train", n_train), ("test", n_test)):
        for img, mask in ensure_pool(pool / "files", split, n):
            for src in (img, mask):
                dst = folder / src.relative_to(pool / "files")
                if not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.link(src, dst)
    return folder


# -- measuring a process tree ----------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _kb(path: str, field: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreePoller(threading.Thread):
    """Peak summed RSS and PSS (MB) of a process tree, and the most processes seen at once."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0.0
        self.most_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = [p for p in _tree(self.pid) if p != self.pid]  # not /usr/bin/time itself
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids) / 1024
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.most_processes = max(self.most_processes, len(pids))
            self.done.wait(self.interval)


def run_evaluate(folder: Path, n: int, preset: str, workdir: Path, code: Path = ROOT) -> dict:
    cache, out = workdir / "cache", workdir / "evaluate.json"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "xai_core", "evaluate", "--dataset", f"imagefolder:{folder}",
           "--preset", preset, "--device", "cpu", "--methods", "gradient", "--metrics", "mass_in_signal",
           "--num-images", str(n), "--json", str(out)]
    env = {**os.environ, "XAI_CACHE_DIR": str(cache), "PYTHONPATH": str(code)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    poller = TreePoller(proc.pid)
    poller.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    poller.done.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"evaluate failed ({proc.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    max_rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    result = json.loads(out.read_text())
    dataset_bytes = sum(p.stat().st_size for p in (cache / "dataset").rglob("*") if p.is_file())
    return {
        "n_test_images": n,
        "wall_s": round(wall, 1),
        "peak_rss_main_process_mb": round(max_rss_kb / 1024, 1),
        "peak_rss_tree_sum_mb": round(poller.peak_rss, 1),
        "peak_pss_tree_sum_mb": round(poller.peak_pss, 1),
        "most_processes": poller.most_processes,
        "dataset_cache_entry_bytes": dataset_bytes,
        "evaluated_images": result["n"],
        "mass_in_signal": result["results"]["gradient"]["mass_in_signal"],
        "black_box_test_accuracy": result["settings"]["black_box"].get("test_accuracy"),
        "command": " ".join(cmd[2:]).replace(sys.executable, "python").replace(str(out), "OUT.json"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,20000", help="test-split sizes N, comma-separated")
    ap.add_argument("--train", type=int, default=300, help="training images (the black box trains on them)")
    ap.add_argument("--preset", default="quick", choices=sorted(SIZES))
    ap.add_argument("--pool", type=Path, default=Path("/tmp/xai_folder_memory"))
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "folder_memory.json")
    ap.add_argument("--old-code", type=Path, default=None,
                    help="also run a checkout of the code before streaming (e.g. `git archive` of it), for comparison")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    runs, old_runs = [], []
    for n in sizes:
        print(f"N = {n}: preparing the folder", flush=True)
        folder = linked_folder(args.pool, args.train, n)
        with tempfile.TemporaryDirectory(prefix="xai_folder_memory_") as tmp:
            print(f"N = {n}: evaluating", flush=True)
            run = run_evaluate(folder, n, args.preset, Path(tmp))
        print(json.dumps(run), flush=True)
        runs.append(run)
        if args.old_code is not None:
            with tempfile.TemporaryDirectory(prefix="xai_folder_memory_old_") as tmp:
                print(f"N = {n}: evaluating with the old code in {args.old_code}", flush=True)
                old = run_evaluate(folder, n, args.preset, Path(tmp), args.old_code.resolve())
            print(json.dumps(old), flush=True)
            old_runs.append(old)

    s = SIZES[args.preset]
    report = {
        "what": "python -m xai_core evaluate over imagefolder:FOLDER (train split + N test images, 224-px PNGs "
                "with masks), fresh XAI_CACHE_DIR each run (the black box is trained in the run)",
        "preset": args.preset,
        "image_size_used_px": s,
        "source_image_px": PX,
        "train_images": args.train,
        "methods": ["gradient"],
        "metrics": ["mass_in_signal"],
        "memory": "peak_rss_main_process_mb: /usr/bin/time -v 'Maximum resident set size' (the largest single "
                  "process); peak_rss_tree_sum_mb / peak_pss_tree_sum_mb: /proc polled every 0.2 s, summed over "
                  "the process and its DataLoader worker children (RSS counts shared pages in every process)",
        "data_workers": os.environ.get("XAI_DATA_WORKERS", f"default: min(4, CPUs) = {min(4, len(os.sched_getaffinity(0)))}"),
        "cpus": len(os.sched_getaffinity(0)),
        "machine": platform.platform(),
        "runs": runs,
        "old_code_pixels_mb": {str(n): {f"{s}px": round(n * 3 * s * s / 2**20, 1),
                                        "224px": round(n * 3 * 224 * 224 / 2**20, 1)} for n in sizes},
    }
    if old_runs:
        report["old_code"] = str(args.old_code)
        report["old_code_runs"] = old_runs
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        report["growth"] = {
            "images": f"{a['n_test_images']} -> {b['n_test_images']}",
            "peak_rss_main_process_mb": round(b["peak_rss_main_process_mb"] - a["peak_rss_main_process_mb"], 1),
            "peak_pss_tree_sum_mb": round(b["peak_pss_tree_sum_mb"] - a["peak_pss_tree_sum_mb"], 1),
            "old_code_pixels_mb": round((b["n_test_images"] - a["n_test_images"]) * 3 * s * s / 2**20, 1),
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
