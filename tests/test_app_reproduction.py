"""The Reproduction page: every claim "not measured" on an empty cache (no committed results), the repository's
committed results in place of missing or stale ones, a stored result with its chart and
provenance, and Run buttons that start a background job (``reproduce.measure`` faked: nothing trains)."""
from __future__ import annotations

from app_pages import page

import json

from xai_core import reproduce
from xai_core.jobs import MANAGER
from xai_core.reproduce import committed, runner
from xai_core.reproduce.jobs import reproduction_key
from xai_core.store import ArtifactStore

CLAIM = "meed.mnist_fidelity"
RESULT = {"results": {"meed": {"fs_fu": {"fs_m": 0.99, "fu_m": 0.70}}, "l2x": {"fs_fu": {"fs_m": 0.9, "fu_m": 0.91}}}}


def _store_result(store, m, preset, result=RESULT, machine="test machine"):
    payload = {"result": result, "code": runner.code_version(), "machine": machine, "seconds": 12.0,
               "finished": "2026-11-29 10:00"}
    spec = runner._spec(m, preset)
    store.save(runner.KIND, {**spec, "code": runner.code_version()}, payload)
    store.save(runner.LATEST, spec, payload)
    return runner.Stored(**payload)


def _texts(at):
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "code") for e in at.get(kind))


def _table_rows(at):
    return [row for df in at.dataframe for row in df.value.to_dict("records")]


def _empty_cache(monkeypatch, tmp_path, results=None):
    """An empty store, and the repository's committed results read from ``results`` (default: none)."""
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(committed, "RESULTS", results or tmp_path / "no-results")
    return tmp_path / "cache"


def _committed_report(tmp_path, machine="committed machine"):
    """A report JSON as ``reproduce --json`` writes it, holding only CLAIM's measurement, in tmp_path/results."""
    store = ArtifactStore(tmp_path / "other-store")
    _store_result(store, reproduce.CLAIMS.get(CLAIM).measurement, "quick", machine=machine)
    report = reproduce.report(reproduce.select(None, "quick"), "quick", store)
    for row in report["claims"]:
        if row["finished"]:
            row["finished"] = "2026-12-01 09:00"
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "repro_quick.json").write_text(json.dumps(report))
    return tmp_path / "results", report["code"]


def test_empty_cache_shows_every_claim_not_measured(monkeypatch, tmp_path):
    _empty_cache(monkeypatch, tmp_path)
    at = page("reproduction.py", monkeypatch)
    rows = _table_rows(at)
    claims = reproduce.select(None, "quick")
    assert sorted(r["claim"].split(" ")[0] for r in rows) == sorted(c.id for c in claims)
    assert all(r["status"] == "not measured" and r["holds"] == "n/a" for r in rows)
    assert {h.value for h in at.header} == set(reproduce.PAPERS.values())
    text = _texts(at)
    assert f"python -m xai_core reproduce --claims {CLAIM} --preset quick" in text
    assert "it fits diet where not cached" in text and "it fits comet where not cached" in text  # per paper
    paper_run = at.button(key="run-paper-meed-quick")
    assert paper_run.disabled  # a whole paper needs the confirmation first
    at.checkbox(key="confirm-run-paper-meed-quick").check().run()
    assert not at.button(key="run-paper-meed-quick").disabled
    at.radio(key="repro_preset").set_value("paper").run()
    assert not at.exception, at.exception
    assert all(r["status"] == "not measured" for r in _table_rows(at))


def test_stored_result_is_shown_with_its_chart_and_provenance(monkeypatch, tmp_path):
    root = _empty_cache(monkeypatch, tmp_path)
    _store_result(ArtifactStore(root), reproduce.CLAIMS.get(CLAIM).measurement, "quick")
    at = page("reproduction.py", monkeypatch)
    row = next(r for r in _table_rows(at) if r["claim"].startswith(CLAIM))
    assert row["status"] == "current" and row["holds"] == "✓"
    assert "MEED FS-M 0.99" in row["ours"]
    assert at.get("plotly_chart"), "the claim's chart"
    assert "test machine" in _texts(at) and "2026-11-29 10:00" in _texts(at)
    sen = next(r for r in _table_rows(at) if r["claim"].startswith("meed.mnist_sen "))
    assert sen["status"] == "current" and sen["holds"] == "n/a"  # same measurement, its SEN values missing


