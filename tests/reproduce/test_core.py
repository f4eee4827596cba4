"""The reproduction core: checks judge in words, claims read values from results, measurements run
once per preset and code version, results of other code are stale (kept, never current), and bad
input is one line."""
from __future__ import annotations

import pytest

from xai_core import reproduce
from xai_core.errors import XAIError
from xai_core.reproduce import claims as c
from xai_core.reproduce import runner
from xai_core.store import ArtifactStore


def test_checks_say_what_they_test_and_why_they_hold_or_not():
    order = c.ordering(["a", "b", "c"])
    assert order.words == "a > b > c"
    assert order.judge({"a": 3, "b": 2, "c": 1}, {})[0] is True
    holds, reason = order.judge({"a": 1, "b": 2, "c": 0}, {})
    assert holds is False and "a 1 vs b 2" in reason and reason.startswith("ours: b > a > c")
    assert c.ordering(["a", "b"], lower_is_better=True).judge({"a": 0.1, "b": 0.2}, {})[0] is True
    assert c.ordering(["a", "b"]).judge({"a": None, "b": 1}, {})[0] is None
    assert c.at_least("x", 0.97).judge({"x": 0.97}, {})[0] is True and c.at_most("x", 0.3).judge({"x": 0.31}, {})[0] is False
    assert c.ratio("s", "g", 10).judge({"s": 1.0, "g": 12.0}, {})[0] is True
    assert c.ratio("s", "g", 10).judge({"s": 1.0, "g": 9.0}, {})[0] is False
    assert c.within("x", 0.05).judge({"x": 0.5}, {"x": 0.53})[0] is True
    assert c.near("a", "b", 0.01).judge({"a": 1.0, "b": 0.98}, {})[0] is False
    assert c.best("m", ["v1", "v2"]).judge({"m": 0.9, "v1": 0.9, "v2": 0.8}, {})[0] is True  # ties hold
    both = c.all_of(c.at_least("x", 0.5), c.at_most("y", 0.5))
    assert both.words == "x ≥ 0.5 and y ≤ 0.5" and both.judge({"x": 0.6, "y": 0.7}, {})[0] is False
    assert both.judge({"x": 0.6, "y": None}, {})[0] is None


def test_values_are_read_from_an_evaluate_result():
    result = {"results": {"m": {"iou": 0.4, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.2},
                                "fs_fu": {"fs_m": 0.97, "fu_m": 0.8}}}}
    assert c.metric_values("iou", {"M": "m", "N": "n"})(result) == {"M": 0.4, "N": None}
    assert c.metric_values("deletion", {"M": "m"})(result) == {"M": 0.2}
    assert c.metric_values("fs_fu", {"M": "m"}, "fu_m")(result) == {"M": 0.8}
    assert c.metric_values("fs_fu", {"M": "m"})(result) == {"M": 0.97}  # no key: the headline (fs_m)
    assert c.metric_values("iou", {"M": "m"}, "fu_m")(result) == {"M": 0.4}  # a scalar has no scores
    assert c.metric_values("iou", {"M": "m"})({"results": {"m": {"iou": float("nan")}}}) == {"M": None}


def test_every_registered_claim_is_complete():
    claims = reproduce.select()
    assert {cl.paper for cl in claims} >= {"dorar", "comet", "meed"}
    for claim in claims:
        assert claim.claim and claim.source and claim.check.words
        assert claim.measurement.kind in runner.KINDS and claim.measurement.kind in c.COMMANDS
        verdict = reproduce.Verdict.of(claim, None)
        assert verdict.holds is None and verdict.reason == "not measured yet"
        assert set(claim.paper_values) <= set(claim.values({"results": {}})) or not claim.paper_values


@pytest.mark.parametrize("kwargs, message", [({"papers": ["nope"]}, "unknown paper 'nope'"),
                                             ({"ids": ["meed.nope"]}, "unknown claim 'meed.nope'")])
def test_bad_names_are_one_line(kwargs, message):
    with pytest.raises(XAIError, match=message) as err:
        reproduce.select(**kwargs)
    assert "\n" not in str(err.value)


def test_a_preset_no_claim_can_run_is_one_line(monkeypatch):
    only_quick = c.Measurement("evaluate", "mnist38", {"methods": ["gradient"], "metrics": ["sen"], "n": 2},
                               presets=("quick",))
    claim = c.Claim("meed.test_only_quick", "meed", "Table 0", "a test claim", {}, only_quick,
                    c.metric_values("sen", {"g": "gradient"}), c.at_most("g", 1.0))
    monkeypatch.setattr(runner, "CLAIMS", _registry_with(claim))
    with pytest.raises(XAIError, match="can run at preset 'paper'"):
        runner.select(["meed"], "paper")


