"""The one chunk loop: everything that pushes many images through a model (an explainer's batch,
a metric's perturbed images) runs ``fn`` over chunks sized for throughput and halves the chunk
on CUDA out-of-memory. The chunk size is local to the call: nothing is remembered on shared
objects (explainers and models serve every session of a server process)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")

#: input values (images × C·H·W) per forward pass, by device type. On CPU larger passes are
#: slower, not faster (cache-bound). Measured on a 2-core Xeon, deletion at 224 px (natural,
#: efficientnet_lite0), image-steps/s by images per pass: 4: 54, 6 (≈ 2^20 values): 60, 8: 51,
#: 13: 50, 16: 47, 32: 30, 64: 28; the model alone 57, 59, 60, 50, 45, 32, 30 images/s.
#: `python -m xai_core bench` reports the metrics' throughput beside the model's own. On CUDA the
#: bound is memory (2^24 floats = 64 MB of input per pass; not measured yet: no GPU was lent).
PASS_VALUES = {"cpu": 2**20, "cuda": 2**24}

#: items per pass at most on CPU: past ~64 the per-pass overhead is amortised and bigger passes fall
#: out of cache (deletion at 28 px, mnist: 3954 image-steps/s with 64 per pass, 1990 with 1337 =
#: 2^20 values; at 32 px: 6886 with 64, 3844 with 512)
CPU_MAX_ITEMS = 64


def chunk_size(values_per_item: int, device: torch.device | str, cap: int | None = None,
               items: int | None = None) -> int:
    """Items per pass so that one pass holds about :data:`PASS_VALUES` input values on ``device``
    (at least 1; on CPU at most :data:`CPU_MAX_ITEMS`; at most ``cap``). Given the number of ``items``
    to run, the passes are balanced: as many as ``items / size`` rounds to, of equal size, so a small batch
    is not split into a full pass and a remainder (8 images at 224 px ran as 6 + 2, measured 1.67× the time
    of Captum's one pass) and no pass exceeds the target by more than half."""
    device = torch.device(device)
    size = max(1, PASS_VALUES.get(device.type, PASS_VALUES["cuda"]) // max(1, int(values_per_item)))
    if device.type == "cpu":
        size = min(size, CPU_MAX_ITEMS)
    if items is not None and items > 0:
        size = -(-items // max(1, round(items / size)))
    return size if cap is None else max(1, min(int(cap), size))


def run_chunked(fn: Callable[[int, int], T], n: int, size: int,
                done: Callable[[int], None] | None = None) -> list[T]:
    """``[fn(i, j) for the chunks [i, j) of range(n)]``, ``size`` rows per chunk; on CUDA
    out-of-memory the chunk is halved (for the rest of this call) and retried; ``done(j)`` after
    each chunk (progress)."""
    out: list[T] = []
    size, i = max(1, int(size)), 0
    while i < n:
        j = min(n, i + size)
        try:
            out.append(fn(i, j))
        except torch.OutOfMemoryError:
            if size == 1:
                raise
            size = max(1, size // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        i = j
        if done is not None:
            done(j)
    return out
