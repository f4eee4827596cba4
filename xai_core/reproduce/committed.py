"""The repository's committed reproduction results (``results/repro_<preset>.json``, a report JSON written by
``python -m xai_core reproduce --json``), shown where the user's own store has no current result.

Presentation only (nothing runs, no services): :func:`load` rejudges the committed report with
:func:`.render.rejudge` (what docs/reproduction.md shows: today's claims, checks and paper numbers on the
recorded values) and keeps its provenance; :func:`merge` puts its rows in place of the store's missing or
stale ones, so a fresh clone shows what the repository measured until the user's own runs replace it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import XAIError
from .render import MISSING, STALE, rejudge

RESULTS = Path(__file__).resolve().parents[2] / "results"  #: the repository's results folder
STORE, COMMITTED = "store", "committed"  #: a merged row's ``origin``


@dataclass(frozen=True)
class Committed:
    """A committed report, rejudged: its measured rows by claim id and where they came from."""

    path: Path
    code: str | None  #: the report's code version (``runner.code_version`` when it was written)
    finished: str | None  #: the newest ``finished`` date among its measured rows
    machines: tuple[str, ...]  #: the machines its measured rows ran on
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  #: claim id → rejudged row (measured only)

    def provenance(self) -> str:
        """In words: "measured 2026-11-29 11:03 on CPU, 2 threads (x86_64); code 4d04fde5a3b3…"."""
        when = f"measured {self.finished}" if self.finished else "measured (date not recorded)"
        where = f" on {' / '.join(self.machines)}" if self.machines else ""
        code = f"; code {self.code[:12]}…" if self.code else ""
        return when + where + code


def path_for(preset: str, results: Path | None = None) -> Path:
    """Where the committed report of ``preset`` lives."""
    return (RESULTS if results is None else Path(results)) / f"repro_{preset}.json"


def load(preset: str, results: Path | None = None) -> Committed | None:
    """The committed report of ``preset`` rejudged (None when there is none, or it holds another preset);
    a one-line :class:`XAIError` when the file is not a report."""
    path = path_for(preset, results)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise XAIError(f"{path.name} is not a readable report: {err}") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("claims"), list):
        raise XAIError(f"{path.name} is not a reproduction report (no claims list)")
    if stored.get("preset", "quick") != preset:
        return None
    judged = rejudge(stored)
    rows = {r["id"]: r for r in judged["claims"] if r["status"] != MISSING}
    finished = sorted(str(r["finished"]) for r in rows.values() if r.get("finished"))
    machines = tuple(dict.fromkeys(str(r["machine"]) for r in rows.values() if r.get("machine")))
    return Committed(path, judged.get("code"), finished[-1] if finished else None, machines, rows)


def merge(ours: Sequence[Mapping[str, Any]], committed: Committed | None) -> list[dict[str, Any]]:
    """The store's rows (``ours``, :func:`~.runner.report`'s) with the committed ones in place of those
    that are not current: the user's current result wins; a missing or stale one gives way to a committed
    measurement of that claim (a stale one is what older code of *this* machine measured, the committed one
    is what the docs show). Each row gets ``origin`` (:data:`STORE` / :data:`COMMITTED`) and
    ``store_status`` (the store's own status, to say that a stale result was set aside)."""
    out = []
    for row in ours:
        theirs = None if committed is None or row["status"] not in (MISSING, STALE) else committed.rows.get(row["id"])
        chosen = dict(row if theirs is None else theirs)
        chosen.update(origin=STORE if theirs is None else COMMITTED, store_status=row["status"])
        out.append(chosen)
    return out


__all__ = ["COMMITTED", "RESULTS", "STORE", "Committed", "load", "merge", "path_for"]
