"""What a paper claims and how we check it here: a :class:`Measurement` (one service call: an
evaluation, a sweep, a masking table …, cached as a whole), a :class:`Claim` (the paper, its table or
figure, its numbers, the values read from our measurement, and a :class:`Check`), and the ``CLAIMS``
registry the per-paper modules fill.

A check is stated in words beside every result: an ordering (``a > b > c``), a threshold
(``a ≥ 0.97``), a ratio (``a ≤ b / 10``) or a tolerance against the paper's number. It answers
True, False or None (n/a: a value is missing) with the measured reason.

Beside the verdict (the paper's check, unchanged), an ordering check (:func:`ordering`, :func:`best`, and
:func:`all_of` over them) reports whether the 95 % intervals of the pairs it compares separate
(:func:`separation`): no overlap between the two intervals of the mean. That rule is conservative (two
means can differ significantly while their intervals overlap); a paired bootstrap of the difference per
image would be sharper, but a claim reads the stored JSON, which holds each mean's interval and not the
per-image values. A setting sweep's JSON does hold them: :class:`SweepBand` reads a sweep on part of its
x axis with a :func:`paired_bootstrap` of the differences between values, which :func:`best_paired`
judges and :func:`separation` uses.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import GroupValue, MetricValue, SeededValue, value_from_json
from ..metrics.results import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Interval, bootstrap_ci95
from ..registry import Registry

PAPERS = {
    "diet": "DiET — Distractor Erasure Tuning (Bhalla et al.)",
    "inputiba": "InputIBA — Input Information Bottleneck Attribution (Zhang et al.)",
    "dorar": "DoRaR — Double-sided Remove and Reconstruct (Qin et al.)",
    "comet": "COMET — Comprehensive attribution with a feature detector (Zhang et al.)",
    "meed": "MEED — Adversarial Infidelity Learning (Liang et al.)",
}


@dataclass(frozen=True)
class Measurement:
    """One service call, run once per preset and code version and shared by the claims that read it.
    ``kind``: a key of :data:`COMMANDS` and of :data:`xai_core.reproduce.runner.KINDS` (evaluate, sweep,
    masking, accuracy, components, randomisation); ``params``: its arguments (JSON-ready: they are the cache key);
    ``model``: "default" or "manipulated" (DiET's gradient-manipulated black box)."""

    kind: str
    dataset: str
    params: Mapping[str, Any]
    model: str = "default"
    presets: tuple[str, ...] = ("quick", "paper")  # the presets this measurement can run at

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "dataset": self.dataset, "params": _plain(self.params), "model": self.model}

    def command(self, preset: str) -> str | None:
        """The CLI command that measures the same thing (shown beside every result), if there is one."""
        command = COMMANDS[self.kind]
        return None if command is None else command(self, preset)


# -- the command line measuring the same (here, not in the runner: claims and reports need no services) ---
def _cli(sub: str, m: Measurement, preset: str, *args: str) -> str:
    model = " --manipulated" if m.model == "manipulated" else ""
    return f"python -m xai_core {sub} --dataset {m.dataset} --preset {preset}{model} " + " ".join(a for a in args if a)


def _sets(option: str, settings: Mapping[str, Mapping[str, Any]]) -> str:
    """``--set`` / ``--metric-set`` options, e.g. ``--set comet.t=0.03`` (booleans lower-case)."""
    return " ".join(f"{option} {m}.{k}={str(v).lower() if isinstance(v, bool) else v}"
                    for m, c in settings.items() for k, v in c.items())


