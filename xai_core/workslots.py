"""Bounded pools of worker slots, so heavy work never floods a small machine.

Every Streamlit session runs its script in its own thread. Without a bound, ten sessions that each
explain a sample run ten torch computations at once: they oversubscribe the cores, fight over the GIL
with the server's event loop (the health check and every websocket stall), and race on the shared model
(Captum's layer hooks see another thread's forward pass). A :class:`Slots` pool admits at most ``size``
holders at a time, in arrival order; the others wait, and hear their queue position through a callback
(the page shows "waiting for a free worker (k ahead)"; a background job stays queued).

Process-wide pools: :data:`WORK_SLOTS` for what a page computes while its user waits (explanations,
loading a model), and two lanes of background jobs (:data:`JOB_LANES`): "long" (fits, black-box training,
sweeps, reproduction runs) and "short" (evaluations, ablations, IBA statistics, signal vs distractor), so an
hour-long fit never blocks a two-minute evaluation, and neither blocks the Explore page. Sizes come from
``XAI_WORK_SLOTS``, ``XAI_LONG_JOB_SLOTS`` (``XAI_JOB_SLOTS``, the single pool's old name, still sets it)
and ``XAI_SHORT_JOB_SLOTS`` (default 1 each). No Streamlit here: the pages pass a callback that draws.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LOG = logging.getLogger(__name__)

#: called with the number of waiters ahead; raising from it (e.g. Streamlit stopping the script)
#: abandons the wait cleanly
OnWait = Callable[[int], None]


class Slots:
    """At most ``size`` concurrent holders; waiters are admitted first come, first served.

    A thread that already holds a slot of this pool gets nested :meth:`slot` calls for free (no
    self-deadlock). Never wait for another thread (e.g. a cache's compute lock) while holding a slot:
    that thread may be queued behind you.
    """

    def __init__(self, size: int, name: str = "work") -> None:
        if size < 1:
            raise ValueError(f"a slot pool needs at least one slot, got {size}")
        self.size, self.name = size, name
        self._busy = 0
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()
        self._local = threading.local()

    @property
    def busy(self) -> int:
        """Slots held right now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot right now."""
        return len(self._queue)

    def held(self) -> bool:
        """Whether the calling thread holds a slot of this pool."""
        return getattr(self._local, "depth", 0) > 0

    def acquire(self, on_wait: OnWait | None = None, heartbeat_s: float = 0.5) -> None:
        """Block until a slot is free and it is this caller's turn; take it.

        ``on_wait(ahead)`` is called when the caller has to wait, whenever its position changes, and
        every ``heartbeat_s`` seconds while it waits (so a caller that is being cancelled notices).
        If ``on_wait`` raises, the caller leaves the queue and the exception propagates.
        """
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        reported, last = None, 0.0
        try:
            while True:
                with self._cond:
                    while True:
                        ahead = self._queue.index(ticket)
                        if ahead < self.size - self._busy:  # a free slot for everyone up to this ticket
                            self._queue.remove(ticket)
                            self._busy += 1
                            return
                        if on_wait is None:
                            self._cond.wait()
                            continue
                        due = last + heartbeat_s - time.monotonic()
                        if ahead != reported or due <= 0:
                            break
                        self._cond.wait(timeout=due)
                on_wait(ahead)  # outside the lock: it may draw, block briefly, or raise
                reported, last = ahead, time.monotonic()
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._cond.notify_all()  # those behind move up
            raise

    def release(self) -> None:
        """Give a slot back (the next waiter in line takes it)."""
        with self._cond:
            if self._busy <= 0:
                raise RuntimeError(f"{self.name} slots released more often than acquired")
            self._busy -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, on_wait: OnWait | None = None, heartbeat_s: float = 0.5) -> Iterator[None]:
        """Hold a slot for the ``with`` block (released on exceptions too); re-entrant per thread."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        self.acquire(on_wait, heartbeat_s)
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            self.release()


def waiting_message(ahead: int) -> str:
    """What a user waiting for a slot is told."""
    return f"Waiting for a free worker ({ahead} ahead) …"


def size_from_env(name: str, default: int) -> int:
    """A positive pool size from the environment variable ``name`` (``default`` if unset or invalid)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        size = int(raw)
        if size < 1:
            raise ValueError
    except ValueError:
        _LOG.warning("%s=%r is not a positive integer; using %d", name, raw, default)
        return default
    return size


#: what pages compute while a user waits, shared by every session of the server process
WORK_SLOTS = Slots(size_from_env("XAI_WORK_SLOTS", 1), "work")


def job_lanes() -> dict[str, Slots]:
    """The lanes of background jobs, sized from the environment: "long" (``XAI_LONG_JOB_SLOTS``, else the
    old ``XAI_JOB_SLOTS``, else 1) and "short" (``XAI_SHORT_JOB_SLOTS``, else 1)."""
    return {"long": Slots(size_from_env("XAI_LONG_JOB_SLOTS", size_from_env("XAI_JOB_SLOTS", 1)), "long"),
            "short": Slots(size_from_env("XAI_SHORT_JOB_SLOTS", 1), "short")}


#: the lanes of background jobs (xai_core.jobs): in each, at most its size run and the others stay queued
JOB_LANES = job_lanes()
#: the long lane under its old name (one pool of ``XAI_JOB_SLOTS`` before there were lanes)
JOB_SLOTS = JOB_LANES["long"]
