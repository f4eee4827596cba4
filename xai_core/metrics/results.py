"""Typed evaluation results: ``services.evaluate``'s JSON read with each metric's kind.

The JSON stays the exchange format (the CLI's ``--json``, the reproduction cache, ``results/*.json``,
what pages and jobs hold). :class:`EvaluationResult` reads it into one value type per
:attr:`Metric.kind <xai_core.metrics.Metric.kind>`, the kind taken from the metric registry rather
than guessed from a value's keys, and writes it back exactly: ``from_json(j).to_json() == j``, key
order included, for every result evaluate() writes. Tables, charts and the CLI read the typed values.

The JSON of one value, ``results[label][metric]`` (shapes from :mod:`.base`'s aggregation):

- scalar (:class:`ScalarValue`): the mean over images, None when no image counts; its sample std,
  image count and 95 % interval under ``spread[label][metric] = {"mean", "std", "n", "ci95"}``;
- curve (:class:`CurveValue`): ``{"x", "y", "std", "auc", "auc_std", "auc_ci95", "n"}`` for the primary
  curve and ``{name, name_std, name_auc, name_auc_std, name_auc_ci95}`` per other curve
  (:func:`~.base.aggregate_curves`);
- seeded (:class:`SeededValue`): ``{key, key_std, key_seeds, key_ci95}`` per score, with ``"seeds"`` and
  ``"n"`` written after the first score's keys (:func:`~.base.aggregate_seeded`);
- group (:class:`GroupValue`): ``{key, key_std, key_n, key_ci95}`` per score, then ``"n"``; the primary
  score's mean, std, count and interval also under ``spread`` (:func:`~.base.aggregate_group`).

Every ``ci95`` is ``[low, high]``, a 95 % interval of the mean (:func:`bootstrap_ci95` over images,
:func:`seed_ci95` over seeds; docs/metrics.md, "Intervals"). They are additions: results written before
them have no ``ci95`` keys, read as None and are written back without them.

A metric that does not apply to the dataset is null, its reason under ``settings["not_applicable"]``.
Keys that older or hand-written results lack read as None (empty for ``settings`` and the like);
:meth:`EvaluationResult.to_json` always writes today's full shape.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch

from ..errors import InvalidInputError
from .base import METRICS, X_KEY, Metric, aggregate, normalised_auc, summary

Kind = Literal["scalar", "curve", "seeded", "group"]
Floats = tuple[float | None, ...]
PRIMARY = "y"  # the name the primary curve of a curve metric has in the JSON
Interval = tuple[float, float]  # a 95 % interval [low, high] of a mean
CI = "ci95"  # the key (or key suffix) of an interval in the JSON
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same values always give the same interval


def bootstrap_ci95(values: torch.Tensor | Sequence[float] | np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> Interval | None:
    """The 95 % percentile-bootstrap interval of the mean of ``values`` (NaNs dropped): ``resamples``
    resamples of the images with replacement, drawn from a generator seeded with ``seed``, so the same
    values always give the same interval. None when no value counts; one value gives a zero-width interval."""
    v = torch.as_tensor(values).detach().double().flatten().cpu().numpy()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, 1_000_000 // v.size)  # resamples per block: at most ~1e6 indices in memory
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        means[start:stop] = v[rng.integers(0, v.size, size=(stop - start, v.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def seed_ci95(per_seed: Sequence[float | None]) -> Interval | None:
    """The 95 % Student-t interval of the mean over seeds, ``mean ± t(0.975, S−1) · std / √S``, from the
    per-seed means (None ones dropped): with the 3–5 seeds a seeded metric runs, a bootstrap over seeds
    could not reach the tails. None with fewer than two seeds."""
    v = np.asarray([p for p in per_seed if p is not None and not math.isnan(p)], dtype=np.float64)
    if v.size < 2:
        return None
    from scipy.stats import t  # only here: importing xai_core.metrics stays light

    half = float(t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    mean = float(v.mean())
    return mean - half, mean + half


def _list(values: Floats | None) -> list[float | None] | None:
    return None if values is None else list(values)


def _interval(value: Any) -> Interval | None:
    """A JSON ``[low, high]`` read as a tuple (None stays None)."""
    return None if value is None else (float(value[0]), float(value[1]))


def _with_ci(out: dict[str, Any], key: str, ci: Interval | None) -> dict[str, Any]:
    """``out`` with ``key: [low, high]`` added where there is an interval (results without one keep
    their shape)."""
    if ci is not None:
        out[key] = list(ci)
    return out


def _scores(value: Mapping[str, Any], suffixes: tuple[str, ...], counts: tuple[str, ...]) -> list[str]:
    """The score names of a seeded or group value, in order: keys that are neither a count (``n``,
    ``seeds``) nor another score's ``<score><suffix>``."""
    return [k for k in value
            if k not in counts and not any(k.endswith(s) and k[:-len(s)] in value for s in suffixes)]