#: per measurement kind, the CLI command measuring the same (None: no command of its own — Explore's
#: accuracy table, or ``reproduce --claims``)
COMMANDS: dict[str, Callable[[Measurement, str], str] | None] = {
    "evaluate": lambda m, preset: _cli(
        "evaluate", m, preset, f"--methods {','.join(m.params['methods'])}",
        f"--metrics {','.join(m.params['metrics'])}",
        _sets("--set", m.params.get("configs", {})), _sets("--metric-set", m.params.get("metric_settings", {})),
        f"--n {m.params['n']} --json out.json"),
    "sweep": lambda m, preset: _cli(
        "ablate", m, preset, f"--methods {m.params['method']}",
        f"--sweep {m.params['setting']}={','.join(map(str, m.params['values']))}", f"--metric {m.params['metric']}",
        f"--n {m.params['n']} --json out.json"),
    "masking": lambda m, preset: _cli(
        "signal_distractor", m, preset, f"--methods {','.join(m.params['methods'])}" if m.params["methods"] else "",
        f"--n {m.params['n']} --json out.json"),
    "accuracy": None,
    "components": lambda m, preset: _cli(
        "ablate", m, preset, f"--methods {m.params['method']} --components",
        f"--metric {','.join(m.params['metrics'])}",
        f"--n {m.params['n']} --json out.json"),
    "randomisation": lambda m, preset: " ; ".join(
        _cli("evaluate", m, preset, f"--methods {m.params['method']}", f"--metrics {','.join(m.params['metrics'])}",
             extra, f"--n {m.params['n']} --json {name}.json")
        for name, extra in (("real", ""), ("random", f"--set {m.params['method']}.randomize_labels=true"))),
}


Values = Callable[[dict[str, Any]], dict[str, float | None]]
Intervals = dict[str, Interval | None]  # label → the 95 % interval of our value (None: none recorded)


@dataclass(frozen=True)
class Check:
    """How ``ours`` (the values read from the measurement) is judged, in words and as a function;
    ``pairs``: the (better, worse) labels an ordering check compares (empty for other checks), whose
    intervals :func:`separation` compares."""

    words: str
    judge: Callable[[dict[str, float | None], dict[str, float]], tuple[bool | None, str]]
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Claim:
    """One headline claim of a paper, with the numbers the paper reports and how to read ours."""

    id: str  # e.g. "diet.iou_ordering"
    paper: str  # a key of PAPERS
    source: str  # "Table 1", "Figure 5" …
    claim: str  # the claim in words
    paper_values: Mapping[str, float]  # what the paper reports, by the same labels as ``values``
    measurement: Measurement
    values: Values  # the measurement's JSON → our values by label (None where missing)
    check: Check
    note: str = ""  # what differs from the paper's setting (dataset, preset, n)
    paper_units: str = ""  # how the paper's numbers are scaled, e.g. "%"
    #: where ours miss the claim: the measured reason (the measurement behind it, named) and the run that would
    #: test it at the paper preset; shown only while the claim does not hold
    missed: str = ""


CLAIMS: Registry[Claim] = Registry("claim")


def register_claim(claim: Claim) -> Claim:
    if claim.paper not in PAPERS:
        raise ValueError(f"claim {claim.id}: unknown paper {claim.paper!r}")
    return CLAIMS.register(claim.id, claim.claim)(claim)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- reading values out of results -----------------------------------------------------------------
def metric_value(result: Mapping[str, Any], method: str, metric: str) -> MetricValue | None:
    """``results[method][metric]`` of an evaluate() result, typed by the metric's kind (None where the
    result has no value)."""
    return value_from_json(metric, result.get("results", {}).get(method, {}).get(metric))


def number(value: float | None) -> float | None:
    """A value as a claim reads it: a float, None when missing or NaN."""
    return None if value is None or math.isnan(value) else float(value)


def _metric_value(result: Mapping[str, Any], method: str, metric: str) -> MetricValue | None:
    """:func:`metric_value` with the result's ``spread`` entry (a scalar's interval lives there)."""
    spread = result.get("spread", {}).get(method, {}).get(metric)
    return value_from_json(metric, result.get("results", {}).get(method, {}).get(metric), spread)


@dataclass(frozen=True)
class MetricValues:
    """An evaluate() result → ``{label: the metric's headline for that method}`` (a scalar's mean, a
    curve's AUC; with ``key``, that score of a group or seeded metric) for each ``label → method``;
    :meth:`intervals` reads the 95 % interval of each of those values."""

    metric: str
    labels: Mapping[str, str]
    key: str | None = None

    def _read(self, result: Mapping[str, Any], method: str) -> tuple[float | None, Interval | None]:
        value = _metric_value(result, method, self.metric)
        if value is None:
            return None, None
        if self.key is not None and isinstance(value, (GroupValue, SeededValue)):
            score = value.scores.get(self.key)
            return (None, None) if score is None else (number(score.mean), score.ci95)
        return number(value.headline), value.interval

    def __call__(self, result: dict[str, Any]) -> dict[str, float | None]:
        return {label: self._read(result, method)[0] for label, method in self.labels.items()}

    def intervals(self, result: Mapping[str, Any]) -> Intervals:
        """``{label: (low, high)}``, None where the result has no interval (written before intervals)."""
        return {label: self._read(result, method)[1] for label, method in self.labels.items()}


