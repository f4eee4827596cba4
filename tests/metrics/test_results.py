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
from xai_core.metrics.results import bootstrap_ci95, seed_ci95

from .helpers import make_inputs

RESULTS = Path(__file__).resolve().parents[2] / "results"
TYPES = {"scalar": ScalarValue, "curve": CurveValue, "seeded": SeededValue, "group": GroupValue}


def _text(value) -> str:
    """JSON text (key order included), as the CLI writes it."""
    return json.dumps(value, indent=2, default=float)


def _without_ci(value):
    """``value`` without its ``ci95`` entries (what :func:`aggregate` writes: the intervals are additions)."""
    if isinstance(value, dict):
        return {k: _without_ci(v) for k, v in value.items() if k != "ci95" and not k.endswith("_ci95")}
    return value


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
        assert _text(_without_ci(value.to_json())) == _text(aggregate(metric, per_image)), metric.name
        assert value.interval is not None or value.headline is None, metric.name
        if metric.kind in ("scalar", "group"):
            assert _without_ci(value.spread()) == summary(metric, per_image), metric.name
            assert value.spread().get("ci95") == (value.interval and list(value.interval)), metric.name
        else:
            assert value.spread() is None
        back = value_from_json(metric, value.to_json(), value.spread())
        assert back == value, metric.name
        assert _text(json.loads(_text(value.to_json()))) == _text(value.to_json())  # exact through JSON text
        seen.add(metric.kind)
    a1a2 = METRICS.get("a1a2")  # B×S: one column per generator seed, a NaN image and a seed with none counted
    per_image = {"a1": torch.tensor([[1.0, 0.0], [0.0, math.nan], [1.0, math.nan]]),
                 "a2": torch.tensor([[0.0, 1.0], [1.0, 1.0], [math.nan, 0.0]])}
    value = aggregate_value(a1a2, per_image)
    assert isinstance(value, SeededValue) and value.seeds == 2 and value.n == 3 and value.scores["a1"].seeds == (
        pytest.approx(2 / 3), 0.0)
    assert _text(_without_ci(value.to_json())) == _text(aggregate(a1a2, per_image))
    # two seeds with a mean each: a t-interval over seeds per score
    assert list(value.to_json()) == ["a1", "a1_std", "a1_seeds", "a1_ci95", "seeds", "n",
                                     "a2", "a2_std", "a2_seeds", "a2_ci95"]
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


# -- 95 % intervals ------------------------------------------------------------------------------------
def test_bootstrap_interval_has_the_spread_of_the_mean():
    assert bootstrap_ci95(torch.full((50,), 0.7)) == pytest.approx((0.7, 0.7))  # constant values: zero width
    coin = torch.tensor([0.0, 1.0] * 200)  # p = 0.5 over 400 images: ±1.96·√(0.25/400) ≈ ±0.049
    low, high = bootstrap_ci95(coin)
    assert low == pytest.approx(0.451, abs=0.01) and high == pytest.approx(0.549, abs=0.01)
    assert bootstrap_ci95(coin) == (low, high)  # a fixed seed: the same interval every time
    spread = torch.linspace(0, 1, 101)
    assert bootstrap_ci95(spread, seed=1) != bootstrap_ci95(spread)  # the seed is what fixes it
    assert bootstrap_ci95(torch.tensor([math.nan, 0.3])) == pytest.approx((0.3, 0.3))  # NaNs do not count
    assert bootstrap_ci95(torch.tensor([math.nan])) is None and bootstrap_ci95([]) is None


def test_seed_interval_is_a_t_interval_over_the_seeds():
    low, high = seed_ci95([0.8, 0.9, 1.0])  # mean 0.9, std 0.1, t(0.975, 2) = 4.303
    assert (low + high) / 2 == pytest.approx(0.9) and (high - low) / 2 == pytest.approx(4.303 * 0.1 / math.sqrt(3),
                                                                                         abs=1e-3)
    assert seed_ci95([0.5, None]) is None and seed_ci95([]) is None  # fewer than two seeds: none


def test_every_kind_gets_intervals_and_writes_them_back_exactly():
    coin = torch.tensor([0.0, 1.0] * 200)
    iou = aggregate_value(METRICS.get("iou"), {"iou": coin})
    assert iou.ci95 == bootstrap_ci95(coin) and iou.spread()["ci95"] == list(iou.ci95)
    x = torch.tensor([0.0, 1.0])
    flat = torch.stack([coin, coin], 1)  # each image's curve is flat at 0 or 1: its AUC is that value
    curve = aggregate_value(METRICS.get("deletion"), {"x": x, "probability": flat})
    assert curve.interval == pytest.approx(bootstrap_ci95(coin)) and list(curve.to_json())[:6] == [
        "x", "y", "std", "auc", "auc_std", "auc_ci95"]
    group = aggregate_value(METRICS.get("robustness"), {"pxap_clean": coin, "pxap_noisy": torch.full((400,), 0.2),
                                                         "pxap_background": torch.full((400,), math.nan)})
    assert group.interval == pytest.approx((0.2, 0.2)) and group.scores["pxap_background"].ci95 is None
    one_seed = aggregate_value(METRICS.get("a1a2"), {"a1": coin[:, None], "a2": coin[:, None]})
    assert one_seed.interval == bootstrap_ci95(coin)  # one seed: over its images
    data = {"dataset": "d", "preset": "smoke", "n": 400, "results": {"m": {"iou": iou.to_json(),
            "deletion": curve.to_json(), "robustness": group.to_json(), "a1a2": one_seed.to_json()}},
            "settings": {}, "ms_per_image": {"m": 1.0}, "spread": {"m": {"iou": iou.spread(),
                                                                          "robustness": group.spread()}}}
    text = _text(data)
    typed = EvaluationResult.from_json(json.loads(text))
    assert _text(typed.to_json()) == text and typed.results["m"]["iou"] == iou


def test_results_without_intervals_still_load():
    typed = EvaluationResult.from_json({"results": {"m": {"iou": 0.3, "deletion": {"x": [0, 1], "y": [1, 0],
                                                                                   "auc": 0.5, "n": 2}}},
                                        "spread": {"m": {"iou": {"mean": 0.3, "std": 0.1, "n": 5}}}})
    assert typed.results["m"]["iou"].interval is None and typed.results["m"]["deletion"].interval is None
    assert "ci95" not in typed.to_json()["spread"]["m"]["iou"]
