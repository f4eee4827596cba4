"""Progress reporting shared by training, fitting and evaluation: a callable that takes
(done, total, message, metrics). The CLI wraps tqdm around it, the pages a Streamlit bar."""
from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    def __call__(self, done: int, total: int, message: str = "", **metrics: Any) -> None: ...


def no_progress(done: int, total: int, message: str = "", **metrics: Any) -> None:
    """The default: report nothing."""


def prefixed(progress: Progress, prefix: str) -> Progress:
    """``progress`` with ``prefix`` before every message (a stage or a method's name)."""
    return lambda done, total, message="", **metrics: progress(done, total, prefix + message, **metrics)
