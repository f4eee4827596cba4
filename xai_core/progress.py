"""Progress reporting shared by training, fitting and evaluation: a callable that takes
(done, total, message, metrics). The CLI wraps tqdm around it, the pages a Streamlit bar, a
background job its own record. A callback may raise to stop the work there (a cancelled job's does:
work that writes the store atomically leaves nothing half-written). ``done`` may be fractional (a
trainer reports part of an epoch); ``eta_s=`` among the metrics is the work's own estimate of the
seconds left (None: not known yet)."""
from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    def __call__(self, done: int, total: int, message: str = "", **metrics: Any) -> None: ...


def no_progress(done: int, total: int, message: str = "", **metrics: Any) -> None:
    """The default: report nothing."""


def prefixed(progress: Progress, prefix: str) -> Progress:
    """``progress`` with ``prefix`` before every message (a stage or a method's name)."""
    return lambda done, total, message="", **metrics: progress(done, total, prefix + message, **metrics)


def within(progress: Progress, part: int, parts: int, prefix: str = "") -> Progress:
    """``progress`` of part ``part`` (0-based) of ``parts`` equal parts: the part's own (done, total)
    reported as ``part + done/total`` of ``parts``, kept below ``part + 1``, so a whole made of stages (a
    method's fit inside one shard of an evaluation) never goes backwards."""
    def report(done: float, total: float, message: str = "", **metrics: Any) -> None:
        progress(part + min(done / max(total, 1), 0.999), parts, prefix + message, **metrics)

    return report