def test_run_button_submits_a_job_that_measures(monkeypatch, tmp_path):
    root = _empty_cache(monkeypatch, tmp_path)
    calls = []

    def fake_measure(m, preset, store, device="auto", progress=None):
        calls.append((m, preset))
        if progress is not None:
            progress(1, 1, "faked")
        return _store_result(store, m, preset)

    monkeypatch.setattr(runner, "measure", fake_measure)
    at = page("reproduction.py", monkeypatch)
    at.button(key=f"run-claim-{CLAIM}-quick").click().run()
    assert not at.exception, at.exception
    claim = reproduce.CLAIMS.get(CLAIM)
    job = MANAGER.wait(reproduction_key(ArtifactStore(root), [claim], "quick"), timeout=60)
    assert job.status == "done", job.error
    assert calls == [(claim.measurement, "quick")]
    at.run()
    row = next(r for r in _table_rows(at) if r["claim"].startswith(CLAIM))
    assert row["status"] == "current" and row["holds"] == "✓"
    assert f"run-claim-{CLAIM}-quick" not in [b.key for b in at.button]  # nothing pending: no Run button
    assert "nothing to run" in _texts(at)


def test_an_empty_store_shows_the_repositorys_committed_results_with_their_provenance(monkeypatch, tmp_path):
    results, code = _committed_report(tmp_path)
    _empty_cache(monkeypatch, tmp_path, results)
    at = page("reproduction.py", monkeypatch)
    rows = _table_rows(at)
    row = next(r for r in rows if r["claim"].startswith(CLAIM + " "))
    assert row["status"] == "repository's results" and row["holds"] == "✓" and "MEED FS-M 0.99" in row["ours"]
    shipped = [r for r in rows if r["status"] == "repository's results"]
    assert {r["claim"].split(" ")[0] for r in shipped} == {c.id for c in reproduce.select(None, "quick")
                                                          if c.measurement == reproduce.CLAIMS.get(CLAIM).measurement}
    assert all(r["status"] == "not measured" for r in rows if r not in shipped)  # what the report lacks
    text = " ".join(str(e.value) for e in at.info) + _texts(at)
    assert f"{len(shipped)} of {len(rows)} rows are from the repository's results" in text
    assert "committed machine" in text and "2026-12-01 09:00" in text and code[:12] in text
    # the tally: the committed rows' verdicts among the current ones, the rest not measured
    assert (f"{len(rows)} claims, {sum(r['holds'] == '✓' for r in shipped)} hold, "
            f"{sum(r['holds'] == '✗' for r in shipped)} do not, {len(rows) - len(shipped)} not measured; "
            f"{len(shipped)} rows from the repository's results") in text
    assert at.get("plotly_chart"), "the committed claim's chart"
    assert not at.button(key=f"run-claim-{CLAIM}-quick").disabled  # the user can still measure it here


def test_the_users_current_result_replaces_the_committed_one_and_a_stale_one_gives_way(monkeypatch, tmp_path):
    results, _ = _committed_report(tmp_path)
    root = _empty_cache(monkeypatch, tmp_path, results)
    m = reproduce.CLAIMS.get(CLAIM).measurement
    payload = {"result": RESULT, "code": "older-code", "machine": "my stale machine", "seconds": 3.0,
               "finished": "2026-11-01 08:00"}
    ArtifactStore(root).save(runner.LATEST, runner._spec(m, "quick"), payload)  # a stale result only
    at = page("reproduction.py", monkeypatch)
    row = next(r for r in _table_rows(at) if r["claim"].startswith(CLAIM + " "))
    assert row["status"] == "repository's results"
    assert "stale result of its own" in _texts(at) and "my stale machine" not in _texts(at)
    _store_result(ArtifactStore(root), m, "quick", machine="my machine")  # now a current one of the user's
    at.run()
    row = next(r for r in _table_rows(at) if r["claim"].startswith(CLAIM + " "))
    assert row["status"] == "current" and "my machine" in _texts(at)
    assert "rows are from the repository's results" not in " ".join(str(e.value) for e in at.info)


def test_the_repositorys_own_results_file_fills_the_page_on_a_fresh_clone(monkeypatch, tmp_path):
    """The committed results/repro_quick.json itself: every claim it measured is shown, none as "not measured"."""
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))
    path = committed.path_for("quick")
    measured = {r["id"] for r in json.loads(path.read_text())["claims"] if r["status"] != "missing"}
    at = page("reproduction.py", monkeypatch)
    rows = {r["claim"].split(" ")[0]: r for r in _table_rows(at)}
    shown = [i for i in measured if i in rows]
    assert shown and all(rows[i]["status"] != "not measured" for i in shown)