@dataclass(frozen=True)
class ScalarValue:
    """A scalar metric: the mean over images (None: no image counts), with the sample std, the images
    counted and the 95 % interval of the mean where known (``n`` None: the result has no spread entry)."""

    kind: ClassVar[Kind] = "scalar"
    mean: float | None
    std: float | None = None
    n: int | None = None
    ci95: Interval | None = None

    @property
    def headline(self) -> float | None:
        return self.mean

    @property
    def interval(self) -> Interval | None:
        """The headline's 95 % interval."""
        return self.ci95

    def to_json(self) -> float | None:
        return self.mean

    def spread(self) -> dict[str, Any] | None:
        """The ``spread`` entry (mean, std, images, interval), None when the count is unknown."""
        return None if self.n is None else _with_ci({"mean": self.mean, "std": self.std, "n": self.n}, CI, self.ci95)

    @classmethod
    def from_json(cls, value: Any, spread: Mapping[str, Any] | None) -> ScalarValue:
        if isinstance(value, (Mapping, list)):
            raise TypeError("a scalar is a number or null")
        if not spread:
            return cls(value)
        return cls(value, spread.get("std"), spread.get("n"), _interval(spread.get(CI)))


@dataclass(frozen=True)
class Series:
    """One mean curve over images: y per x and its sample std per x (NaN-free: None), the normalised
    AUC averaged over images, its sample std and the 95 % interval of that mean."""

    y: Floats
    std: Floats | None = None
    auc: float | None = None
    auc_std: float | None = None
    auc_ci95: Interval | None = None


@dataclass(frozen=True)
class CurveValue:
    """A curve metric: the x axis (ascending) and its mean curves in JSON order, the primary one under
    :data:`PRIMARY`; ``n``: the images the primary AUC counts."""

    kind: ClassVar[Kind] = "curve"
    x: Floats
    series: Mapping[str, Series]
    n: int | None = None

    @property
    def primary(self) -> Series | None:
        return self.series.get(PRIMARY)

    @property
    def y(self) -> Floats:
        """The primary curve (empty when there is none)."""
        return () if self.primary is None else self.primary.y

    @property
    def auc(self) -> float | None:
        return None if self.primary is None else self.primary.auc

    @property
    def auc_std(self) -> float | None:
        return None if self.primary is None else self.primary.auc_std

    @property
    def headline(self) -> float | None:
        return self.auc

    @property
    def interval(self) -> Interval | None:
        """The headline (primary AUC)'s 95 % interval."""
        return None if self.primary is None else self.primary.auc_ci95

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"x": list(self.x)}
        for name, s in self.series.items():
            prefix = "" if name == PRIMARY else f"{name}_"
            out.update({"y" if name == PRIMARY else name: list(s.y), f"{prefix}std": _list(s.std),
                        f"{prefix}auc": s.auc, f"{prefix}auc_std": s.auc_std})
            _with_ci(out, f"{prefix}auc_{CI}", s.auc_ci95)
            if name == PRIMARY:
                out["n"] = self.n
        return out

    def spread(self) -> None:
        return None

    @classmethod
    def from_json(cls, value: Mapping[str, Any], primary: str) -> CurveValue:
        names = _scores(value, ("_std", "_auc", "_auc_std", f"_auc_{CI}"),
                        ("x", "std", "auc", "auc_std", f"auc_{CI}", "n"))
        series = {}
        for name in names:
            prefix = "" if name == PRIMARY else f"{name}_"
            std = value.get(f"{prefix}std")
            series[name] = Series(tuple(value[name]), None if std is None else tuple(std),
                                  value.get(f"{prefix}auc"), value.get(f"{prefix}auc_std"),
                                  _interval(value.get(f"{prefix}auc_{CI}")))
        return cls(tuple(value["x"]), series, value.get("n"))


@dataclass(frozen=True)
class SeededScore:
    """One score of a seeded metric: the mean over seeds of its per-seed means over images, their sample
    std, the per-seed means, and the 95 % interval of the mean (:func:`seed_ci95`)."""

    mean: float | None
    std: float | None = None
    seeds: Floats = ()
    ci95: Interval | None = None


class _Primary:
    """A value of several named scores whose headline is the ``primary`` one's mean."""

    scores: Mapping[str, Any]
    primary: str

    @property
    def headline(self) -> float | None:
        score = self.scores.get(self.primary)
        return None if score is None else score.mean

    @property
    def interval(self) -> Interval | None:
        """The headline (primary score)'s 95 % interval."""
        score = self.scores.get(self.primary)
        return None if score is None else score.ci95


