"""Which system calls a jailed model worker makes once jailed, measured with ``strace -f``.

Loads, validates and explains (forward + backward) a corpus of good models in every supported
format — ONNX from torchvision architectures (exported here) and from ONNX's helpers, ``.pt2``
and TorchScript — with each worker started on its own (not forked) under strace, then prints the
system calls made after the seccomp filter was loaded, and those the filter refused (EPERM; only
harmless look-ups of source lines). ``jail.ALLOWED_SYSCALLS`` is the first list, plus a clean exit.

Usage: .venv/bin/python scripts/measure_jail_syscalls.py [--json out.json]
Needs strace (apt-get install strace).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from model_files import onnx_cnn  # noqa: E402

from xai_core.data.base import DatasetInfo  # noqa: E402
from xai_core.models import jail, user_model  # noqa: E402

SYSCALL = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")


def corpus(folder: Path) -> dict[str, DatasetInfo]:
    """Good models in every format, with the dataset info each one is checked against."""
    import torchvision

    mnist = DatasetInfo("m", "smoke", 28, 1, 10, tuple("0123456789"), (0.2,), (0.3,), False)
    rgb = DatasetInfo("r", "smoke", 64, 3, 10, tuple("0123456789"), (0.5,) * 3, (0.25,) * 3, False)
    (folder / "cnn.onnx").write_bytes(onnx_cnn())
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(2, 3, 64, 64)
    torch.onnx.export(net, (x,), folder / "resnet18.onnx", dynamo=False, opset_version=17, do_constant_folding=False,
                      input_names=["x"],
                      dynamic_axes={"x": {0: "b"}})
    buf = io.BytesIO()
    torch.export.save(torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("b")},)), buf)
    (folder / "resnet18.pt2").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(net, x), buf)
    (folder / "resnet18.pt").write_bytes(buf.getvalue())
    return {"cnn.onnx": mnist, "resnet18.onnx": rgb, "resnet18.pt2": rgb, "resnet18.pt": rgb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    used, denied = Counter(), Counter()
    examples: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, info in corpus(folder).items():
            trace = folder / f"{name}.trace"
            user_model.WORKER_COMMAND = ["strace", "-f", "-qq", "-o", str(trace), sys.executable, "-I", jail.__file__]
            try:
                model = user_model.load_user_model(folder / name, info)
                x = torch.rand(3, info.channels, info.image_size, info.image_size, requires_grad=True)
                model(x)[:, 1].sum().backward()
            finally:
                user_model.POOL.close_all()
                user_model.WORKER_COMMAND = None
            jailed = False  # the filter holds for every thread (TSYNC): count every line after it loads
            for line in trace.read_text().splitlines():
                m = SYSCALL.match(line)
                if not m:
                    continue
                call = m.group(2)
                if call in ("seccomp", "prctl") and "SECCOMP" in line:
                    jailed = True
                elif jailed and "PR_SET_NO_NEW_PRIVS" not in line:  # that prctl is the filter's own load
                    used[call] += 1
                    examples.setdefault(call, line[:160])
                    if "EPERM" in line:
                        denied[call] += 1
            print(f"{name}: traced", flush=True)
    result = {"used_after_jail": {c: examples[c] for c in sorted(used)}, "denied": sorted(denied),
              "allowed_but_unused": sorted(set(jail.ALLOWED_SYSCALLS) - set(used))}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
