"""Background jobs with progress, shared by every session of one server process.

A job is keyed by what it builds (e.g. the store key of a black box): submitting a key that is
already queued or running returns the existing job, so two users starting the same training get
one job. Jobs run in threads (torch releases the GIL in its kernels), at most ``JOB_SLOTS.size`` at
a time (``XAI_JOB_SLOTS``, default 1): the others stay queued and say how many are ahead. Results land in
the store, where every page picks them up. Across processes the store's file locks keep builds single.

A failed job keeps one short line for the page (:attr:`Job.error`: the exception's type and message,
at most :data:`ERROR_CHARS` characters, server paths cut) and its full text (:attr:`Job.details`, for
an expander); the server log gets the traceback. :meth:`JobManager.cancel` stops a job at its next
progress report (or while it waits for a slot): the report raises :class:`JobCancelled`, and the
job ends as "cancelled", not "failed". Work writes the store atomically, so a cancelled job leaves
nothing half-written (a cancelled fit keeps its last epoch's checkpoint: the next run resumes there).
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

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ETA = "eta_s"  # progress metric: seconds left, estimated by the work (not drawn as a curve)
ERROR_CHARS = 200  # the most characters of an error a page shows in its one line
DETAIL_CHARS = 10_000  # the most characters of its full text a page gets (the server log has all of it)


class JobCancelled(Exception):
    """Raised by a cancelled job's progress callback: the work stops at that report."""


@dataclass
class Job:
    """A unit of background work and everything a page needs to draw its progress."""

    key: str
    title: str
    status: str = QUEUED
    done: float = 0
    total: float = 0
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)  # per report with metrics: step + metrics (loss curve)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None  # one line for the page (type and message, ≤ ERROR_CHARS characters)
    details: str | None = None  # the error's full text (server paths cut), for an expander
    result: Any = None
    eta_hint: float | None = None  # seconds left as the work itself estimates them (``eta_s=`` in a report)
    eta_at: float | None = None  # when the work gave ``eta_hint`` (the estimate counts down from there)
    eta_given: bool = False  # the work reports ``eta_s`` (None then means "not known yet", not "extrapolate")
    cancel_requested: bool = False

    def report(self, done: float, total: float, message: str = "", **metrics: Any) -> None:
        """The Progress callback handed to the work function; raises :class:`JobCancelled` once the
        job is cancelled, so the work stops here."""
        if self.cancel_requested:
            raise JobCancelled(self.title)
        self.done, self.total, self.message = done, total, message
        if ETA in metrics:
            eta = metrics.pop(ETA)
            self.eta_given = True
            self.eta_hint, self.eta_at = (None, None) if eta is None else (float(eta), time.time())
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if numbers:
            self.history.append({"step": float(done), **numbers})

    @property
    def fraction(self) -> float:
        return max(0.0, min(1.0, self.done / self.total)) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """The work's own estimate where it gives one (a trainer: from the work left at the
        measured rate), counting down since it was given; else a linear extrapolation from the time
        spent so far (None before the first step, or while the work says it does not know yet)."""
        if self.status != RUNNING:
            return None
        if self.eta_hint is not None:
            return max(0.0, self.eta_hint - (time.time() - (self.eta_at or time.time())))
        if self.eta_given or not self.started or not self.done or not self.total:
            return None
        elapsed = time.time() - self.started
        return elapsed * (self.total - self.done) / self.done

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)


def shorten(text: str, limit: int = ERROR_CHARS) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def one_line(err: BaseException, limit: int = ERROR_CHARS) -> str:
    """An unexpected error as one line for users: its type and first line, absolute paths cut to
    their last part, at most ``limit`` characters (the traceback belongs in the server log, not in
    the browser; a tensor in a message must not fill the page)."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return shorten(_PATH.sub(r"\1", text), limit)


def full_text(err: BaseException | str, limit: int = DETAIL_CHARS) -> str:
    """An error's whole message for an expander: its type and every line, server paths cut (a
    string is taken as it is), at most ``limit`` characters (the server log has the rest)."""
    text = err if isinstance(err, str) else _PATH.sub(r"\1", f"{type(err).__name__}: {err}".strip())
    return text if len(text) <= limit else f"{text[:limit]}\n… ({len(text) - limit:,} more characters in the server log)"


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
        def queued(ahead: int) -> None:  # still QUEUED: say where in the line, or leave it when cancelled
            if job.cancel_requested:
                raise JobCancelled(job.title)
            job.message = waiting_message(ahead)

        try:
            with self._slots.slot(queued, heartbeat_s=1.0):
                if job.cancel_requested:
                    raise JobCancelled(job.title)
                job.status, job.started, job.message = RUNNING, time.time(), ""
                job.result = work(job.report)
                job.status = DONE
        except JobCancelled:
            _LOG.info("background job %r cancelled", job.title)
            job.status, job.message = CANCELLED, "cancelled"
        except XAIError as err:  # the user's error: its message is the answer, the traceback is for the log
            _LOG.warning("background job %r failed: %s", job.title, err, exc_info=True)
            job.error, job.details, job.status = shorten(str(err)), full_text(str(err)), FAILED
        except Exception as err:  # a bug: the traceback goes to the server log, one line to the page
            _LOG.exception("background job %r failed", job.title)
            job.error = f"{one_line(err, ERROR_CHARS - 30)} (details in the server log)"
            job.details, job.status = full_text(err), FAILED
        finally:
            job.finished = time.time()

    def cancel(self, key: str) -> bool:
        """Ask the active job ``key`` to stop at its next progress report (or while it is queued);
        False when there is no such active job."""
        job = self._jobs.get(key)
        if job is None or not job.active:
            return False
        job.cancel_requested = True
        job.message = "cancelling at the next progress report …"
        return True

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
