"""docs/reproduction.md's reproduction tables: rendered deterministically from the registry and a report's values,
written between the markers, and (CI) that page's block is the rendering of the committed report."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from xai_core import reproduce
from xai_core.errors import XAIError
from xai_core.reproduce import charts
from xai_core.reproduce.render import BEGIN, DOC, END, doc_block, rejudge, render_markdown, update_doc
from xai_core.reproduce.runner import KIND, LATEST, _spec, code_version
from xai_core.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "results" / "repro_quick.json"
FIDELITY = "meed.mnist_fidelity"
GOOD = {"MEED FS-M": 0.99, "MEED FU-M": 0.70, "L2X FU-M": 0.91}


def _claims():
    return reproduce.select(None, "quick")


def _measured(ours, status="current", **extra):
    """A stored report with meed.mnist_fidelity measured (``ours``), the rest not measured."""
    claim = reproduce.CLAIMS.get(FIDELITY)
    row = {"id": FIDELITY, "ours": ours, "status": status, "machine": "MACHINE-XYZ", "seconds": 1234.5,
           "finished": "2026-01-02 03:04", "command": claim.measurement.command("quick"), **extra}
    return {"preset": "quick", "code": "c0dec0dec0dec0de", "claims": [row]}


def _row(report, claim_id=FIDELITY):
    return next(r for r in report["claims"] if r["id"] == claim_id)


def test_rendering_is_deterministic_and_names_every_claim():
    report = rejudge({"preset": "quick", "claims": []})
    text = render_markdown(report)
    assert text == render_markdown(rejudge({"preset": "quick", "claims": []}))
    for claim in _claims():
        assert f"`{claim.id}`" in text
        assert claim.check.words.replace("|", "\\|") in text
        assert f"reproduce --claims {claim.id} --preset quick" in text
    for title in reproduce.PAPERS.values():
        assert f"### {title}" in text
    assert all(r["status"] == "missing" and r["holds"] is None for r in report["claims"])
    assert "not measured" in text


def test_no_timing_machine_or_code_hash_in_the_rendering():
    text = render_markdown(rejudge(_measured(GOOD)))
    for word in ("MACHINE-XYZ", "1234", "2026-01-02", "c0dec0de", code_version()):
        assert word not in text


def test_rejudged_verdicts_and_marks():
    held = rejudge(_measured(GOOD))
    assert _row(held)["holds"] is True and _row(held)["machine"] == "MACHINE-XYZ"
    text = render_markdown(held)
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| `{FIDELITY}`"))
    assert "| ✓ |" in line and "MEED FS-M 0.99" in line
    failed = rejudge(_measured({**GOOD, "MEED FU-M": 0.95}))
    assert _row(failed)["holds"] is False
    assert "| ✗ |" in render_markdown(failed)
    stale = rejudge(_measured(GOOD, status="stale"))
    assert "(stale: older code)" in render_markdown(stale) and _row(stale)["holds"] is True
    changed = rejudge(_measured(GOOD, command="python -m xai_core evaluate --n 3"))  # the measurement changed since
    assert _row(changed)["status"] == "stale"
    missing = rejudge(_measured(GOOD, status="missing"))
    assert _row(missing)["ours"] == {} and _row(missing)["holds"] is None


def test_rejudge_of_a_fresh_report_is_that_report(tmp_path):
    """The CLI's report, judged again from its own values, is unchanged (rendering it needs no rerun)."""
    store = ArtifactStore(tmp_path)
    claim = reproduce.CLAIMS.get(FIDELITY)
    result = {"results": {"meed": {"fs_fu": {"fs_m": 0.99, "fu_m": 0.7}},
                          "l2x": {"fs_fu": {"fs_m": 0.9, "fu_m": 0.91}}}}
    payload = {"result": result, "code": code_version(), "machine": "cpu", "seconds": 3.0, "finished": "now"}
    spec = _spec(claim.measurement, "quick")
    store.save(KIND, {**spec, "code": code_version()}, payload)
    store.save(LATEST, spec, payload)
    fresh = reproduce.report(_claims(), "quick", store)
    assert json.loads(json.dumps(rejudge(fresh))) == json.loads(json.dumps(fresh))
    assert _row(fresh)["holds"] is True


def test_update_doc_round_trips():
    page = f"# Title\n\nintro\n\n{BEGIN}\nold tables\n{END}\n\n## Next\n"
    rendered = render_markdown(rejudge({"preset": "quick", "claims": []}))
    updated = update_doc(page, rendered)
    assert doc_block(updated) == rendered
    assert update_doc(updated, rendered) == updated
    assert updated.startswith("# Title\n\nintro\n\n" + BEGIN) and updated.endswith(END + "\n\n## Next\n")
    assert "old tables" not in updated
    with pytest.raises(XAIError, match="reproduction:begin"):
        update_doc("# no markers\n", rendered)
    with pytest.raises(XAIError):
        doc_block(f"{END}\n{BEGIN}\n")


def test_chart_has_ours_and_the_papers_values():
    row = _row(rejudge(_measured(GOOD)))
    fig = charts.claim_figure(row)
    bars, paper = fig.data
    assert list(bars.x) == list(GOOD) and list(bars.y) == list(GOOD.values())
    assert list(paper.y) == [reproduce.CLAIMS.get(FIDELITY).paper_values[k] for k in GOOD]
    assert not bars.error_y.visible  # no interval recorded
    empty = charts.claim_figure(_row(rejudge({"preset": "quick", "claims": []})))
    assert all(v is None for v in empty.data[0].y) and "not measured" in empty.layout.title.text


