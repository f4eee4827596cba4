"""The repository's committed reproduction results: loaded from results/repro_<preset>.json, rejudged against
today's registry, with their provenance; merged in where the store has no current result."""
from __future__ import annotations

import json

import pytest

from xai_core import reproduce
from xai_core.errors import XAIError
from xai_core.reproduce import committed

FIDELITY = "meed.mnist_fidelity"
GOOD = {"MEED FS-M": 0.99, "MEED FU-M": 0.70, "L2X FU-M": 0.91}


def _report(tmp_path, rows, preset="quick", code="c0dec0dec0dec0de"):
    (tmp_path / f"repro_{preset}.json").write_text(json.dumps({"preset": preset, "code": code, "claims": rows}))
    return tmp_path


def _measured(claim_id=FIDELITY, ours=None, finished="2026-01-02 03:04", machine="MACHINE-XYZ", **extra):
    claim = reproduce.CLAIMS.get(claim_id)
    return {"id": claim_id, "ours": GOOD if ours is None else ours, "status": "current", "machine": machine,
            "seconds": 12.5, "finished": finished, "command": claim.measurement.command("quick"), **extra}


def _store_rows(status="missing"):
    """What ``reproduce.report`` gives on a store holding nothing (or only stale results)."""
    return [{"id": c.id, "status": status, "holds": None} for c in reproduce.select(None, "quick")]


def test_a_missing_file_or_another_preset_gives_nothing(tmp_path):
    assert committed.load("quick", tmp_path) is None
    _report(tmp_path, [_measured()], preset="paper")
    (tmp_path / "repro_quick.json").write_text((tmp_path / "repro_paper.json").read_text())  # says "paper" inside
    assert committed.load("quick", tmp_path) is None
    assert committed.merge(_store_rows(), None) == [{**r, "origin": "store", "store_status": "missing"}
                                                     for r in _store_rows()]


def test_rows_are_rejudged_and_carry_their_provenance(tmp_path):
    other = "meed.mnist_sen"  # another claim, measured on another machine, later
    bad = {"MEED FS-M": 0.2, "MEED FU-M": 0.9, "L2X FU-M": 0.91}
    rows = [_measured(holds=False, reason="recorded verdict, to be ignored"),
            _measured(other, ours=bad, finished="2026-03-04 05:06", machine="GPU-1"),
            {"id": "no.such.claim", "ours": {}, "status": "current", "machine": "M3", "finished": "2027-01-01 00:00"}]
    shipped = committed.load("quick", _report(tmp_path, rows))
    assert shipped is not None and shipped.code == "c0dec0dec0dec0de"
    fidelity = shipped.rows[FIDELITY]
    expected = reproduce.CLAIMS.get(FIDELITY).check.judge(GOOD, dict(reproduce.CLAIMS.get(FIDELITY).paper_values))
    assert (fidelity["holds"], fidelity["reason"]) == expected  # judged now, not the recorded verdict
    assert fidelity["holds"] is True
    assert set(shipped.rows) == {FIDELITY, other}  # only measured rows of claims registered now
    assert shipped.finished == "2026-03-04 05:06" and shipped.machines == ("MACHINE-XYZ", "GPU-1")
    words = shipped.provenance()
    assert "2026-03-04 05:06" in words and "MACHINE-XYZ / GPU-1" in words and "c0dec0dec0de" in words


def test_a_changed_measurement_makes_the_committed_row_stale(tmp_path):
    shipped = committed.load("quick", _report(tmp_path, [_measured(command="python -m xai_core evaluate --old")]))
    assert shipped.rows[FIDELITY]["status"] == "stale"


def test_merge_keeps_the_users_current_result_and_replaces_missing_and_stale_ones(tmp_path):
    shipped = committed.load("quick", _report(tmp_path, [_measured()]))
    for status, origin in (("missing", "committed"), ("stale", "committed"), ("current", "store")):
        merged = {r["id"]: r for r in committed.merge(_store_rows(status), shipped)}
        assert merged[FIDELITY]["origin"] == origin and merged[FIDELITY]["store_status"] == status
        assert merged[FIDELITY]["status"] == ("current" if origin == "committed" else status)
        others = [r for i, r in merged.items() if i != FIDELITY]
        assert all(r["origin"] == "store" and r["status"] == status for r in others)  # nothing committed for them


def test_a_broken_file_is_a_one_line_error(tmp_path):
    (tmp_path / "repro_quick.json").write_text("{not json")
    with pytest.raises(XAIError, match="not a readable report"):
        committed.load("quick", tmp_path)
    (tmp_path / "repro_quick.json").write_text(json.dumps(["a list"]))
    with pytest.raises(XAIError, match="not a reproduction report"):
        committed.load("quick", tmp_path)


def test_the_repositorys_committed_report_loads():
    shipped = committed.load("quick")
    if shipped is None:
        pytest.skip("no results/repro_quick.json in this checkout")
    assert shipped.rows and shipped.code and shipped.finished and shipped.machines
    assert set(shipped.rows) <= {c.id for c in reproduce.select(None, "quick")}
