"""The reproduction tables of ``docs/reproduction.md`` (:data:`DOC`) from a report (:func:`~.runner.report`'s JSON).

:func:`rejudge` rebuilds a stored report's rows from the *current* registry (claim text, check,
paper numbers, command) and the values the report recorded (``ours``), so the page is always
rendered from today's claims: a claim added since the report shows "not measured", a changed check
is judged again on the recorded values. :func:`render_markdown` is deterministic and holds no
timing, machine or code hash (CI compares it with the page: content, not timing);
:func:`update_doc` replaces the block between :data:`BEGIN` and :data:`END`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import XAIError
from .claims import PAPERS, Claim, separation

BEGIN, END = "<!-- reproduction:begin -->", "<!-- reproduction:end -->"
DOC = "docs/reproduction.md"  #: the page holding the block, relative to the repository root
MARK = {True: "✓", False: "✗", None: "n/a"}
SEPARATED = {True: "yes", False: "no"}  #: whether an ordering's 95 % intervals separate (None: see the reason)
STALE, MISSING = "stale", "missing"


# -- a stored report judged against the current registry ---------------------------------------------
def rejudge(stored: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` (a report JSON) rebuilt from the registry: one row per claim registered now that can
    run at the report's preset, in listing order; claim, check, paper values, note and commands from
    the registry, ``ours`` and the status (current/stale/missing) and where it was measured from the
    report, the verdict and whether the intervals separate recomputed (from the recorded ``ours_ci95``;
    a report written before intervals has none). A row whose recorded command differs from the
    registry's (the measurement changed since) counts as stale; a claim the report lacks, as missing."""
    from .runner import select

    preset = stored.get("preset", "quick")
    old = {row["id"]: row for row in stored.get("claims", [])}
    rows = [_row(claim, preset, old.get(claim.id)) for claim in select(None, preset)]
    return {"preset": preset, "code": stored.get("code"), "claims": rows}


def _row(claim: Claim, preset: str, old: Mapping[str, Any] | None) -> dict[str, Any]:
    command = claim.measurement.command(preset)
    status = MISSING if old is None else old.get("status", MISSING)
    ours = {} if status == MISSING else {k: None if v is None else float(v) for k, v in (old.get("ours") or {}).items()}
    if status != MISSING and old.get("command") != command:
        status = STALE
    intervals = {} if status == MISSING else {k: None if v is None else [float(v[0]), float(v[1])]
                                              for k, v in (old.get("ours_ci95") or {}).items()}
    if status == MISSING:
        holds, reason, separated, why = None, "not measured yet", None, ""
    else:
        holds, reason = claim.check.judge(ours, dict(claim.paper_values))
        separated, why = separation(claim.check, {k: None if v is None else (v[0], v[1])
                                                  for k, v in intervals.items()})
    kept = old if old is not None and status != MISSING else {}
    return {
        "id": claim.id, "paper": claim.paper, "source": claim.source, "claim": claim.claim, "check": claim.check.words,
        "paper_values": dict(claim.paper_values), "paper_units": claim.paper_units, "ours": ours, "holds": holds,
        "reason": reason, "ours_ci95": intervals, "separated": separated, "separation": why, "note": claim.note,
        "missed": claim.missed if holds is False else "",
        "status": status, "machine": kept.get("machine"),
        "seconds": kept.get("seconds"), "finished": kept.get("finished"), "command": command,
        "rerun": f"python -m xai_core reproduce --claims {claim.id} --preset {preset}",
    }


# -- markdown ----------------------------------------------------------------------------------------
def number(value: float | None) -> str:
    """A value as the tables show it: 3 significant digits, "n/a" when missing."""
    return "n/a" if value is None else f"{value:.3g}"


def paper_text(row: Mapping[str, Any]) -> str:
    """The paper's numbers of a row, e.g. "MEED FS-M 0.99, L2X FU-M 0.912" (its units after)."""
    text = ", ".join(f"{k} {v:g}" for k, v in row["paper_values"].items()) or "–"
    return text + (f" (paper's units: {row['paper_units']})" if row.get("paper_units") else "")


def ours_text(row: Mapping[str, Any]) -> str:
    """Our values of a row, each with its 95 % interval where recorded ("DiET 0.308 [0.28, 0.34]"; a
    paired difference's ``… low`` / ``… high`` values are its interval, not shown again); "not measured"
    when missing, "(stale: older code)" after stale values."""
    if row["status"] == MISSING:
        return "not measured"
    intervals = row.get("ours_ci95") or {}

    def one(k: str, v: float | None) -> str:
        ci = intervals.get(k)
        return f"{k} {number(v)}" + ("" if ci is None or v is None else f" [{number(ci[0])}, {number(ci[1])}]")

    ours = row["ours"]
    bounds = {f"{k} {end}" for k in ours for end in ("low", "high")}  # a paired difference's bounds: its interval
    text = ", ".join(one(k, v) for k, v in ours.items() if k not in bounds) or "–"
    return text + (" (stale: older code)" if row["status"] == STALE else "")