def metric_values(metric: str, labels: Mapping[str, str], key: str | None = None) -> MetricValues:
    """The reader of ``metric``'s headline (or its score ``key``) per ``label → method``
    (:class:`MetricValues`: also reads each value's interval)."""
    return MetricValues(metric, dict(labels), key)


@dataclass(frozen=True)
class SectionValues:
    """A result holding several evaluate() results by name (e.g. a randomisation's ``real`` and ``random``)
    → the union of each section's reader's values (and intervals)."""

    readers: Mapping[str, MetricValues]

    def __call__(self, result: dict[str, Any]) -> dict[str, float | None]:
        return {k: v for name, read in self.readers.items() for k, v in read(result.get(name) or {}).items()}

    def intervals(self, result: Mapping[str, Any]) -> Intervals:
        return {k: v for name, read in self.readers.items() for k, v in read.intervals(result.get(name) or {}).items()}


def section_values(**readers: MetricValues) -> SectionValues:
    """The reader of a result with sections: ``section_values(real=metric_values(…), random=…)``."""
    return SectionValues(readers)


@dataclass(frozen=True)
class JoinedValues:
    """Several readers of one result → the union of their values (and of the intervals they read)."""

    readers: tuple[Values, ...]

    def __call__(self, result: dict[str, Any]) -> dict[str, float | None]:
        return {k: v for read in self.readers for k, v in read(result).items()}

    def intervals(self, result: Mapping[str, Any]) -> Intervals:
        return {k: v for read in self.readers for k, v in intervals_of(read, result).items()}


def joined_values(*readers: Values) -> JoinedValues:
    """The reader of one result by several: ``joined_values(metric_values(…), metric_values(…))``."""
    return JoinedValues(readers)


def intervals_of(values: Values, result: Mapping[str, Any]) -> Intervals:
    """The 95 % intervals a claim's reader finds in ``result`` ({} for readers that read none, e.g. a
    sweep's or the masking table's)."""
    read = getattr(values, "intervals", None)
    return {} if read is None else read(result)


def _overlap(a: Interval, b: Interval) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def paired_key(a: str, b: str) -> str:
    """The label of the paired difference ``a − b`` (its mean; ``… low`` / ``… high``: its 95 % bounds)."""
    return f"{a} − {b}"


def separation(check: Check, intervals: Mapping[str, Interval | None]) -> tuple[bool | None, str]:
    """Whether the 95 % intervals of every pair an ordering check compares are disjoint (either way: a
    separated pair is an ordering, or a miss, that is not within noise); None with the reason when the
    check compares no pair or an interval is missing. Conservative: overlapping intervals of the mean
    can still hide a significant difference. Where ``intervals`` holds the pair's paired difference
    (:func:`paired_key`, e.g. from :class:`SweepBand`), the pair separates when that interval excludes 0."""
    if not check.pairs:
        return None, "not an ordering"
    paired = {pair: intervals[paired_key(*pair)] for pair in check.pairs if intervals.get(paired_key(*pair))}
    missing = sorted({k for pair in check.pairs if pair not in paired for k in pair if intervals.get(k) is None})
    if missing:
        return None, "no interval for " + ", ".join(missing)
    overlapping = [f"{a}–{b}" for a, b in check.pairs
                   if (a, b) not in paired and _overlap(intervals[a], intervals[b])]
    zero = [f"{a}–{b}" for (a, b), ci in paired.items() if ci[0] <= 0 <= ci[1]]
    if overlapping or zero:
        return False, "; ".join(([f"overlap: {', '.join(overlapping)}"] if overlapping else [])
                                + ([f"paired interval contains 0: {', '.join(zero)}"] if zero else []))
    return True, "every pair separate"