def _registry_with(claim):
    from xai_core.registry import Registry

    registry = Registry("claim")
    registry.register(claim.id)(claim)
    return registry


def test_measurements_run_once_per_code_version_and_older_results_are_stale(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    calls = []

    def fake_evaluate(ctx, params, progress):
        calls.append(params["n"])
        return {"results": {"gradient": {"sen": 0.5}}}

    monkeypatch.setitem(runner.KINDS, "evaluate", fake_evaluate)
    monkeypatch.setattr(runner.services, "load_context", lambda *a, **k: None)
    m = c.Measurement("evaluate", "mnist38", {"methods": ["gradient"], "metrics": ["sen"], "n": 3})
    claim = c.Claim("meed.test", "meed", "Table 3", "SEN under 1", {"g": 6.0}, m,
                    c.metric_values("sen", {"g": "gradient"}), c.at_most("g", 1.0))
    assert runner.stored(m, "quick", store) is None and not runner.is_current(m, "quick", store)
    first = runner.measure(m, "quick", store)
    again = runner.measure(m, "quick", store)
    assert calls == [3] and first.result == again.result and not again.stale and runner.is_current(m, "quick", store)
    row = runner.report([claim], "quick", store)["claims"][0]
    assert row["status"] == "current" and row["holds"] is True and row["ours"] == {"g": 0.5}
    assert row["command"].startswith("python -m xai_core evaluate --dataset mnist38 --preset quick --methods gradient")

    monkeypatch.setattr(runner, "code_version", lambda: "another-version")  # the code changed since
    assert runner.stored(m, "quick", store).stale and not runner.is_current(m, "quick", store)
    row = runner.report([claim], "quick", store)["claims"][0]
    assert row["status"] == "stale" and row["ours"] == {"g": 0.5}  # kept and labelled, not current
    runner.measure(m, "quick", store)  # a rerun replaces it
    assert calls == [3, 3] and runner.report([claim], "quick", store)["claims"][0]["status"] == "current"


def test_a_black_box_trained_first_is_reported_and_the_progress_never_goes_backwards(tmp_path, monkeypatch):
    def training_black_box(*args, progress, **kwargs):
        for epoch in (1, 2):
            progress(epoch, 2, f"epoch {epoch}/2")

    def fake_evaluate(ctx, params, progress):
        progress(1, 2, "half the images")
        return {"results": {}}

    monkeypatch.setitem(runner.KINDS, "evaluate", fake_evaluate)
    monkeypatch.setattr(runner.services, "load_context", training_black_box)
    m = c.Measurement("evaluate", "mnist38", {"methods": ["gradient"], "metrics": ["sen"], "n": 3})
    claim = c.Claim("meed.test", "meed", "Table 3", "SEN under 1", {"g": 6.0}, m,
                    c.metric_values("sen", {"g": "gradient"}), c.at_most("g", 1.0))
    heard = []
    runner.measure_pending([claim], "quick", ArtifactStore(tmp_path),
                           progress=lambda done, total, message="", **k: heard.append((done / total, message)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("black box: epoch 2/2" in message for _, message in heard)  # an hour of training is not silent


def test_code_version_is_a_hash_of_the_package_source():
    runner.code_version.cache_clear()
    assert len(runner.code_version()) == 16 and runner.code_version() == runner.code_version()


def test_code_version_changes_with_computing_code_only(tmp_path):
    for name in ("methods/diet.py", "services/estimates.py", "measured.py", "reproduce/claims.py", "viz.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    before = runner.source_hash(tmp_path)
    for name in ("services/estimates.py", "measured.py", "reproduce/claims.py", "viz.py"):  # timings, UI, reports
        (tmp_path / name).write_text("x = 2\n")
    assert runner.source_hash(tmp_path) == before
    (tmp_path / "methods/diet.py").write_text("x = 2\n")  # a method: its results are stale
    assert runner.source_hash(tmp_path) != before
    (tmp_path / "methods/diet.py").write_text("x = 1\n")
    (tmp_path / "services/measured.py").write_text("x = 1\n")  # only the named modules are left out, by path
    assert runner.source_hash(tmp_path) != before


def test_a_measurement_with_an_unknown_setting_is_one_line_before_any_work():
    bad = c.Measurement("evaluate", "mnist", {"methods": ["lime"], "metrics": ["a1a2"], "n": 2,
                                              "configs": {"lime": {"n_e": 4}}})
    with pytest.raises(XAIError, match="lime has no setting 'n_e'"):
        runner.check(bad, "quick")
    for claim in reproduce.select():  # every registered measurement's settings exist
        runner.check(claim.measurement, "quick")


def test_a_tie_breaks_an_ordering_and_says_so():
    holds, reason = c.ordering(["a", "b"], lower_is_better=True).judge({"a": 0.172, "b": 0.172}, {})
    assert holds is False and reason.startswith("ours: a = b")
