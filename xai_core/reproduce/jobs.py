"""Reproducing claims in the background (the Reproduction page's Run buttons): one job per set of claims
and preset, measuring what is not current for this code version, one measurement after another."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..jobs import MANAGER, Job
from ..progress import Progress
from ..services.tasks import job_key
from ..store import ArtifactStore
from .claims import Claim, Measurement

#: what the page says before a run: measuring is not estimated (a measurement may fit several methods)
UNKNOWN_TIME = "may take minutes to hours: DiET's quick fit alone is ~33 min on 2 CPU cores"


def todo(claims: Sequence[Claim], preset: str, store: ArtifactStore) -> list[Measurement]:
    """The measurements behind ``claims`` that the store does not hold for this code version."""
    from . import is_current, measurements

    return [m for m in measurements(claims) if not is_current(m, preset, store)]


def reproduction_key(store: ArtifactStore, claims: Sequence[Claim], preset: str) -> str:
    """The key of :func:`reproduction_job`'s job for ``claims`` at ``preset`` in ``store``."""
    return job_key(store, "reproduce", preset, ",".join(c.id for c in claims))


def reproduction_job(store: ArtifactStore, claims: Sequence[Claim], preset: str, device: str = "auto") -> Job:
    """Measure what is not current of ``claims``' measurements in the background (one job per claims
    and preset: a second click returns the running job); the results land in the store, where the page
    and ``reproduce --report-only`` pick them up."""
    from .. import reproduce

    claims = list(claims)
    papers = sorted({c.paper for c in claims})
    what = claims[0].id if len(claims) == 1 else f"{len(claims)} claims of {', '.join(papers)}"

    def work(progress: Progress) -> dict[str, Any]:
        pending = todo(claims, preset, store)
        for i, m in enumerate(pending):
            def step(done: float, total: float, message: str = "", _i: int = i, _m: Measurement = m, **_: Any) -> None:
                progress(_i + min(done / max(total, 1), 0.999), len(pending),
                         f"{_i + 1}/{len(pending)} · {_m.dataset} {_m.kind}: {message}")

            progress(i, len(pending), f"{i + 1}/{len(pending)} · {m.dataset} {m.kind}")
            reproduce.measure(m, preset, store, device, step)
        progress(len(pending), len(pending), f"{len(pending)} measured")
        return {"measured": len(pending)}

    return MANAGER.submit(reproduction_key(store, claims, preset), f"reproduce {what} ({preset})", work)
