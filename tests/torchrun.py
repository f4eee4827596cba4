"""Run the CLI under ``torchrun --standalone`` on CPU processes (gloo) for the distributed tests, with
faults injected into one rank by ``tests/rank_faults.py`` (``XAI_TEST_FAULT``)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RANK_SCRIPT = Path(__file__).resolve().parent / "rank_faults.py"


def torchrun(args: list[str], processes: int = 2, cache: Path | None = None, fault: str = "",
             timeout: float = 600) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N tests/rank_faults.py ARGS`` with the CPU as device."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XAI_TEST_FAULT": fault, "OMP_NUM_THREADS": "1"}
    if cache is not None:
        env["XAI_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           str(RANK_SCRIPT), *args, "--device", "cpu"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    """Our own error lines (torchrun adds its report around them; rank 0's progress bar may share the line)."""
    return [line[line.index("error: "):] for line in re.split(r"[\r\n]", proc.stderr) if "error: " in line]
