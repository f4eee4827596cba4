"""The one chunk loop: sizes for throughput, halves on out-of-memory, keeps nothing."""
from __future__ import annotations

import pytest
import torch

from xai_core.chunks import CPU_MAX_ITEMS, PASS_VALUES, chunk_size, run_chunked


def test_chunk_size_fills_a_pass_and_respects_the_cap():
    assert chunk_size(PASS_VALUES["cpu"] // 8, "cpu") == 8
    assert chunk_size(10, "cpu") == CPU_MAX_ITEMS  # small images: bigger CPU passes fall out of cache
    assert chunk_size(10, "cpu", cap=16) == 16 and chunk_size(10, "cuda") == PASS_VALUES["cuda"] // 10
    assert chunk_size(10 * PASS_VALUES["cpu"], "cpu") == 1  # never zero
    assert chunk_size(PASS_VALUES["cuda"] // 4, "cuda") == 4


def test_chunk_size_balances_the_passes_over_the_items():
    per_six = PASS_VALUES["cpu"] // 6  # six items per pass
    assert chunk_size(per_six, "cpu", items=8) == 8  # one pass, not 6 + 2
    assert chunk_size(per_six, "cpu", items=10) == 5  # 5 + 5, not 6 + 4
    assert chunk_size(per_six, "cpu", items=3) == 3 and chunk_size(per_six, "cpu", items=600) == 6
    assert chunk_size(per_six, "cpu", items=8, cap=4) == 4  # the cap stays a hard limit


def test_out_of_memory_halves_the_chunk_for_this_call_only():
    seen, done = [], []

    def fn(i, j):
        if j - i > 2:
            raise torch.OutOfMemoryError("simulated")
        seen.append((i, j))
        return torch.arange(i, j)

    assert torch.equal(torch.cat(run_chunked(fn, 7, 8, done.append)), torch.arange(7))
    assert seen[0] == (0, 2) and done == [2, 4, 6, 7]
    assert run_chunked(lambda i, j: (i, j), 5, 8) == [(0, 5)]  # a fresh call starts from its own size again


def test_a_single_item_that_does_not_fit_raises():
    def fn(i, j):
        raise torch.OutOfMemoryError("simulated")

    with pytest.raises(torch.OutOfMemoryError):
        run_chunked(fn, 3, 4)
