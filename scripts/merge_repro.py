"""Merge a new reproduction report into the committed one: a claim the new report measured (status current)
takes its new row; every other claim keeps its old row, still current when the same code version measured it
(a run split paper by paper), else marked stale (measured by older code), so the page and docs/reproduction.md
show what the repository last measured for it, never as current.

Usage: .venv/bin/python scripts/merge_repro.py NEW.json [NEW2.json …] [--into results/repro_quick.json]
(each NEW: ``python -m xai_core reproduce --papers … --preset quick --json NEW.json``), then
``python scripts/render_repro.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xai_core.reproduce.runner import select  # noqa: E402


def merge(old: dict, news: list[dict], registered: set[str] | None = None) -> dict:
    """``old`` with each claim a report of ``news`` measured (current) replaced by that row, the rest marked
    stale; the report's ``code`` is the newest report's, each new row records its own ``code``. With
    ``registered`` (the claim ids the registry has now), rows of retired claims are dropped."""
    fresh = {}
    for report in news:
        if report.get("preset") != old.get("preset"):
            raise SystemExit(f"presets differ: {report.get('preset')} vs {old.get('preset')}")
        fresh.update({row["id"]: {**row, "code": report["code"]} for row in report["claims"]
                      if row.get("status") == "current"})
    code = news[-1]["code"]
    rows = [fresh.get(row["id"]) or {**row, "status": _kept_status(row, code)} for row in old["claims"]]
    rows += [row for claim_id, row in fresh.items() if claim_id not in {r["id"] for r in old["claims"]}]
    if registered is not None:
        rows = [row for row in rows if row["id"] in registered]
    return {"preset": old.get("preset"), "code": code, "claims": rows}


def _kept_status(row: dict, code: str) -> str:
    """A row no new report measured: still current when the same code measured it, else stale."""
    if row.get("status") == "missing":
        return "missing"
    return "current" if row.get("status") == "current" and row.get("code") == code else "stale"


def registered(preset: str) -> set[str]:
    """The ids of the claims registered now that can run at ``preset`` (the rendered page shows only these)."""
    return {claim.id for claim in select(None, preset)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", nargs="+", help="report JSONs of the new runs")
    parser.add_argument("--into", default=str(ROOT / "results" / "repro_quick.json"))
    args = parser.parse_args()
    into = Path(args.into)
    old = json.loads(into.read_text(encoding="utf-8"))
    merged = merge(old, [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.new], registered(old["preset"]))
    into.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    counts = {s: sum(r["status"] == s for r in merged["claims"]) for s in ("current", "stale", "missing")}
    print(f"{into.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))


if __name__ == "__main__":
    main()
