"""Waiting in tests for something another thread does."""
from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll ``condition`` every 5 ms; fail the test after ``timeout`` seconds (a hang guard, far above
    the expected time: a busy machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)