@dataclass(frozen=True)
class SeededValue(_Primary):
    """A seeded metric (something trained per seed, e.g. a1a2's generators): its scores in order,
    ``seeds`` seeds over ``n`` images; ``primary`` names the headline score."""

    kind: ClassVar[Kind] = "seeded"
    scores: Mapping[str, SeededScore]
    primary: str
    seeds: int | None = None
    n: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (key, s) in enumerate(self.scores.items()):
            out.update({key: s.mean, f"{key}_std": s.std, f"{key}_seeds": list(s.seeds)})
            _with_ci(out, f"{key}_{CI}", s.ci95)
            if i == 0:  # aggregate_seeded sets the counts while writing the first score
                out.update({"seeds": self.seeds, "n": self.n})
        return out

    def spread(self) -> None:
        return None

    @classmethod
    def from_json(cls, value: Mapping[str, Any], primary: str) -> SeededValue:
        scores = {k: SeededScore(value[k], value.get(f"{k}_std"), tuple(value.get(f"{k}_seeds", ())),
                                 _interval(value.get(f"{k}_{CI}")))
                  for k in _scores(value, ("_std", "_seeds", f"_{CI}"), ("seeds", "n"))}
        return cls(scores, primary, value.get("seeds"), value.get("n"))


@dataclass(frozen=True)
class Stat:
    """Mean ± sample std over the ``n`` images with a value (None, None, 0 when none has one), and the
    95 % interval of the mean."""

    mean: float | None
    std: float | None = None
    n: int | None = None
    ci95: Interval | None = None


@dataclass(frozen=True)
class GroupValue(_Primary):
    """A group metric (several scores per image, e.g. robustness's PxAPs): each score over images, in
    order; ``n``: the images the ``primary`` (headline) score counts."""

    kind: ClassVar[Kind] = "group"
    scores: Mapping[str, Stat]
    primary: str
    n: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, s in self.scores.items():
            out.update({key: s.mean, f"{key}_std": s.std, f"{key}_n": s.n})
            _with_ci(out, f"{key}_{CI}", s.ci95)
        out["n"] = self.n
        return out

    def spread(self) -> dict[str, Any] | None:
        """The ``spread`` entry: the primary score's mean, std, images and interval."""
        s = self.scores.get(self.primary)
        return None if s is None else _with_ci({"mean": s.mean, "std": s.std, "n": s.n}, CI, s.ci95)

    @classmethod
    def from_json(cls, value: Mapping[str, Any], primary: str) -> GroupValue:
        scores = {k: Stat(value[k], value.get(f"{k}_std"), value.get(f"{k}_n"), _interval(value.get(f"{k}_{CI}")))
                  for k in _scores(value, ("_std", "_n", f"_{CI}"), ("n",))}
        return cls(scores, primary, value.get("n"))


MetricValue = ScalarValue | CurveValue | SeededValue | GroupValue
V = TypeVar("V", ScalarValue, CurveValue, SeededValue, GroupValue)
_OBJECTS: dict[str, type[CurveValue] | type[SeededValue] | type[GroupValue]] = {
    "curve": CurveValue, "seeded": SeededValue, "group": GroupValue}  # the kinds whose JSON is an object


def value_from_json(metric: Metric | str, value: Any, spread: Mapping[str, Any] | None = None) -> MetricValue | None:
    """One ``results[label][metric]`` JSON value, typed by the metric's kind; ``spread``: its
    ``spread[label][metric]`` entry where the result has one. None for a metric that does not apply
    (a null value without a spread entry); a value of the wrong shape is one line."""
    m = METRICS.get(metric) if isinstance(metric, str) else metric
    if value is None and (m.kind != "scalar" or spread is None):
        return None
    try:
        if m.kind == "scalar":
            return ScalarValue.from_json(value, spread)
        if not isinstance(value, Mapping):
            raise TypeError(f"a {m.kind} value is an object")
        return _OBJECTS[m.kind].from_json(value, m.primary)
    except (KeyError, TypeError) as err:
        raise InvalidInputError(f"metric {m.name!r} ({m.kind}): not a value it writes ({err}): "
                                f"{str(value)[:120]}") from None