def test_chart_draws_each_interval_around_its_bar():
    row = _row(rejudge(_measured(GOOD, ours_ci95={"MEED FS-M": [0.98, 0.995], "L2X FU-M": [0.9, 0.93]})))
    bars = charts.claim_figure(row).data[0]
    assert bars.error_y.visible
    assert bars.error_y.arrayminus == pytest.approx((0.01, 0.0, 0.01))
    assert bars.error_y.array == pytest.approx((0.005, 0.0, 0.02))


def test_doc_is_rendered_from_the_committed_report_and_the_current_claims():
    """CI: changing a claim's text, check or the paper's numbers (or adding one) without re-rendering
    fails here; fix with `python scripts/render_repro.py`."""
    expected = render_markdown(rejudge(json.loads(REPORT.read_text(encoding="utf-8"))))
    assert doc_block((ROOT / DOC).read_text(encoding="utf-8")) == expected, \
        f"{DOC}'s reproduction tables are stale: run python scripts/render_repro.py"


def test_script_check_and_write(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("render_repro", ROOT / "scripts" / "render_repro.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    page = tmp_path / "reproduction.md"
    page.write_text(f"# x\n{BEGIN}\nold\n{END}\n", encoding="utf-8")
    args = ["--report", str(REPORT), "--doc", str(page)]
    assert script.main([*args, "--check"]) == 1
    assert "render_repro.py" in capsys.readouterr().err
    assert script.main(args) == 0
    assert script.main([*args, "--check"]) == 0
    page.write_text("# no markers\n", encoding="utf-8")
    assert script.main(args) == 2


def test_a_paired_differences_bounds_are_its_interval_not_more_values():
    from xai_core.reproduce.render import ours_text
    row = {"status": "current", "ours": {"u = 2": 0.9, "u = 2 − u = 1": 0.02, "u = 2 − u = 1 low": 0.01,
                                         "u = 2 − u = 1 high": 0.03},
           "ours_ci95": {"u = 2 − u = 1": [0.01, 0.03]}}
    assert ours_text(row) == "u = 2 0.9, u = 2 − u = 1 0.02 [0.01, 0.03]"


def test_merging_a_new_report_keeps_old_claims_as_stale():
    spec = importlib.util.spec_from_file_location("merge_repro", ROOT / "scripts" / "merge_repro.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    old = {"preset": "quick", "code": "old", "claims": [{"id": "a", "status": "current", "ours": {"x": 1.0}},
                                                         {"id": "b", "status": "current", "ours": {"x": 2.0}},
                                                         {"id": "c", "status": "missing", "ours": {}}]}
    new = {"preset": "quick", "code": "new", "claims": [{"id": "b", "status": "current", "ours": {"x": 3.0}},
                                                         {"id": "c", "status": "missing", "ours": {}}]}
    merged = script.merge(old, [new])
    rows = {r["id"]: r for r in merged["claims"]}
    assert merged["code"] == "new" and rows["b"]["ours"] == {"x": 3.0} and rows["b"]["code"] == "new"
    assert rows["a"]["status"] == "stale" and rows["a"]["ours"] == {"x": 1.0}  # older code: kept, never current
    assert rows["c"]["status"] == "missing"
    assert [r["id"] for r in script.merge(old, [new], registered={"a", "c"})["claims"]] == ["a", "c"]  # b retired
    # a run split paper by paper: a row of the same code version that the next report did not measure stays current
    later = {"preset": "quick", "code": "new", "claims": [{"id": "a", "status": "current", "ours": {"x": 4.0}}]}
    rows = {r["id"]: r for r in script.merge(merged, [later])["claims"]}
    assert rows["a"]["status"] == "current" and rows["b"]["status"] == "current" and rows["b"]["ours"] == {"x": 3.0}
    with pytest.raises(SystemExit, match="presets differ"):
        script.merge(old, [{**new, "preset": "paper"}])


def test_the_tally_counts_verdicts_of_older_code_apart():
    from xai_core.reproduce.render import tally
    rows = [{"status": "current", "holds": True}, {"status": "current", "holds": False},
            {"status": "stale", "holds": True}, {"status": "stale", "holds": True},
            {"status": "missing", "holds": None}]
    assert tally(rows) == "5 claims, 1 hold, 1 do not, 1 not measured, 2 stale (older code: 2 hold, 0 do not)"


def test_a_claims_measured_reason_for_a_miss_is_shown_only_while_it_misses():
    from xai_core.reproduce import CLAIMS

    claim = CLAIMS.get("comet.pxap")
    assert claim.missed, "the registry states why ours miss this claim"

    def rendered(comet: float) -> tuple[dict, str]:
        ours = {"COMET": comet, "Grad-CAM": 0.63, "FullGrad": 0.68, "SmoothGrad": 0.43, "gradient": 0.35}
        stored = {"preset": "quick", "claims": [{"id": claim.id, "status": "current", "ours": ours,
                                                 "command": claim.measurement.command("quick")}]}
        report = rejudge(stored)
        return next(r for r in report["claims"] if r["id"] == claim.id), render_markdown(report)

    row, text = rendered(0.588)
    assert row["holds"] is False and row["missed"] == claim.missed and "Why ours miss it (measured)" in text
    row, text = rendered(0.9)
    assert row["holds"] is True and row["missed"] == "" and "Why ours miss it" not in text
