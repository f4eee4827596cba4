"""This machine's record of how long background jobs take (:class:`RateBook`), so the next estimate of the
same kind is corrected by what this machine measured (``services.estimates``)."""
from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from .store import ArtifactStore

if TYPE_CHECKING:
    from .jobs import Job

_LOG = logging.getLogger(__name__)

RATES_KIND = "job_rates"  # the store kind of the rate book's entries (one per job kind)
KEEP = 20  # records kept per job kind (the oldest go)
MIN_FRACTION = 0.1  # a cancelled job teaches its rate only past this fraction done
MIN_RUN_S = 2.0  # a job that ran less measured loading a cached result, not its work: it teaches nothing
_RECORD_FIELDS = ("estimated", "measured")  # positive finite seconds in every sound record


class RateBook:
    """This machine's measured job times, per job kind, as entries of the cache (``ArtifactStore``: written
    atomically, checksummed; a corrupt entry is ignored and rebuilt by the next record).

    Kinds are coarse enough to learn from: ``fit:<method>``, ``black_box:<arch>``, ``model:manipulated``,
    ``sweep:<method>``, ``components:<method>``, ``evaluate``. A record: the estimate before this machine's
    correction (``estimated``), the seconds the user was told (``told``), the measured seconds of running
    time (a cancelled job's: time / fraction done), how it ended and the date. :meth:`correction` is the
    median of measured / estimated over the last :data:`KEEP` records. ``root``: the cache directory (None:
    ``XAI_CACHE_DIR`` or the default, read at each use)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = root
        self._lock = threading.Lock()

    def _entry(self, kind: str) -> tuple[ArtifactStore, dict[str, Any]]:
        return ArtifactStore(self.root), {"job_kind": kind, "format": 1}

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The kind's sound records, oldest first (a malformed one is left out)."""
        store, spec = self._entry(kind)
        try:
            payload = store.load(RATES_KIND, spec)
        except Exception:  # noqa: BLE001 - an unreadable cache teaches nothing; the cold default stands
            _LOG.warning("cannot read the job times of %s", kind, exc_info=True)
            return []
        found = payload.get("records") if isinstance(payload, dict) else None
        return [r for r in found if _sound(r)] if isinstance(found, list) else []

    def record(self, job: Job) -> dict[str, Any] | None:
        """Add ``job``'s measured time under its kind (kept: the last :data:`KEEP`); the record, or None
        when it teaches nothing (no kind or estimate, failed, cancelled too early, ran under :data:`MIN_RUN_S`)."""
        measured = job.measured_s
        if not job.kind or not job.base_s or job.base_s <= 0 or not measured or (job.run_seconds or 0) < MIN_RUN_S:
            return None
        entry = {"estimated": float(job.base_s), "told": float(job.estimate_s or job.base_s),
                 "measured": float(measured), "ended": job.status,
                 "fraction": round(job.fraction if job.status == "cancelled" else 1.0, 4),
                 "finished": date.fromtimestamp(job.finished or time.time()).isoformat()}
        store, spec = self._entry(job.kind)
        lock_path = store.path(RATES_KIND, spec).with_suffix(".update.lock")  # read, add, write: one at a time
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, FileLock(str(lock_path), timeout=30):
            records = [*self.records(job.kind), entry][-KEEP:]
            store.save(RATES_KIND, spec, {"records": records})
        return entry

    def correction(self, kind: str) -> tuple[float, int] | None:
        """(median of measured / estimated, how many records) for ``kind``; None without records."""
        ratios = [r["measured"] / r["estimated"] for r in self.records(kind)]
        return (statistics.median(ratios), len(ratios)) if ratios else None


def _sound(record: Any) -> bool:
    return isinstance(record, dict) and all(
        isinstance(record.get(k), (int, float)) and math.isfinite(record[k]) and record[k] > 0 for k in _RECORD_FIELDS)


RATES = RateBook()  # this machine's: the cache directory's
