"""Tables and CSV built from ``services.evaluate`` results (typed, or their JSON), for pages to display.

Each metric's cells follow its kind (:class:`~xai_core.metrics.EvaluationResult`): a scalar as mean ±
std over images, a curve as its AUC, each score of a seeded metric as mean ± std over seeds and of a
group metric as mean ± std over images, each followed by the 95 % interval of the mean in brackets where
the result has one; "n/a" where the metric does not apply to the dataset."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..metrics import (CurveValue, EvaluationResult, GroupValue, MetricValue, ResultLike, ScalarValue, SeededValue,
                       as_result)
from ..metrics.results import Interval
from .styles import DOWN, FIDELITY_LABELS, FIDELITY_METRICS, UP, fidelity_direction, higher_is_better


# -- which metrics a result holds ---------------------------------------------------------------------
def curve_metrics(result: ResultLike) -> list[str]:
    """Names of the curve metrics that came back (scored for some method)."""
    return as_result(result).metrics("curve")


def seeded_metrics(result: ResultLike) -> list[str]:
    """Names of the seeded metrics that came back (a1a2)."""
    return as_result(result).metrics("seeded")


def group_metrics(result: ResultLike) -> list[str]:
    """Names of the group metrics that came back (robustness, fs_fu)."""
    return as_result(result).metrics("group")


def has_fidelity(result: ResultLike) -> bool:
    """Whether ``result`` scored fs_fu or sen (for the MEED paper's table and scatter)."""
    return any(_scored(values.get(m)) for values in as_result(result).results.values() for m in FIDELITY_METRICS)


def _scored(value: MetricValue | None) -> bool:
    """Whether a value has something to show: it applies, and a scalar counted some image."""
    return value is not None and not (isinstance(value, ScalarValue) and value.mean is None)


# -- the main table -----------------------------------------------------------------------------------
def interval_text(ci: Interval | None) -> str:
    """"[0.4800, 0.5200]", a 95 % interval as the tables show it ("" without one)."""
    return "" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def mean_std(mean: float | None, std: float | None, ci: Interval | None = None) -> str | None:
    """"0.5000 ± 0.1000 [0.4800, 0.5200]": the mean ± std, then the 95 % interval of the mean where
    given (just the mean without a std; None without a mean)."""
    if mean is None:
        return None
    text = f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"
    return f"{text} {interval_text(ci)}" if ci is not None else text


Cell = tuple[str, str, float | None, float | None, Interval | None]


def _scores(result: EvaluationResult, method: str) -> Iterator[Cell]:
    """A method's table cells as (column, kind, mean, std, 95 % interval): kind "scalar" (mean ± std over
    images), "auc" (a curve's AUC), "key" (a seeded or group metric's score) or "n/a" (does not apply);
    a scalar no image counted for has no cell."""
    for metric, v in result.results[method].items():
        if isinstance(v, (SeededValue, GroupValue)):
            for key, score in v.scores.items():
                yield f"{metric} {key}", "key", score.mean, score.std, score.ci95
        elif isinstance(v, CurveValue):
            yield f"{metric} AUC", "auc", v.auc, v.auc_std, v.interval
        elif isinstance(v, ScalarValue):
            if v.mean is not None:
                yield metric, "scalar", v.mean, v.std, v.ci95
        elif metric in result.not_applicable:
            yield metric, "n/a", None, None, None


def scalar_rows(result: ResultLike) -> list[dict[str, Any]]:
    """One row per method, for the screen: scalar metrics as "mean ± std", curve metrics as their AUC,
    seeded metrics' scores (a1a2: a1, a2) as mean ± std over seeds, group metrics' scores (e.g.
    "robustness pxap_noisy") as mean ± std over images, each followed by its 95 % interval where the
    result has one (an AUC is then text, "0.4750 [0.4500, 0.5000]"); "n/a" for metrics that do not
    apply to the dataset. :func:`column_labels` marks which way each column is better;
    :func:`numeric_rows` is the same table with numbers for a CSV."""
    typed = as_result(result)
    rows = []
    for method in typed.results:
        row: dict[str, Any] = {"method": method}
        for column, kind, mean, std, ci in _scores(typed, method):
            if kind == "auc":
                row[column] = None if mean is None else (f"{mean:.4f} {interval_text(ci)}" if ci else round(mean, 4))
            else:
                row[column] = "n/a" if kind == "n/a" else mean_std(mean, std, ci)
        row["ms / image"] = round(typed.ms_per_image.get(method, float("nan")), 2)
        rows.append(row)
    return rows


def numeric_rows(result: ResultLike) -> list[dict[str, Any]]:
    """:func:`scalar_rows` as numbers: each score as two columns, "<column> mean" and "<column> std"
    (None, an empty CSV cell, where there is none or the metric does not apply), then "<column> ci95
    low" and "<column> ci95 high" where the result has an interval, for :func:`rows_csv`."""
    typed = as_result(result)
    rows = []
    for method in typed.results:
        row: dict[str, Any] = {"method": method}
        for column, _, mean, std, ci in _scores(typed, method):
            row[f"{column} mean"], row[f"{column} std"] = mean, std
            if ci is not None:
                row[f"{column} ci95 low"], row[f"{column} ci95 high"] = ci
        row["ms / image"] = typed.ms_per_image.get(method)
        rows.append(row)
    return rows


def column_labels(columns: Iterable[str], metric: str | None = None) -> dict[str, str]:
    """Display labels with the better direction ("iou ↑", "deletion AUC ↓", "a1a2 a2 ↓") for the score
    columns among ``columns`` (keys of :func:`scalar_rows` rows, or scores of ``metric`` as in
    :func:`group_rows`), for ``st.dataframe(column_config=...)``; other columns are left out."""
    labels = {}
    for column in dict.fromkeys(columns):
        better = higher_is_better(column, metric)
        if better is not None:
            labels[column] = f"{column} {UP if better else DOWN}"
    return labels


def table_labels(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """:func:`column_labels` for every column of :func:`scalar_rows` rows."""
    return column_labels(k for r in rows for k in r)


# -- one table per seeded or group metric ---------------------------------------------------------------
def group_rows(result: ResultLike, metric: str) -> list[dict[str, Any]]:
    """One row per method scored by the group metric ``metric``: each score as mean ± std over images with
    its 95 % interval (None where no image has one, e.g. pxap_background without a test_background
    split), and n."""
    return [{"method": method, **{k: mean_std(s.mean, s.std, s.ci95) for k, s in v.scores.items()}, "n": v.n}
            for method, v in as_result(result).by_label(metric, GroupValue).items()]


def group_labels(result: ResultLike, metric: str) -> dict[str, str]:
    """:func:`column_labels` for the score columns of :func:`group_rows` (robustness: pxap_* ↑)."""
    return column_labels((k for v in as_result(result).by_label(metric, GroupValue).values() for k in v.scores),
                         metric)


def a1a2_rows(result: ResultLike, metric: str = "a1a2") -> list[dict[str, Any]]:
    """One row per method scored by ``metric``: a1 and a2 as mean ± std over seeds with their 95 % interval,
    seeds, images."""
    def cell(v: SeededValue, key: str) -> str | None:
        s = v.scores[key]
        return mean_std(s.mean, s.std, s.ci95)

    return [{"method": method, "a1 (higher is better)": cell(v, "a1"), "a2 (lower is better)": cell(v, "a2"),
             "seeds": v.seeds, "n": v.n}
            for method, v in as_result(result).by_label(metric, SeededValue).items()]


# -- the MEED paper's layout -----------------------------------------------------------------------------
def fidelity_rows(result: ResultLike, digits: int = 4) -> list[dict[str, Any]]:
    """The MEED paper's Tables 3–4 layout, one row per method: FS-M, FU-M, FS-A, FU-A (fs_fu's mean
    agreements over images), SEN (sen's mean), ms per image (explanation time); a column only when
    some method has a value for it. Numbers rounded to ``digits``; :func:`fidelity_labels` marks
    which way each is better."""
    typed = as_result(result)

    def value(values: Mapping[str, Any], key: str) -> float | None:
        v = values.get("sen" if key == "sen" else "fs_fu")
        if isinstance(v, GroupValue):
            return v.scores[key].mean if key in v.scores else None
        return v.mean if isinstance(v, ScalarValue) else None

    columns = [k for k in ("fs_m", "fu_m", "fs_a", "fu_a", "sen")
               if any(value(v, k) is not None for v in typed.results.values())]
    rows = []
    for method, values in typed.results.items():
        row: dict[str, Any] = {"method": method}
        for key in columns:
            v = value(values, key)
            row[FIDELITY_LABELS[key]] = None if v is None else round(float(v), digits)
        ms = typed.ms_per_image.get(method)
        row["ms / image"] = None if ms is None else round(float(ms), 2)
        rows.append(row)
    return rows


def fidelity_labels(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Display labels of :func:`fidelity_rows` columns with the better direction ("FS-M ↑", "FU-M ↓",
    "SEN ↓"), read from the metrics' notes."""
    keys = {label: key for key, label in FIDELITY_LABELS.items()}
    labels = {}
    for column in dict.fromkeys(k for r in rows for k in r):
        if column in keys and (better := fidelity_direction(keys[column])) is not None:
            labels[column] = f"{column} {UP if better else DOWN}"
    return labels


def component_rows(result: ResultLike) -> list[dict[str, Any]]:
    """A component ablation (the MEED paper's Table 2) as one row per variant: what it changes, then
    :func:`fidelity_rows`' columns when it scored fs_fu or sen, else :func:`scalar_rows`' columns."""
    typed = as_result(result)
    changes = typed.extra.get("ablation", {})
    rows = fidelity_rows(typed) if has_fidelity(typed) else scalar_rows(typed)
    for row in rows:
        config = changes.get(row["method"]) or {}
        row["settings changed"] = ", ".join(f"{k} = {v}" for k, v in config.items()) or "— (the full method)"
    return [{"method": r["method"], "settings changed": r["settings changed"],
             **{k: v for k, v in r.items() if k not in ("method", "settings changed")}} for r in rows]


def masking_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`xai_core.services.region_masking` as table rows: model × region, one column per fraction."""
    return [{"model": model, "masked": region, **{f"{p:.0%}": round(a, 3) for p, a in zip(result["fractions"], accs)}}
            for model, regions in result["models"].items() for region, accs in regions.items()]


# -- CSV -------------------------------------------------------------------------------------------------
def rows_csv(rows: list[dict[str, Any]]) -> str:
    """A table (list of row dicts, e.g. :func:`numeric_rows`) as CSV."""
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def curves_csv(result: ResultLike) -> str:
    """Every curve metric's primary curve as long-format CSV: method, metric, x, y (the other kinds left
    out)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["method", "metric", "x", "y"])
    for method, values in as_result(result).results.items():
        for metric, v in values.items():
            if isinstance(v, CurveValue):
                writer.writerows([method, metric, x, y] for x, y in zip(v.x, v.y))
    return buf.getvalue()
