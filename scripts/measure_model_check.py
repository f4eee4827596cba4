"""How long a user-model check takes, idle and beside two CPU burners: a cold check (the fork
server starts first: it imports torch and warms up the loaders) and a warm one (a worker forked from
the running fork server, as the dashboard has it once the upload is opened), for an ONNX CNN and a
torch.export (.pt2) resnet18 on 28 px images. The verdict depends on CPU time, not on the clock, so a
busy machine makes a check slower but never changes it.

Usage: .venv/bin/python scripts/measure_model_check.py [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from model_files import onnx_cnn  # noqa: E402

from xai_core.data.base import DatasetInfo  # noqa: E402
from xai_core.models import user_model  # noqa: E402

INFO = DatasetInfo("m", "smoke", 28, 1, 10, tuple("0123456789"), (0.2,), (0.3,), False)


def _models(folder: Path) -> dict[str, Path]:
    import torchvision

    (folder / "cnn.onnx").write_bytes(onnx_cnn())
    net = torchvision.models.resnet18(num_classes=10)
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    buf = io.BytesIO()
    x = torch.rand(2, 1, 28, 28)
    torch.export.save(torch.export.export(net.eval(), (x,), dynamic_shapes=({0: torch.export.Dim("b")},)), buf)
    (folder / "resnet18.pt2").write_bytes(buf.getvalue())
    return {"cnn.onnx": folder / "cnn.onnx", "resnet18.pt2": folder / "resnet18.pt2"}


def _check(path: Path, folder: Path, k: int, warm: bool) -> float:
    copy = folder / f"{k}_{path.name}"  # a new file: a new worker
    shutil.copy(path, copy)
    if not warm:
        user_model.ZYGOTE.close()
    start = time.perf_counter()
    user_model.check_user_model(copy, INFO)
    seconds = time.perf_counter() - start
    user_model.POOL.close_all()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = _models(folder)
        for load in ("idle", "two CPU burners"):
            burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                       for _ in range(2 if load != "idle" else 0)]
            try:
                for name, path in models.items():
                    for warm in (False, True):
                        times = [_check(path, folder, k, warm) for k in range(args.repeats)]
                        rows.append({"model": name, "load": load, "worker": "forked, warm" if warm else "cold",
                                     "median_s": round(statistics.median(times), 2),
                                     "runs_s": [round(t, 2) for t in times]})
                        print(rows[-1], flush=True)
            finally:
                for b in burners:
                    b.kill()
    if args.json:
        args.json.write_text(json.dumps({"cpus": multiprocessing.cpu_count(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
