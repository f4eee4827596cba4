"""Background jobs with progress, shared by every session of one server process.

A job is keyed by what it builds (e.g. the store key of a black box): submitting a key that is
already queued or running returns the existing job, so two users starting the same training get
one job. Jobs run in threads (torch releases the GIL in its kernels), at most ``JOB_SLOTS.size`` at
a time (``XAI_JOB_SLOTS``, default 1): the others stay queued and say how many are ahead. Results land in
the store, where every page picks them up. Across processes the store's file locks keep builds single.
A job that fails on a bug logs its traceback on the server and shows its user one line.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import XAIError
from .workslots import JOB_SLOTS, Slots, waiting_message

_LOG = logging.getLogger(__name__)
_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/'\"():,]+/)+([^\s/'\"():,]+)")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ETA = "eta_s"  # progress metric: seconds left, estimated by the work (not drawn as a curve)


@dataclass
class Job:
    """A unit of background work and everything a page needs to draw its progress."""

    key: str
    title: str
    status: str = QUEUED
    done: int = 0
    total: int = 0
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)  # per report: step + metrics (loss curve)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: Any = None
    eta_hint: float | None = None  # seconds left as the work itself estimates them (``eta_s=`` in a report)

    def report(self, done: int, total: int, message: str = "", **metrics: Any) -> None:
        """The Progress callback handed to the work function."""
        self.done, self.total, self.message = done, total, message
        eta = metrics.pop(ETA, None)
        self.eta_hint = None if eta is None else float(eta)
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if numbers:
            self.history.append({"step": float(done), **numbers})

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """The work's own estimate where it gives one (the trainer: from the epochs left), else a
        linear extrapolation from the time spent so far (None before the first step)."""
        if self.status != RUNNING:
            return None
        if self.eta_hint is not None:
            return self.eta_hint
        if not self.started or not self.done or not self.total:
            return None
        elapsed = time.time() - self.started
        return elapsed * (self.total - self.done) / self.done

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)


def one_line(err: BaseException) -> str:
    """An unexpected error as one line for users: its type and first line, absolute paths cut to
    their last part (the traceback belongs in the server log, not in the browser)."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return _PATH.sub(r"\1", text)


class JobManager:
    """Runs jobs in daemon threads, at most one per key at a time and at most ``slots.size`` at once
    (default: the process-wide :data:`~xai_core.workslots.JOB_SLOTS`)."""

    def __init__(self, slots: Slots | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._slots = slots if slots is not None else JOB_SLOTS

    def submit(self, key: str, title: str, work: Callable[[Callable[..., None]], Any]) -> Job:
        """Start ``work(progress)`` unless a job with ``key`` is already active; return the job."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.active:
                return job
            job = Job(key=key, title=title)
            self._jobs[key] = job
        threading.Thread(target=self._run, args=(job, work), name=f"job:{title}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[Callable[..., None]], Any]) -> None:
        def queued(ahead: int) -> None:  # still QUEUED: say where in the line
            job.message = waiting_message(ahead)

        try:
            with self._slots.slot(queued, heartbeat_s=5.0):
                job.status, job.started, job.message = RUNNING, time.time(), ""
                job.result = work(job.report)
                job.status = DONE
        except XAIError as err:
            job.error, job.status = str(err), FAILED
        except Exception as err:  # a bug: the traceback goes to the server log, one line to the page
            _LOG.exception("background job %r failed", job.title)
            job.error, job.status = f"{one_line(err)} (details in the server log)", FAILED
        finally:
            job.finished = time.time()

    def get(self, key: str) -> Job | None:
        return self._jobs.get(key)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def wait(self, key: str, timeout: float | None = None) -> Job:
        """Block until the job ``key`` is finished (tests and the CLI)."""
        deadline = None if timeout is None else time.time() + timeout
        job = self._jobs[key]
        while job.active:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job.title} still running after {timeout} s")
            time.sleep(0.02)
        return job


MANAGER = JobManager()  # one per process: shared by every Streamlit session
