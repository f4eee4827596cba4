"""Reproducing claims in the background (the Reproduction page's Run buttons): one job per set of claims
and preset, measuring what is not current for this code version, one measurement after another."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..jobs import MANAGER, Job
from ..progress import Progress
from ..services.tasks import job_key
from ..store import ArtifactStore
from . import runner
from ..methods import METHODS
from .claims import Claim, Measurement

def time_note(pending: Sequence[Measurement]) -> str:
    """What the page says before a run of ``pending``: measuring is not estimated, but the trained methods
    it may fit (each minutes to an hour on 2 CPU cores when not cached) are named."""
    fits = sorted({m for measurement in pending for m in _methods(measurement) if METHODS.get(m).caps.trained})
    if not fits:
        return "no method to fit first (the time is the per-image work: not estimated)"
    return (f"may take minutes to hours: it fits {', '.join(fits)} where not cached (each fit minutes to an hour on "
            "2 CPU cores; the Train page estimates each)")


def _methods(measurement: Measurement) -> list[str]:
    params = measurement.params
    names = list(params.get("methods", [])) + ([params["method"]] if "method" in params else [])
    return [n for n in names if n in METHODS]


def reproduction_key(store: ArtifactStore, claims: Sequence[Claim], preset: str) -> str:
    """The key of :func:`reproduction_job`'s job for ``claims`` at ``preset`` in ``store``."""
    return job_key(store, "reproduce", preset, ",".join(c.id for c in claims))


def reproduction_job(store: ArtifactStore, claims: Sequence[Claim], preset: str, device: str = "auto") -> Job:
    """Measure what is not current of ``claims``' measurements in the background (one job per claims
    and preset: a second click returns the running job); the results land in the store, where the page
    and ``reproduce --report-only`` pick them up."""
    claims = list(claims)
    papers = sorted({c.paper for c in claims})
    what = claims[0].id if len(claims) == 1 else f"{len(claims)} claims of {', '.join(papers)}"

    def work(progress: Progress) -> dict[str, Any]:
        return {"measured": runner.measure_pending(claims, preset, store, device, progress)}

    return MANAGER.submit(reproduction_key(store, claims, preset), f"reproduce {what} ({preset})", work)