def aggregate_value(metric: Metric, per_image: Mapping[str, torch.Tensor]) -> MetricValue:
    """:func:`~.base.aggregate` of ``metric``'s per-image values, typed (a scalar with its
    :func:`~.base.summary`: std and images counted), each mean with its 95 % interval: a bootstrap over
    images (:func:`bootstrap_ci95`; a curve's AUC over the per-image AUCs), over seeds for a seeded
    metric with several (:func:`seed_ci95`; one seed: over its images)."""
    if metric.kind == "scalar":
        s = summary(metric, per_image)
        return ScalarValue(s["mean"], s["std"], s["n"], bootstrap_ci95(per_image[metric.primary]))
    value = _OBJECTS[metric.kind].from_json(aggregate(metric, per_image), metric.primary)
    if isinstance(value, GroupValue):
        scores = {k: replace(s, ci95=bootstrap_ci95(per_image[k])) for k, s in value.scores.items()}
        return replace(value, scores=scores)
    if isinstance(value, SeededValue):
        def seeded(key: str, s: SeededScore) -> Interval | None:
            return seed_ci95(s.seeds) if len(s.seeds) > 1 else bootstrap_ci95(per_image[key])

        return replace(value, scores={k: replace(s, ci95=seeded(k, s)) for k, s in value.scores.items()})
    x = torch.as_tensor(per_image[X_KEY], dtype=torch.float64).flatten()
    series = {name: replace(s, auc_ci95=None if s.auc is None else bootstrap_ci95(
                  normalised_auc(x, torch.as_tensor(per_image[metric.primary if name == PRIMARY else name]).double())))
              for name, s in value.series.items()}
    return replace(value, series=series)


_OWN_KEYS = ("dataset", "preset", "n", "results", "settings", "ms_per_image", "spread")


@dataclass(frozen=True)
class EvaluationResult:
    """``services.evaluate``'s result, typed: per label (a method, or a variant such as "diet (u = 4)")
    and metric, a value of the metric's kind, or None where the metric does not apply; ``settings``
    as written (every setting behind the numbers, the ``not_applicable`` reasons, ``processes`` under
    torchrun); ``ms_per_image``: explaining time per label; ``extra``: keys after evaluate()'s own, in
    order (a component ablation's ``"ablation"``). The ``spread`` of the JSON is each scalar's std and
    count and each group's primary score, kept in the values."""

    dataset: str
    preset: str
    n: int
    results: Mapping[str, Mapping[str, MetricValue | None]]
    settings: Mapping[str, Any] = field(default_factory=dict)
    ms_per_image: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Read evaluate()'s JSON (a metric's kind from the registry: unknown metric names are one line)."""
        spread = data.get("spread") or {}
        results = {label: {m: value_from_json(m, v, spread.get(label, {}).get(m)) for m, v in values.items()}
                   for label, values in data["results"].items()}
        return cls(data.get("dataset", ""), data.get("preset", ""), data.get("n", 0), results,
                   copy.deepcopy(dict(data.get("settings", {}))), dict(data.get("ms_per_image", {})),
                   copy.deepcopy({k: v for k, v in data.items() if k not in _OWN_KEYS}))

    def to_json(self) -> dict[str, Any]:
        """evaluate()'s JSON, key order included."""
        results = {label: {m: None if v is None else v.to_json() for m, v in values.items()}
                   for label, values in self.results.items()}
        spread = {label: {m: s for m, v in values.items() if v is not None and (s := v.spread()) is not None}
                  for label, values in self.results.items()}
        return {"dataset": self.dataset, "preset": self.preset, "n": self.n, "results": results,
                "settings": copy.deepcopy(dict(self.settings)), "ms_per_image": dict(self.ms_per_image),
                "spread": spread, **copy.deepcopy(dict(self.extra))}

    @property
    def not_applicable(self) -> Mapping[str, str]:
        """``{metric: why its value is None}`` (the dataset lacks what it needs)."""
        return self.settings.get("not_applicable", {})

    def metrics(self, kind: Kind | None = None) -> list[str]:
        """The metric names in the order first met, only those with a value of ``kind`` when given."""
        names: dict[str, None] = {}
        for values in self.results.values():
            for metric, value in values.items():
                if kind is None or (value is not None and value.kind == kind):
                    names.setdefault(metric)
        return list(names)

    def by_label(self, metric: str, cls: type[V]) -> dict[str, V]:
        """``{label: value}`` for the labels whose ``metric`` value is a ``cls`` (n/a ones left out)."""
        return {label: v for label, values in self.results.items() if isinstance(v := values.get(metric), cls)}


ResultLike = EvaluationResult | Mapping[str, Any]  # typed, or evaluate()'s JSON


def as_result(result: ResultLike) -> EvaluationResult:
    """``result`` typed: as it is, or read from evaluate()'s JSON."""
    return result if isinstance(result, EvaluationResult) else EvaluationResult.from_json(result)