# -- sweeps judged on part of their x axis, image by image --------------------------------------------
def paired_bootstrap(a: Sequence[float | None], b: Sequence[float | None], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float, Interval] | None:
    """The mean over images of ``a − b`` (two scores of the same images, in the same order) and its 95 %
    percentile-bootstrap interval: the images resampled with replacement, one draw for both scores, so
    what an image does to both cancels (:func:`~xai_core.metrics.results.bootstrap_ci95` of the
    differences). Images where either score is missing or NaN are dropped; None when none is left."""
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same images: {len(a)} against {len(b)}")
    diff = (np.asarray([math.nan if v is None else v for v in a], dtype=np.float64)
            - np.asarray([math.nan if v is None else v for v in b], dtype=np.float64))
    diff = diff[~np.isnan(diff)]
    if diff.size == 0:
        return None
    return float(diff.mean()), bootstrap_ci95(diff, resamples, seed)


def band_means(x: Sequence[float], curves: Sequence[Sequence[float | None]], low: float,
               high: float) -> list[float | None]:
    """Each image's mean of its curve over the x values in [low, high] (missing values ignored; None
    where the image has none there)."""
    inside = [i for i, v in enumerate(x) if low - 1e-9 <= v <= high + 1e-9]
    out: list[float | None] = []
    for curve in curves:
        values = [curve[i] for i in inside if curve[i] is not None and not math.isnan(curve[i])]
        out.append(sum(values) / len(values) if values else None)
    return out


@dataclass(frozen=True)
class SweepBand:
    """A setting sweep's JSON (``services.setting_sweep``: ``"per_image"``) → per swept value, labelled
    ``"u = 4"``, the mean over images of each image's mean score over the curve's x in [low, high]
    (DiET's Table 7: accuracy at 1–10 % of the pixels kept); and for ``paired`` against every other value
    the paired difference (:func:`paired_bootstrap`): ``"u = 2 − u = 1"`` its mean, ``"… low"`` and
    ``"… high"`` its 95 % bounds (values, so that a check judged on a stored report sees them).
    :meth:`intervals` gives each value's bootstrap interval and each difference's."""

    method: str
    setting: str
    values: tuple[Any, ...]
    low: float
    high: float
    paired: Any = None

    def label(self, value: Any) -> str:
        return f"{self.setting} = {value}"

    def _per_image(self, result: Mapping[str, Any]) -> dict[Any, list[float | None] | None]:
        by_value = result.get("per_image", {}).get(self.method, {})
        out: dict[Any, list[float | None] | None] = {}
        for v in self.values:
            scores = by_value.get(v, by_value.get(str(v)))
            out[v] = None if not scores or "x" not in scores else band_means(scores["x"], scores["y"], self.low,
                                                                            self.high)
        return out

    def _differences(self, per_image: Mapping[Any, list[float | None] | None]) -> dict[str, tuple | None]:
        if self.paired is None:
            return {}
        mine = per_image.get(self.paired)
        return {paired_key(self.label(self.paired), self.label(v)):
                None if mine is None or per_image[v] is None else paired_bootstrap(mine, per_image[v])
                for v in self.values if v != self.paired}

    def __call__(self, result: dict[str, Any]) -> dict[str, float | None]:
        per_image = self._per_image(result)
        out: dict[str, float | None] = {}
        for v, scores in per_image.items():
            kept = [s for s in scores or [] if s is not None]
            out[self.label(v)] = sum(kept) / len(kept) if kept else None
        for key, diff in self._differences(per_image).items():
            mean, ci = (None, None) if diff is None else diff
            out.update({key: mean, f"{key} low": None if ci is None else ci[0],
                        f"{key} high": None if ci is None else ci[1]})
        return out

    def intervals(self, result: Mapping[str, Any]) -> Intervals:
        per_image = self._per_image(result)
        out: Intervals = {self.label(v): None if scores is None else bootstrap_ci95(
            [math.nan if s is None else s for s in scores]) for v, scores in per_image.items()}
        out.update({key: None if diff is None else diff[1] for key, diff in self._differences(per_image).items()})
        return out


def sweep_band(method: str, setting: str, values: Sequence[Any], low: float, high: float,
               paired: Any = None) -> SweepBand:
    """The reader of a setting sweep on x in [low, high], paired differences of ``paired`` against the
    other values (:class:`SweepBand`)."""
    return SweepBand(method, setting, tuple(values), low, high, paired)


