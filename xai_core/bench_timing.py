"""The one clock of ``bench``: wall seconds and this process's CPU seconds of one call, with the device
synchronised around it (on a machine shared with other work the wall time is stretched by it, the CPU time
much less, so the benches report both)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn``."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0
