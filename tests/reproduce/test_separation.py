"""Ordering claims beside their verdict: whether the 95 % intervals of the compared pairs separate, read from
the evaluation JSON and carried through the report and its rendering."""
from __future__ import annotations

import pytest
import torch

from xai_core.metrics import METRICS, EvaluationResult, aggregate_value
from xai_core.reproduce import claims
from xai_core.reproduce.claims import Claim, Measurement, Verdict, all_of, at_least, best, metric_values, ordering
from xai_core.reproduce.render import render_markdown, rejudge, separated_text


def _result(per_image: dict[str, torch.Tensor]) -> dict:
    """evaluate()'s JSON for iou with these per-image values per method (intervals by the bootstrap)."""
    values = {m: {"iou": aggregate_value(METRICS.get("iou"), {"iou": v})} for m, v in per_image.items()}
    return EvaluationResult("d", "quick", 400, values).to_json()


def test_separation_of_constructed_intervals():
    check = ordering(["a", "b", "c"])
    assert check.pairs == (("a", "b"), ("b", "c"))
    assert claims.separation(check, {"a": (0.8, 0.9), "b": (0.5, 0.6), "c": (0.1, 0.2)}) == (True,
                                                                                             "every pair separate")
    assert claims.separation(check, {"a": (0.8, 0.9), "b": (0.5, 0.85), "c": (0.1, 0.2)}) == (False, "overlap: a–b")
    assert claims.separation(check, {"a": (0.8, 0.9), "b": None, "c": (0.1, 0.2)}) == (None, "no interval for b")
    assert claims.separation(at_least("a", 0.5), {"a": (0.8, 0.9)}) == (None, "not an ordering")
    # a miss that is not noise separates too: the verdict says which way
    assert claims.separation(ordering(["a", "b"]), {"a": (0.1, 0.2), "b": (0.5, 0.6)})[0] is True
    both = all_of(best("a", ["b", "c"]), at_least("a", 0.5), ordering(["b", "c"]))
    assert both.pairs == (("a", "b"), ("a", "c"), ("b", "c"))


def test_a_claim_reads_intervals_from_the_json_and_reports_them_beside_the_verdict():
    coin = torch.tensor([0.0, 1.0] * 200)  # mean 0.5, interval ≈ ±0.05 over 400 images
    far, near = torch.full((400,), 0.1) + 0.1 * coin, 0.48 + 0.0 * coin
    reader = metric_values("iou", {"A": "a", "B": "b"})
    claim = Claim("t.order", "diet", "Table 1", "A above B", {}, Measurement("evaluate", "d", {}), reader,
                  ordering(["A", "B"]))
    apart = Verdict.of(claim, _result({"a": coin, "b": far}))
    assert apart.holds is True and apart.separated is True and apart.intervals["A"][0] < 0.5 < apart.intervals["A"][1]
    close = Verdict.of(claim, _result({"a": coin, "b": near}))
    assert close.holds is True and close.separated is False and close.separation == "overlap: A–B"
    old = _result({"a": coin, "b": far})
    old["spread"] = {m: {"iou": {k: v for k, v in s["iou"].items() if k != "ci95"}} for m, s in old["spread"].items()}
    unknown = Verdict.of(claim, old)  # a result written before intervals: the verdict stands, separation n/a
    assert unknown.holds is True and unknown.separated is None and unknown.intervals == {"A": None, "B": None}
    row = {"status": "current", "ours": close.ours, **close.row_fields()}
    assert separated_text(row) == "no (overlap: A–B)" and separated_text({**row, **apart.row_fields()}) == "yes"


def test_joined_readers_keep_each_readers_values_and_intervals():
    coin = torch.tensor([0.0, 1.0] * 200)
    result = _result({"a": coin, "b": 0.2 + 0.0 * coin})
    joined = claims.joined_values(metric_values("iou", {"A": "a"}), metric_values("iou", {"B": "b"}),
                                  lambda r: {"extra": 3.0})  # a plain reader has values and no intervals
    assert joined(result) == {"A": 0.5, "B": pytest.approx(0.2), "extra": 3.0}
    intervals = claims.intervals_of(joined, result)
    assert set(intervals) == {"A", "B"} and intervals["A"][0] < 0.5 < intervals["A"][1]


def test_rejudged_report_recomputes_separation_and_renders_the_column():
    claim = next(c for c in map(claims.CLAIMS.get, claims.CLAIMS.names())
                 if c.check.pairs and isinstance(c.values, claims.MetricValues) and "quick" in c.measurement.presets)
    labels = list(dict.fromkeys(k for pair in claim.check.pairs for k in pair))
    ours = {k: 0.9 - 0.1 * i for i, k in enumerate(labels)}
    ci = {k: [v - 0.01, v + 0.01] for k, v in ours.items()}
    report = {"preset": "quick", "claims": [{"id": claim.id, "ours": ours, "ours_ci95": ci, "status": "current",
                                             "command": claim.measurement.command("quick")}]}
    row = next(r for r in rejudge(report)["claims"] if r["id"] == claim.id)
    assert row["separated"] is True and row["ours_ci95"] == ci
    text = render_markdown(rejudge(report))
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| `{claim.id}`"))
    assert "| yes |" in line and f"[{ci[labels[0]][0]:.3g}, {ci[labels[0]][1]:.3g}]" in line
    report["claims"][0]["ours_ci95"] = {k: [0.0, 1.0] for k in ours}
    row = next(r for r in rejudge(report)["claims"] if r["id"] == claim.id)
    assert row["separated"] is False and row["holds"] is not None  # the verdict is judged as before


def test_the_cli_prints_each_value_with_its_interval():
    from xai_core.cli import _short
    from xai_core.metrics import value_from_json

    assert _short(value_from_json("iou", 0.5, {"mean": 0.5, "std": 0.1, "n": 3, "ci95": [0.4, 0.6]})) == \
        "0.5000 [0.4000, 0.6000]"
    assert _short(0.5, [0.45, 0.55]) == "0.5000 [0.4500, 0.5500]" and _short(0.5) == "0.5000"
    curve = value_from_json("deletion", {"x": [0, 1], "y": [1, 0], "auc": 0.5, "auc_ci95": [0.4, 0.6], "n": 2})
    assert _short(curve) == "0.5000 (AUC) [0.4000, 0.6000]"