def separated_text(row: Mapping[str, Any]) -> str:
    """Whether an ordering claim's 95 % intervals separate: "yes", "no (overlap: a–b)", "n/a (no interval
    for …)"; "–" for a claim that is not an ordering or is not measured."""
    why = row.get("separation") or ""
    if row["status"] == MISSING or why in ("", "not an ordering"):
        return "–"
    flag = row.get("separated")
    return SEPARATED[flag] if flag is True else f"{SEPARATED.get(flag, 'n/a')} ({why})"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def tally(rows: list[Mapping[str, Any]]) -> str:
    """E.g. "27 claims, 5 hold, 3 do not, 2 not measured, 17 stale (older code: 7 hold, 6 do not)": what holds
    on the current code counted apart from what held on older code."""
    current = [r for r in rows if r["status"] not in (MISSING, STALE)]
    old = [r for r in rows if r["status"] == STALE]

    def verdicts(part: list[Mapping[str, Any]]) -> str:
        return f"{sum(r['holds'] is True for r in part)} hold, {sum(r['holds'] is False for r in part)} do not"

    parts = [f"{len(rows)} claims", verdicts(current)]
    missing = sum(r["status"] == MISSING for r in rows)
    parts += [f"{missing} not measured"] if missing else []
    parts += [f"{len(old)} stale (older code: {verdicts(old)})"] if old else []
    return ", ".join(parts)


def render_markdown(report: Mapping[str, Any]) -> str:
    """One section per paper (``PAPERS`` order): a table claim | check | paper | ours | holds? | intervals
    separate? | reason, then each claim's note and commands. Only the registry's text and the report's
    values and verdicts: no seconds, dates, machine or code hash."""
    preset = report["preset"]
    rows = list(report["claims"])
    out = [f"Preset `{preset}`: {tally(rows)}. Rendered by `python scripts/render_repro.py` from "
           f"`python -m xai_core reproduce --preset {preset} --json results/repro_{preset}.json`; "
           "✓ holds here, ✗ does not, n/a: a value is missing. Ours carry their 95 % interval where the report "
           "has one; *intervals separate?* (ordering claims): whether the intervals of each pair compared are "
           "disjoint, a conservative rule (docs/metrics.md, \"Intervals\"); the verdict is the paper's check."]
    for paper, title in PAPERS.items():
        mine = [r for r in rows if r["paper"] == paper]
        out += ["", f"### {title}", ""]
        if not mine:
            out.append(f"No claim registered at the `{preset}` preset yet.")
            continue
        out += [f"{tally(mine)}.", "", "| claim | check | paper | ours | holds? | intervals separate? | reason |",
                "|---|---|---|---|---|---|---|"]
        for r in mine:
            reason = "–" if r["status"] == MISSING else r["reason"]
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{r['id']}` ({r['source']}): {r['claim']}", r["check"], paper_text(r), ours_text(r),
                MARK[r["holds"]], separated_text(r), reason)) + " |")
        out.append("")
        for r in mine:
            line = f"- `{r['id']}`" + (f": {' '.join(r['note'].split())}." if r.get("note") else ".")
            line += f" Command: `{r['command']}`;" if r.get("command") else " No command of its own;"
            line += f" rerun: `{r['rerun']}`."
            out.append(line + (f" **Why ours miss it (measured):** {' '.join(r['missed'].split())}" if r.get("missed")
                               else ""))
    return "\n".join(out) + "\n"


# -- the page (docs/reproduction.md) ------------------------------------------------------------------
def _bounds(doc_text: str) -> tuple[int, int]:
    start, end = doc_text.find(BEGIN), doc_text.find(END)
    if start < 0 or end < 0 or end < start:
        raise XAIError(f"the page has no {BEGIN} … {END} block to render the reproduction tables into")
    return start + len(BEGIN), end


def doc_block(doc_text: str) -> str:
    """What the page holds between the markers (as :func:`render_markdown` wrote it)."""
    start, end = _bounds(doc_text)
    return doc_text[start:end].strip("\n") + "\n"


def update_doc(doc_text: str, rendered: str) -> str:
    """``doc_text`` with the block between the markers replaced by ``rendered`` (one line error when
    the markers are missing)."""
    start, end = _bounds(doc_text)
    return doc_text[:start] + "\n" + rendered.strip("\n") + "\n" + doc_text[end:]


__all__ = ["BEGIN", "DOC", "END", "doc_block", "rejudge", "render_markdown", "separated_text", "update_doc"]
