"""Background jobs with progress, shared by every session of one server process.

A job is keyed by what it builds (e.g. the store key of a black box): submitting a key that is
already queued or running returns the existing job, so two users starting the same training get
one job. Jobs run in threads (torch releases the GIL in its kernels), in two lanes
(:data:`~xai_core.workslots.JOB_LANES`: "long" for fits, training, sweeps and reproduction runs, "short" for
evaluations and other minutes-long work), each running at most its size at a time; the others stay queued
and say how many jobs of their lane are ahead (those running and those queued before them). Results land in
the store, where every page picks them up. Across processes the store's file locks keep builds single.

A job may carry its time estimate and a *kind* (e.g. ``fit:comet``, see
:class:`~xai_core.job_rates.RateBook`): when it ends, done (or cancelled past :data:`MIN_FRACTION`), its
measured running time is recorded under that kind, and the next estimate of the kind is corrected by this
machine's record (``services.estimates``).

A failed job keeps one short line for the page (:attr:`Job.error`: the exception's type and message,
at most :data:`ERROR_CHARS` characters, server paths cut) and its full text (:attr:`Job.details`, for
an expander); the server log gets the traceback. :meth:`JobManager.cancel` stops a job at its next
progress report (or while it waits for a slot): the report raises :class:`JobCancelled`, and the
job ends as "cancelled", not "failed". Work writes the store atomically, so a cancelled job leaves
nothing half-written (a cancelled fit keeps its last epoch's checkpoint: the next run resumes there).
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import XAIError
from .job_rates import MIN_FRACTION, RATES, RateBook
from .workslots import JOB_LANES, Slots

_LOG = logging.getLogger(__name__)
_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/'\"():,]+/)+([^\s/'\"():,]+)")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ETA = "eta_s"  # progress metric: seconds left, estimated by the work (not drawn as a curve)
ERROR_CHARS = 200  # the most characters of an error a page shows in its one line
DETAIL_CHARS = 10_000  # the most characters of its full text a page gets (the server log has all of it)
LONG, SHORT = "long", "short"  # the job lanes (xai_core.workslots.JOB_LANES)


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
    lane: str = LONG  # which pool of workers runs it
    kind: str | None = None  # what its measured time teaches (RateBook), e.g. "fit:comet"; None: nothing
    estimate_s: float | None = None  # the seconds the user was told before it started
    base_s: float | None = None  # the same estimate before this machine's correction (the rate's reference)
    ahead: int | None = None  # while queued: jobs of its lane ahead of it (running, or queued before it)
    settled: bool = False  # ended and its time recorded (JobManager.wait waits for this)

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

    @property
    def run_seconds(self) -> float | None:
        """Seconds it ran (waiting in the queue not counted); None before it started."""
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else time.time()) - self.started

    @property
    def measured_s(self) -> float | None:
        """Its whole run's seconds as measured: the running time when done; a cancelled job's time
        over the fraction it did (its rate), past :data:`MIN_FRACTION`; else None."""
        ran = self.run_seconds
        if ran is None or self.finished is None:
            return None
        if self.status == DONE:
            return ran
        if self.status == CANCELLED and self.fraction > MIN_FRACTION:
            return ran / self.fraction
        return None


class SupportsSeconds(Protocol):
    """An estimate as jobs take it (``services.estimates.Estimate``): ``seconds``, and optionally
    ``cold`` (before this machine's correction) and ``kind``."""

    seconds: float | None


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
    """Runs jobs in daemon threads, at most one per key at a time and, per lane, at most that lane's
    slots at once. ``slots``: the lanes (default: the process-wide
    :data:`~xai_core.workslots.JOB_LANES`), or one pool every lane shares. ``rates``: where finished jobs
    record their measured time (default: :data:`~xai_core.job_rates.RATES`, the machine's cache);
    ``clock``: seconds now (tests)."""

    def __init__(self, slots: Slots | Mapping[str, Slots] | None = None, rates: RateBook | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        pools = JOB_LANES if slots is None else slots
        self._lanes: dict[str, Slots] = {LONG: pools, SHORT: pools} if isinstance(pools, Slots) else dict(pools)
        self.rates = rates if rates is not None else RATES
        self._clock = clock

    @property
    def lanes(self) -> tuple[str, ...]:
        return tuple(self._lanes)

    def submit(self, key: str, title: str, work: Callable[[Callable[..., None]], Any], *,
               estimate: SupportsSeconds | float | None = None, kind: str | None = None, lane: str = LONG) -> Job:
        """Start ``work(progress)`` in ``lane`` unless a job with ``key`` is already active; return the job.
        ``estimate`` (seconds, or an ``Estimate``) and ``kind`` (default: the estimate's) are recorded with
        the job's measured time when it ends (:class:`RateBook`); both optional."""
        if lane not in self._lanes:
            raise ValueError(f"no job lane {lane!r}; lanes: {', '.join(self._lanes)}")
        told = estimate if isinstance(estimate, (int, float)) or estimate is None else estimate.seconds
        base = getattr(estimate, "cold", None)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.active:
                return job
            job = Job(key=key, title=title, lane=lane, kind=kind or getattr(estimate, "kind", None),
                      estimate_s=None if told is None else float(told),
                      base_s=float(base) if base is not None else None if told is None else float(told),
                      created=self._clock())
            self._jobs[key] = job
        threading.Thread(target=self._run, args=(job, work), name=f"job:{title}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[Callable[..., None]], Any]) -> None:
        pool = self._lanes[job.lane]

        def queued(waiting_ahead: int) -> None:  # still QUEUED: say where in the line, or leave it when cancelled
            if job.cancel_requested:
                raise JobCancelled(job.title)
            job.ahead = pool.busy + waiting_ahead  # the running jobs are ahead too (issue 29: "0 ahead" for an hour)
            job.message = queue_message(job.lane, pool.busy, waiting_ahead)

        try:
            with pool.slot(queued, heartbeat_s=1.0):
                if job.cancel_requested:
                    raise JobCancelled(job.title)
                job.status, job.started, job.message, job.ahead = RUNNING, self._clock(), "", None
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
            job.finished = self._clock()
            self._record(job)
            job.settled = True

    def _record(self, job: Job) -> None:
        """Teach the rate book this job's measured time; bookkeeping never fails a job."""
        try:
            self.rates.record(job)
        except Exception:  # noqa: BLE001 - a full disk or read-only cache must not turn a done job into a failure
            _LOG.warning("could not record the time of job %r", job.title, exc_info=True)

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

    def queue(self) -> list[Job]:
        """The active jobs, lane by lane: running first (oldest start first), then queued in line order
        (fewest ahead first)."""
        active = [j for j in self.jobs() if j.active]
        order = {lane: k for k, lane in enumerate(self._lanes)}
        return sorted(active, key=lambda j: (order.get(j.lane, len(order)), j.status != RUNNING,
                                             j.started or 0.0, j.ahead if j.ahead is not None else math.inf,
                                             j.created))

    def wait(self, key: str, timeout: float | None = None) -> Job:
        """Block until the job ``key`` is finished and its time recorded (tests and the CLI)."""
        deadline = None if timeout is None else time.time() + timeout
        job = self._jobs[key]
        while job.active or not job.settled:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job.title} still running after {timeout} s")
            time.sleep(0.02)
        return job


def queue_message(lane: str, running: int, waiting_ahead: int) -> str:
    """What a queued job says: how many jobs of its lane are ahead of it, running and waiting."""
    return (f"Waiting for a free {lane}-job worker ({running + waiting_ahead} ahead: {running} running, "
            f"{waiting_ahead} queued before it) …")


MANAGER = JobManager()  # one per process: shared by every Streamlit session