# -- checks ------------------------------------------------------------------------------------------
def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def ordering(labels: list[str], lower_is_better: bool = False) -> Check:
    """``labels[0] > labels[1] > …`` (``<`` when lower is better)."""
    sign = " < " if lower_is_better else " > "

    def judge(ours, paper):
        values = [ours.get(k) for k in labels]
        if any(v is None for v in values):
            return None, "a value is missing: " + ", ".join(f"{k} {_fmt(ours.get(k))}" for k in labels)
        broken = [(a, b) for a, b in zip(labels, labels[1:])
                  if not ((ours[a] < ours[b]) if lower_is_better else (ours[a] > ours[b]))]
        order = sorted(labels, key=lambda k: ours[k], reverse=not lower_is_better)
        ranked = order[0] + "".join((" = " if ours[a] == ours[b] else sign) + b for a, b in zip(order, order[1:]))
        if not broken:
            return True, f"ours: {ranked}"
        return False, f"ours: {ranked} (" + "; ".join(f"{a} {_fmt(ours[a])} vs {b} {_fmt(ours[b])}"
                                                   for a, b in broken) + ")"

    return Check(sign.join(labels), judge, tuple(zip(labels, labels[1:])))


def at_least(label: str, threshold: float) -> Check:
    def judge(ours, paper):
        v = ours.get(label)
        if v is None:
            return None, f"{label} is missing"
        return v >= threshold, f"{label} = {_fmt(v)} ({'≥' if v >= threshold else '<'} {threshold:g})"

    return Check(f"{label} ≥ {threshold:g}", judge)


def at_most(label: str, threshold: float) -> Check:
    def judge(ours, paper):
        v = ours.get(label)
        if v is None:
            return None, f"{label} is missing"
        return v <= threshold, f"{label} = {_fmt(v)} ({'≤' if v <= threshold else '>'} {threshold:g})"

    return Check(f"{label} ≤ {threshold:g}", judge)


def ratio(small: str, large: str, factor: float) -> Check:
    """``small ≤ large / factor`` (e.g. a SEN 10× lower)."""
    def judge(ours, paper):
        a, b = ours.get(small), ours.get(large)
        if a is None or b is None:
            return None, f"{small} {_fmt(a)}, {large} {_fmt(b)}"
        holds = a * factor <= b
        return holds, f"{small} = {_fmt(a)}, {large} = {_fmt(b)}: {b / a:.2g}× lower" if a else f"{small} = 0"

    return Check(f"{small} ≤ {large} / {factor:g}", judge)


def within(label: str, tolerance: float) -> Check:
    """``|ours − paper| ≤ tolerance`` for one label."""
    def judge(ours, paper):
        v, p = ours.get(label), paper.get(label)
        if v is None or p is None:
            return None, f"{label}: ours {_fmt(v)}, paper {_fmt(p)}"
        return abs(v - p) <= tolerance, f"{label}: ours {_fmt(v)}, paper {_fmt(p)} (|Δ| = {abs(v - p):.3g})"

    return Check(f"|{label} − paper| ≤ {tolerance:g}", judge)


def best(label: str, others: list[str], lower_is_better: bool = False) -> Check:
    """``label`` at least as good as each of ``others`` (ties hold)."""
    op = "≤" if lower_is_better else "≥"

    def judge(ours, paper):
        values = [ours.get(k) for k in (label, *others)]
        if any(v is None for v in values):
            return None, "a value is missing: " + ", ".join(f"{k} {_fmt(ours.get(k))}" for k in (label, *others))
        worse = [k for k in others if (ours[k] < ours[label] if lower_is_better else ours[k] > ours[label])]
        listed = ", ".join(f"{k} {_fmt(ours[k])}" for k in others)
        if not worse:
            return True, f"{label} {_fmt(ours[label])} {op} {listed}"
        return False, f"{label} {_fmt(ours[label])}, but " + ", ".join(f"{k} {_fmt(ours[k])}" for k in worse)

    return Check(f"{label} {op} each of {', '.join(others)}", judge, tuple((label, k) for k in others))


