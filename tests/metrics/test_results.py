"""Typed results: one value type per metric kind, read from evaluate()'s JSON by the metric's kind and written
back exactly (values, key order), for every kind and for every committed results file."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from xai_core.errors import InvalidInputError
from xai_core.metrics import (
    METRICS, CurveValue, EvaluationResult, GroupValue, ScalarValue, SeededValue, aggregate, aggregate_value,
    evaluate_metric, summary, value_from_json,
)

from .helpers import make_inputs

RESULTS = Path(__file__).resolve().parents[2] / "results"
TYPES = {"scalar": ScalarValue, "curve": CurveValue, "seeded": SeededValue, "group": GroupValue}


def _text(value) -> str:
    """JSON text (key order included), as the CLI writes it."""
    return json.dumps(value, indent=2, default=float)


def _evaluations(value, where: str):
    """Every evaluate() result inside a JSON document (a sweep holds one per value under "runs")."""
    if isinstance(value, dict):
        if "results" in value and "spread" in value:
            yield where, value
            return
        for key, inner in value.items():
            yield from _evaluations(inner, f"{where}/{key}")


COMMITTED = [found for path in sorted(RESULTS.glob("*.json"))
             for found in _evaluations(json.loads(path.read_text()), path.name)]


def test_committed_results_files_hold_evaluations():
    files = {where.split("/")[0] for where, _ in COMMITTED}
    assert len(files) >= 15 and any("/runs/" in where for where, _ in COMMITTED)  # sweeps' runs too
    kinds = {METRICS.get(m).kind for _, r in COMMITTED for values in r["results"].values() for m in values}
    assert kinds == {"scalar", "curve", "seeded", "group"}


@pytest.mark.parametrize("where, data", COMMITTED, ids=[where for where, _ in COMMITTED])
def test_committed_results_read_and_write_unchanged(where, data):
    typed = EvaluationResult.from_json(data)
    assert _text(typed.to_json()) == _text(data)
    for values in typed.results.values():
        for metric, value in values.items():
            assert value is None or isinstance(value, TYPES[METRICS.get(metric).kind])


def _registered_values():
    """Each metric that runs on plain batches (no trained helpers), aggregated from real per-image values."""
    batches = [make_inputs(1), make_inputs(2)]
    for name in METRICS:
        metric = METRICS.get(name)
        if metric.kind == "seeded" or name == "sen":  # trained generators / re-explaining: services' tests
            continue
        over = {"steps": 5} if "steps" in metric.parameters else {}
        if name == "fs_fu":
            over = {"approximators": False}
        _, per_image = evaluate_metric(name, batches, **over)
        yield metric, per_image


def test_every_kind_writes_what_aggregate_writes():
    seen = set()
    for metric, per_image in _registered_values():
        value = aggregate_value(metric, per_image)
        assert isinstance(value, TYPES[metric.kind]) and value.kind == metric.kind
        assert _text(value.to_json()) == _text(aggregate(metric, per_image)), metric.name
        if metric.kind in ("scalar", "group"):
            assert value.spread() == summary(metric, per_image), metric.name
        else:
            assert value.spread() is None
        back = value_from_json(metric, value.to_json(), value.spread())
        assert back == value, metric.name
        seen.add(metric.kind)
    a1a2 = METRICS.get("a1a2")  # B×S: one column per generator seed, a NaN image and a seed with none counted
    per_image = {"a1": torch.tensor([[1.0, 0.0], [0.0, math.nan], [1.0, math.nan]]),
                 "a2": torch.tensor([[0.0, 1.0], [1.0, 1.0], [math.nan, 0.0]])}
    value = aggregate_value(a1a2, per_image)
    assert isinstance(value, SeededValue) and value.seeds == 2 and value.n == 3 and value.scores["a1"].seeds == (
        pytest.approx(2 / 3), 0.0)
    assert _text(value.to_json()) == _text(aggregate(a1a2, per_image))
    assert list(value.to_json()) == ["a1", "a1_std", "a1_seeds", "seeds", "n", "a2", "a2_std", "a2_seeds"]
    assert value_from_json(a1a2, value.to_json()) == value and value.headline == value.scores["a1"].mean
    assert seen | {"seeded"} == set(TYPES)


def test_headlines_follow_the_kind():
    curve = value_from_json("deletion", {"x": [0, 1], "y": [1, 0], "std": [0, 0], "auc": 0.5, "auc_std": 0.1, "n": 2})
    assert curve.headline == 0.5 and curve.y == (1, 0) and curve.auc_std == 0.1
    group = value_from_json("robustness", {"pxap_clean": 0.6, "pxap_noisy": 0.4, "n": 3})
    assert group.headline == 0.4 and group.spread() == {"mean": 0.4, "std": None, "n": None}
    assert value_from_json("iou", 0.3, {"mean": 0.3, "std": 0.1, "n": 5}) == ScalarValue(0.3, 0.1, 5)


def test_not_applicable_and_unscored_scalars():
    """null without a spread entry: the metric does not apply; null with one: no image counted."""
    assert value_from_json("iou", None) is None and value_from_json("deletion", None) is None
    assert value_from_json("iou", None, {"mean": None, "std": None, "n": 0}) == ScalarValue(None, None, 0)
    data = {"dataset": "d", "preset": "smoke", "n": 2, "results": {"m": {"iou": None, "pxap": None}},
            "settings": {"not_applicable": {"iou": "d has no ground-truth masks"}}, "ms_per_image": {"m": 1.0},
            "spread": {"m": {"pxap": {"mean": None, "std": None, "n": 0}}}, "ablation": {"m": {}}}
    typed = EvaluationResult.from_json(data)
    assert typed.results["m"] == {"iou": None, "pxap": ScalarValue(None, None, 0)}
    assert typed.not_applicable == {"iou": "d has no ground-truth masks"} and typed.extra == {"ablation": {"m": {}}}
    assert _text(typed.to_json()) == _text(data) and typed.metrics() == ["iou", "pxap"] and typed.metrics("curve") == []


def test_a_value_of_the_wrong_shape_or_an_unknown_metric_is_one_line():
    with pytest.raises(InvalidInputError, match="metric 'deletion' \\(curve\\)") as err:
        value_from_json("deletion", 0.5)
    assert "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="metric 'iou' \\(scalar\\)"):
        value_from_json("iou", {"x": [0]})
    with pytest.raises(InvalidInputError, match="metric 'deletion'"):
        value_from_json("deletion", {"y": [1]})  # no x axis
    with pytest.raises(Exception, match="no_such_metric"):
        EvaluationResult.from_json({"results": {"m": {"no_such_metric": 1.0}}})


def test_to_json_is_a_copy():
    data = COMMITTED[0][1]
    typed = EvaluationResult.from_json(data)
    out = typed.to_json()
    out["settings"]["processes"] = 2
    assert "processes" not in typed.settings and "processes" not in data["settings"]