def best_paired(label: str, others: list[str], lower_is_better: bool = False) -> Check:
    """``label`` better than each of ``others`` image by image: the 95 % interval of each paired
    difference ``label − other`` (the reader's ``"label − other low"`` / ``"… high"``, e.g.
    :class:`SweepBand`) excludes 0 on ``label``'s side. A better mean whose interval contains 0 does not
    hold ("not separated"); n/a when a value or an interval is missing."""
    op = "<" if lower_is_better else ">"

    def judge(ours, paper):
        keys = [label, *others] + [f"{paired_key(label, k)}{end}" for k in others for end in ("", " low", " high")]
        if any(ours.get(k) is None for k in keys):
            return None, "a value or paired interval is missing: " + ", ".join(k for k in keys if ours.get(k) is None)

        def text(k: str) -> str:
            d = paired_key(label, k)
            return f"{k} {_fmt(ours[k])} (Δ {ours[d]:+.3g} [{ours[d + ' low']:.3g}, {ours[d + ' high']:.3g}])"

        ahead = {k: ours[f"{paired_key(label, k)} high"] < 0 if lower_is_better else
                 ours[f"{paired_key(label, k)} low"] > 0 for k in others}
        behind = [k for k in others if (ours[k] < ours[label] if lower_is_better else ours[k] > ours[label])]
        if all(ahead.values()):
            return True, f"{label} {_fmt(ours[label])} {op} " + ", ".join(text(k) for k in others)
        if behind:
            return False, f"{label} {_fmt(ours[label])}, but " + ", ".join(text(k) for k in behind)
        return False, (f"{label} {_fmt(ours[label])} against " + ", ".join(text(k) for k in others)
                       + "; not separated: " + ", ".join(k for k, ok in ahead.items() if not ok))

    return Check(f"{label} {op} each of {', '.join(others)}, each paired 95 % interval of the difference "
                 f"excluding 0", judge, tuple((label, k) for k in others))


def near(a: str, b: str, tolerance: float) -> Check:
    """Two of our values within ``tolerance`` of each other."""
    def judge(ours, paper):
        x, y = ours.get(a), ours.get(b)
        if x is None or y is None:
            return None, f"{a} {_fmt(x)}, {b} {_fmt(y)}"
        return abs(x - y) <= tolerance, f"{a} = {_fmt(x)}, {b} = {_fmt(y)} (|Δ| = {abs(x - y):.3g})"

    return Check(f"|{a} − {b}| ≤ {tolerance:g}", judge)


def all_of(*checks: Check) -> Check:
    """Every check holds (n/a when one is n/a and none fails)."""
    def judge(ours, paper):
        verdicts = [c.judge(ours, paper) for c in checks]
        holds = False if any(v is False for v, _ in verdicts) else (None if any(v is None for v, _ in verdicts)
                                                                     else True)
        return holds, "; ".join(reason for _, reason in verdicts)

    return Check(" and ".join(c.words for c in checks), judge, tuple(dict.fromkeys(p for c in checks for p in c.pairs)))


def provided(gate: Check, check: Check) -> Check:
    """``check`` judged only once ``gate`` holds: a precondition of the set-up (DiET §5.4's black box really
    manipulated). Otherwise the claim is not judged (n/a), with the gate's reason."""
    def judge(ours, paper):
        ok, why = gate.judge(ours, paper)
        if ok is not True:
            return None, f"not judged, the set-up is not verified: {why}"
        holds, reason = check.judge(ours, paper)
        return holds, f"{why}; {reason}"

    return Check(f"{check.words}, once {gate.words}", judge, check.pairs)


@dataclass
class Verdict:
    """A claim judged on one measurement result; beside the verdict, the 95 % intervals of our values and
    whether an ordering check's pairs separate (:func:`separation`)."""

    claim: Claim
    ours: dict[str, float | None] = field(default_factory=dict)
    holds: bool | None = None
    reason: str = ""
    intervals: Intervals = field(default_factory=dict)
    separated: bool | None = None
    separation: str = ""

    @classmethod
    def of(cls, claim: Claim, result: dict[str, Any] | None) -> Verdict:
        if result is None:
            return cls(claim, {}, None, "not measured yet")
        ours = claim.values(result)
        holds, reason = claim.check.judge(ours, dict(claim.paper_values))
        intervals = intervals_of(claim.values, result)
        return cls(claim, ours, holds, reason, intervals, *separation(claim.check, intervals))

    def row_fields(self) -> dict[str, Any]:
        """The report row's interval entries: ``ours_ci95`` ({label: [low, high] or None}), ``separated``
        and ``separation`` (its reason)."""
        return {"ours_ci95": {k: None if v is None else list(v) for k, v in self.intervals.items()},
                "separated": self.separated, "separation": self.separation}
