"""Plotly figures and tables built from ``services.evaluate`` results (pages only display them).

Every chart colours a method the same way, on screen and in the PNG export: :func:`method_colour`
gives each registered method a fixed colour of :data:`PALETTE`; labels of a method's variants
("comet (random labels)", "diet (u = 4)") take their base method's colour and differ by dash."""
from __future__ import annotations

import csv
import io
import re
import textwrap
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .methods import METHODS
from .metrics import METRICS

# Tableau 10 (Tableau's 2016 default): ten distinct hues, none a lighter or darker twin of another
PALETTE: tuple[str, ...] = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                            "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC")
# the n-th method of the registry beyond each 10 reuses a colour with the next marker (and bar pattern)
MARKERS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up")
PATTERNS: tuple[str, ...] = ("", "/", ".", "x")
# variants of one method in one chart: the base method solid, its variants dashed in turn
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_MPL_DASH: dict[str, Any] = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.",
                             "longdash": (0, (8, 3)), "longdashdot": (0, (8, 3, 1, 3))}
_MPL_MARKER = {"circle": "o", "square": "s", "diamond": "D", "triangle-up": "^"}
MARGIN = {"l": 80, "r": 20, "t": 60, "b": 60}  # room for axis titles; automargin grows it where needed
UP, DOWN = "↑", "↓"


@dataclass(frozen=True)
class TraceStyle:
    """How one label is drawn: colour (hex), plotly dash and marker symbol, bar pattern."""

    colour: str
    dash: str = "solid"
    marker: str = "circle"
    pattern: str = ""


def base_method(label: str) -> str:
    """The method behind a label: "comet (random labels)" → "comet", "diet (u = 4)" → "diet"."""
    return label.split(" (", 1)[0]


def _method_index(label: str) -> int:
    """The base method's position in ``METHODS.names()``; unregistered names hash to a fixed slot."""
    names, base = METHODS.names(), base_method(label)
    return names.index(base) if base in names else zlib.crc32(base.encode()) % len(PALETTE)


def method_colour(label: str) -> str:
    """The fixed colour (hex) of a method, or of the method a variant label names, on every chart."""
    return PALETTE[_method_index(label) % len(PALETTE)]


def method_style(label: str, variant: int = 0) -> TraceStyle:
    """A label's colour and marker (fixed per method) and dash (``variant``: 0 = solid, then dashed)."""
    cycle = _method_index(label) // len(PALETTE)
    return TraceStyle(method_colour(label), DASHES[variant % len(DASHES)], MARKERS[cycle % len(MARKERS)],
                      PATTERNS[cycle % len(PATTERNS)])


def trace_styles(labels: Iterable[str]) -> dict[str, TraceStyle]:
    """Styles for the labels of one chart: each label its method's colour; where several labels share a
    method, the method itself (if shown) stays solid and each variant gets the next dash."""
    labels = list(dict.fromkeys(labels))
    seen: dict[str, int] = {}
    styles = {}
    for label in sorted(labels, key=lambda lab: lab != base_method(lab)):  # the plain method name first
        base = base_method(label)
        styles[label] = method_style(label, seen.get(base, 0))
        seen[base] = seen.get(base, 0) + 1
    return {label: styles[label] for label in labels}


def _line(style: TraceStyle) -> dict[str, Any]:
    """Plotly ``line`` and ``marker`` arguments of a line trace in ``style``."""
    return {"line": {"color": style.colour, "dash": style.dash},
            "marker": {"color": style.colour, "symbol": style.marker}}


def axis_title(text: str, width: int = 36, lines: int = 3) -> str:
    """A metric's score description as an axis title that fits beside a chart: the part before any
    ":" or " (" (the details are in the settings beside the chart), wrapped at ``width`` characters
    with ``<br>`` into at most ``lines`` lines."""
    head = re.split(r":| \(", text, maxsplit=1)[0].strip()
    wrapped = textwrap.wrap(head, width) or [text]
    if len(wrapped) > lines:
        wrapped = [*wrapped[:lines - 1], textwrap.shorten(" ".join(wrapped[lines - 1:]), width, placeholder=" …")]
    return "<br>".join(wrapped)


def _fit(fig: go.Figure, **layout: Any) -> go.Figure:
    """Apply ``layout`` with the shared margins; axes grow their margins to fit titles and tick labels."""
    fig.update_layout(margin=MARGIN, **layout)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def curve_metrics(result: dict[str, Any]) -> list[str]:
    """Names of the metrics that came back as curves."""
    names: list[str] = []
    for values in result["results"].values():
        names += [m for m, v in values.items() if isinstance(v, dict) and "x" in v and m not in names]
    return names


def _better_words(higher_is_better: bool | None) -> str:
    return {True: f"{UP} higher is better", False: f"{DOWN} lower is better"}.get(higher_is_better, "")


def curve_figure(result: dict[str, Any], metric: str) -> go.Figure:
    """One trace per method (AUC in the legend) in the method's fixed style, ±1 std band omitted for
    legibility; the y title is the metric's score, shortened and wrapped to fit."""
    curves = {m: v[metric] for m, v in result["results"].items() if isinstance(v.get(metric), dict)}
    styles = trace_styles(curves)
    fig = go.Figure()
    for method, curve in curves.items():
        auc = "n/a" if curve.get("auc") is None else f"{curve['auc']:.3f}"  # n/a: not scored (e.g. sanity, trained)
        fig.add_trace(go.Scatter(x=curve["x"], y=curve["y"], mode="lines+markers", name=f"{method} (AUC {auc})",
                                 **_line(styles[method])))
    spec = METRICS.get(metric)
    better = _better_words(spec.higher_is_better)
    return _fit(
        fig, title=f"{metric} — {result['dataset']} ({result['preset']}), n = {result['n']}",
        xaxis_title=spec.x_label, yaxis_title=axis_title(spec.settings.get("score", "score")),
        legend_title=f"method (AUC: {better})" if better else "method", height=420,
    )


def _mean_std(mean: float | None, std: float | None) -> str | None:
    if mean is None:
        return None
    return f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"


def _seeded(value: Any) -> bool:
    """A seeded metric's value (e.g. a1a2): mean, std and per-seed values per key, over "seeds" seeds."""
    return isinstance(value, dict) and "seeds" in value


def _seeded_keys(value: dict[str, Any]) -> list[str]:
    """The scores of a seeded value (a1, a2): keys with per-seed values."""
    return [k for k in value if f"{k}_seeds" in value]


def _group(value: Any) -> bool:
    """A group metric's value (e.g. robustness): several scores, each a mean ± std over images; neither
    a curve (no "x") nor seeded."""
    return isinstance(value, dict) and "x" not in value and "seeds" not in value


def _group_keys(value: dict[str, Any]) -> list[str]:
    """The scores of a group value (robustness: pxap_clean, pxap_noisy, pxap_background)."""
    return [k for k in value if f"{k}_std" in value]


def _scores(result: dict[str, Any], method: str) -> Iterator[tuple[str, str, float | None, float | None]]:
    """A method's table cells as (column, kind, mean, std): kind "scalar" (mean ± std over images),
    "auc" (a curve's AUC), "key" (a seeded or group metric's score) or "n/a" (does not apply)."""
    skipped = result.get("settings", {}).get("not_applicable", {})
    for metric, v in result["results"][method].items():
        if _seeded(v) or _group(v):
            for k in _seeded_keys(v) if _seeded(v) else _group_keys(v):
                yield f"{metric} {k}", "key", v[k], v.get(f"{k}_std")
        elif isinstance(v, dict):
            yield f"{metric} AUC", "auc", v.get("auc"), v.get("auc_std")
        elif v is not None:
            yield metric, "scalar", v, result.get("spread", {}).get(method, {}).get(metric, {}).get("std")
        elif metric in skipped:
            yield metric, "n/a", None, None


def scalar_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method, for the screen: scalar metrics as "mean ± std", curve metrics as their AUC,
    seeded metrics' scores (a1a2: a1, a2) as mean ± std over seeds, group metrics' scores (e.g.
    "robustness pxap_noisy") as mean ± std over images; "n/a" for metrics that do not apply to the
    dataset. :func:`column_labels` marks which way each column is better; :func:`numeric_rows` is the
    same table with numbers for a CSV."""
    rows = []
    for method in result["results"]:
        row: dict[str, Any] = {"method": method}
        for column, kind, mean, std in _scores(result, method):
            if kind == "auc":
                row[column] = None if mean is None else round(mean, 4)
            else:
                row[column] = "n/a" if kind == "n/a" else _mean_std(mean, std)
        row["ms / image"] = round(result.get("ms_per_image", {}).get(method, float("nan")), 2)
        rows.append(row)
    return rows


def numeric_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`scalar_rows` as numbers: each score as two columns, "<column> mean" and "<column> std"
    (None, an empty CSV cell, where there is none or the metric does not apply), for :func:`rows_csv`."""
    rows = []
    for method in result["results"]:
        row: dict[str, Any] = {"method": method}
        for column, _, mean, std in _scores(result, method):
            row[f"{column} mean"], row[f"{column} std"] = mean, std
        row["ms / image"] = result.get("ms_per_image", {}).get(method)
        rows.append(row)
    return rows


def higher_is_better(column: str, metric: str | None = None) -> bool | None:
    """Which way a table column is better: True (higher), False (lower), None (not a score, e.g.
    "ms / image", or an unknown metric). ``column`` is a :func:`scalar_rows` column ("iou",
    "deletion AUC", "a1a2 a2", "robustness pxap_noisy"), or a score of ``metric`` ("a2"). A seeded
    or group score whose note says "higher/lower is better" (a1a2's a2) overrides its metric's
    direction; a curve's AUC has its metric's."""
    name, key = (metric, column) if metric else column.partition(" ")[::2]
    if name not in METRICS:
        return None
    spec = METRICS.get(name)
    note = str(spec.notes.get(key, "")) if key and key != "AUC" else ""
    if "lower is better" in note:
        return False
    if "higher is better" in note:
        return True
    return spec.higher_is_better


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


def group_labels(result: dict[str, Any], metric: str) -> dict[str, str]:
    """:func:`column_labels` for the score columns of :func:`group_rows` (robustness: pxap_* ↑)."""
    keys = [k for vs in result["results"].values() if _group(v := vs.get(metric)) for k in _group_keys(v)]
    return column_labels(keys, metric)


def seeded_metrics(result: dict[str, Any]) -> list[str]:
    """Names of the metrics that came back seeded (a1a2)."""
    names: list[str] = []
    for values in result["results"].values():
        names += [m for m, v in values.items() if _seeded(v) and m not in names]
    return names


def group_metrics(result: dict[str, Any]) -> list[str]:
    """Names of the metrics that came back as groups of scores (robustness)."""
    names: list[str] = []
    for values in result["results"].values():
        names += [m for m, v in values.items() if _group(v) and m not in names]
    return names


def group_rows(result: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """One row per method scored by the group metric ``metric``: each score as mean ± std over images
    (None where no image has one, e.g. pxap_background without a test_background split), and n."""
    return [{"method": method, **{k: _mean_std(v[k], v.get(f"{k}_std")) for k in _group_keys(v)}, "n": v.get("n")}
            for method, values in result["results"].items() if _group(v := values.get(metric))]


def a1a2_rows(result: dict[str, Any], metric: str = "a1a2") -> list[dict[str, Any]]:
    """One row per method scored by ``metric``: a1 and a2 as mean ± std over seeds, seeds, images."""
    return [{"method": method, "a1 (higher is better)": _mean_std(v["a1"], v.get("a1_std")),
             "a2 (lower is better)": _mean_std(v["a2"], v.get("a2_std")), "seeds": v["seeds"], "n": v["n"]}
            for method, values in result["results"].items() if _seeded(v := values.get(metric))]


def a1a2_figure(result: dict[str, Any], metric: str = "a1a2") -> go.Figure:
    """a1 against a2, one point per method (its fixed colour) with ±1 std (over seeds) error bars both
    ways: x = a2 (accuracy from the complement, lower is better), y = a1 (from the selected units,
    higher is better), so the upper left is best."""
    points = {m: v for m, vs in result["results"].items()
              if _seeded(v := vs.get(metric)) and v["a1"] is not None and v["a2"] is not None}
    styles = trace_styles(points)
    fig = go.Figure()
    for method, v in points.items():
        style = styles[method]
        fig.add_trace(go.Scatter(
            x=[v["a2"]], y=[v["a1"]], mode="markers+text", name=method, text=[method], textposition="top right",
            marker={"color": style.colour, "symbol": style.marker, "size": 10},
            error_x={"type": "data", "array": [v.get("a2_std") or 0.0], "color": style.colour},
            error_y={"type": "data", "array": [v.get("a1_std") or 0.0], "color": style.colour},
        ))
    seeds = max((v["seeds"] for vs in result["results"].values() if _seeded(v := vs.get(metric))), default=0)
    return _fit(
        fig, title=f"{metric}: upper left is best — {result['dataset']} ({result['preset']}), n = {result['n']}, "
                   f"{seeds} seeds",
        xaxis={"title": "a2: accuracy from the complement (lower is better)", "range": [-0.05, 1.05]},
        yaxis={"title": "a1: accuracy from the selected units<br>(higher is better)", "range": [-0.05, 1.05]},
        legend_title="method", height=420,
    )


def curves_csv(result: dict[str, Any]) -> str:
    """Every curve as long-format CSV: method, metric, x, y (scalar, seeded and group metrics left out)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["method", "metric", "x", "y"])
    for method, values in result["results"].items():
        for metric, v in values.items():
            if isinstance(v, dict) and "x" in v:
                writer.writerows([method, metric, x, y] for x, y in zip(v["x"], v["y"]))
    return buf.getvalue()


#: name parts that make a history key a rate in [0, 1] (accuracy, agreement, FS-M …), drawn apart from losses
SCORE_PARTS = ("acc", "accuracy", "agreement", "fidelity", "fs", "fu")


def is_score_key(name: str) -> bool:
    """Whether a training history's key is a score (an accuracy or agreement in [0, 1]: "accuracy",
    "A_s_accuracy", "fs_m") rather than a loss ("loss", "L_s", "L_adv")."""
    return any(part in SCORE_PARTS for part in re.split(r"[_\s\-]+", name.lower()))


def history_keys(history: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(losses, scores): every numeric key of ``history`` but its x axis ("step", "epoch"), sorted,
    split by :func:`is_score_key`."""
    names = sorted({k for h in history for k, v in h.items()
                    if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool)})
    return [n for n in names if not is_score_key(n)], [n for n in names if is_score_key(n)]


def _history_x(history: Sequence[dict[str, Any]]) -> tuple[str, list[float]]:
    """The x axis of a history: its "step" (a job's reports), else its epochs 1, 2, … in order (a
    stored fit's history: one entry per epoch over all stages)."""
    if all("step" in h for h in history):
        return "step", [float(h["step"]) for h in history]
    return "epoch", [float(i + 1) for i in range(len(history))]


def history_figure(history: list[dict[str, float]], title: str = "") -> go.Figure | None:
    """A training history's numeric keys against its step (a job's reports) or epoch (a stored fit):
    losses in one panel, scores (accuracies, agreements such as FS-M: :func:`is_score_key`) in a
    second one below on a [0, 1] axis when there are both; None if there is nothing to draw."""
    losses, scores = history_keys(history)
    if not losses and not scores:
        return None
    x_name, xs = _history_x(history)
    both = bool(losses and scores)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("losses", "accuracies / agreements")) if both else go.Figure()
    for i, name in enumerate(sorted(losses + scores)):
        points = [(x, h[name]) for x, h in zip(xs, history) if isinstance(h.get(name), (int, float))]
        trace = go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=name,
                           line={"color": PALETTE[i % len(PALETTE)]}, marker={"size": 4})
        if both:
            fig.add_trace(trace, row=2 if name in scores else 1, col=1)
        else:
            fig.add_trace(trace)
    _fit(fig, title=title, height=460 if both else 300)
    fig.update_layout(margin={**MARGIN, "t": 40, "b": 40})
    if both:
        fig.update_yaxes(title_text="loss", row=1, col=1)
        fig.update_yaxes(title_text="score (higher is better)", range=[-0.02, 1.02], row=2, col=1)
        fig.update_xaxes(title_text=x_name, row=2, col=1)
    else:
        fig.update_layout(xaxis_title=x_name)
    return fig


def history_comparison_figure(histories: dict[str, Sequence[dict[str, Any]]], key: str = "fs_m",
                              title: str = "") -> go.Figure | None:
    """One score ``key`` per epoch for several fits (e.g. MEED with and without its prior warm start,
    the paper's Figure 3), each label in its method's colour (variants dashed); None when no history
    has ``key``."""
    curves = {label: [(i + 1, h[key]) for i, h in enumerate(hist) if isinstance(h.get(key), (int, float))]
              for label, hist in histories.items()}
    curves = {label: points for label, points in curves.items() if points}
    if not curves:
        return None
    styles = trace_styles(curves)
    fig = go.Figure()
    for label, points in curves.items():
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                 name=label, **_line(styles[label])))
    label = FIDELITY_LABELS.get(key, key)
    return _fit(fig, title=title or f"{label} per epoch", xaxis_title="epoch",
                yaxis={"title": f"{label} (higher is better)", "range": [-0.02, 1.02]}, legend_title="fit",
                height=380)


#: fs_fu's scores and sen as the MEED paper's Tables 3–4 name them
FIDELITY_LABELS = {"fs_m": "FS-M", "fu_m": "FU-M", "fs_a": "FS-A", "fu_a": "FU-A", "sen": "SEN"}
FIDELITY_METRICS = ("fs_fu", "sen")


def has_fidelity(result: dict[str, Any]) -> bool:
    """Whether ``result`` scored fs_fu or sen (for the MEED paper's table and scatter)."""
    return any(values.get(m) is not None for values in result["results"].values() for m in FIDELITY_METRICS)


def _fidelity_direction(key: str) -> bool | None:
    return higher_is_better(key) if key == "sen" else higher_is_better(key, "fs_fu")


def fidelity_rows(result: dict[str, Any], digits: int = 4) -> list[dict[str, Any]]:
    """The MEED paper's Tables 3–4 layout, one row per method: FS-M, FU-M, FS-A, FU-A (fs_fu's mean
    agreements over images), SEN (sen's mean), ms per image (explanation time); a column only when
    some method has a value for it. Numbers rounded to ``digits``; :func:`fidelity_labels` marks
    which way each is better."""
    columns = []
    for key in ("fs_m", "fu_m", "fs_a", "fu_a"):
        if any(isinstance(g := v.get("fs_fu"), dict) and g.get(key) is not None for v in result["results"].values()):
            columns.append(key)
    if any(v.get("sen") is not None for v in result["results"].values()):
        columns.append("sen")
    timings = result.get("ms_per_image", {})
    rows = []
    for method, values in result["results"].items():
        row: dict[str, Any] = {"method": method}
        for key in columns:
            value = values.get(key) if key == "sen" else (values.get("fs_fu") or {}).get(key)
            row[FIDELITY_LABELS[key]] = None if value is None else round(float(value), digits)
        row["ms / image"] = None if timings.get(method) is None else round(float(timings[method]), 2)
        rows.append(row)
    return rows


def fidelity_labels(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Display labels of :func:`fidelity_rows` columns with the better direction ("FS-M ↑", "FU-M ↓",
    "SEN ↓"), read from the metrics' notes."""
    keys = {label: key for key, label in FIDELITY_LABELS.items()}
    labels = {}
    for column in dict.fromkeys(k for r in rows for k in r):
        if column in keys and (better := _fidelity_direction(keys[column])) is not None:
            labels[column] = f"{column} {UP if better else DOWN}"
    return labels


def fidelity_figure(result: dict[str, Any]) -> go.Figure | None:
    """FS-M against FU-M, one point per method in its fixed colour, ±1 std over images both ways:
    x = FU-M (lower is better), y = FS-M (higher is better), so the upper left is best; None when
    no method has both."""
    points = {m: v for m, vs in result["results"].items()
              if isinstance(v := vs.get("fs_fu"), dict) and v.get("fs_m") is not None and v.get("fu_m") is not None}
    if not points:
        return None
    styles = trace_styles(points)
    fig = go.Figure()
    for method, v in points.items():
        style = styles[method]
        fig.add_trace(go.Scatter(
            x=[v["fu_m"]], y=[v["fs_m"]], mode="markers+text", name=method, text=[method], textposition="top right",
            marker={"color": style.colour, "symbol": style.marker, "size": 11},
            error_x={"type": "data", "array": [v.get("fu_m_std") or 0.0], "color": style.colour, "thickness": 1},
            error_y={"type": "data", "array": [v.get("fs_m_std") or 0.0], "color": style.colour, "thickness": 1},
        ))

    def title(key: str) -> str:
        note = str(METRICS.get("fs_fu").notes.get(key, ""))
        words = _better_words(_fidelity_direction(key)).split(" ", 1)[-1]
        return f"{FIDELITY_LABELS[key]}: {note.split(' (')[0]} ({words})"

    return _fit(
        fig, title=f"FS-M vs FU-M: upper left is best — {result['dataset']} ({result['preset']}), n = {result['n']}",
        xaxis={"title": title("fu_m"), "range": [-0.05, 1.05]},
        yaxis={"title": title("fs_m"), "range": [-0.05, 1.05]}, legend_title="method", height=440,
    )


def component_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A component ablation (the MEED paper's Table 2) as one row per variant: what it changes, then
    :func:`fidelity_rows`' columns when it scored fs_fu or sen, else :func:`scalar_rows`' columns."""
    changes = result.get("ablation", {})
    rows = fidelity_rows(result) if has_fidelity(result) else scalar_rows(result)
    for row in rows:
        config = changes.get(row["method"]) or {}
        row["settings changed"] = ", ".join(f"{k} = {v}" for k, v in config.items()) or "— (the full method)"
    return [{"method": r["method"], "settings changed": r["settings changed"],
             **{k: v for k, v in r.items() if k not in ("method", "settings changed")}} for r in rows]


def ablation_figure(result: dict[str, Any]) -> go.Figure:
    """A resolution ablation: one line per method (its fixed style), the metric's summary value against u."""
    metric = result["metric"]
    styles = trace_styles(result["summary"])
    fig = go.Figure()
    for method, by_u in result["summary"].items():
        us = sorted(by_u, key=int)
        fig.add_trace(go.Scatter(x=[int(u) for u in us], y=[by_u[u] for u in us], mode="lines+markers", name=method,
                                 **_line(styles[method])))
    spec = METRICS.get(metric)
    kind = "AUC" if spec.kind == "curve" else f"{spec.primary} mean" if spec.kind in ("seeded", "group") else "mean"
    better = {True: "higher is better", False: "lower is better"}.get(result["higher_is_better"], "")
    setting = result.get("setting")
    x_title = f"{setting} ({', '.join(result['summary'])})" if setting else "block size u (map averaged over u×u pixels)"
    return _fit(
        fig, title=f"{metric} {kind} vs {setting or 'map resolution'} — {result['dataset']} ({result['preset']}), "
                   f"n = {result['n']}",
        xaxis={"title": x_title, "type": "log", "tickvals": result["factors"]},
        yaxis_title=axis_title(f"{metric} {kind}, {better}" if better else f"{metric} {kind}"),
        legend_title="method", height=420,
    )


def scalar_figure(result: dict[str, Any], metric: str) -> go.Figure:
    """A scalar metric per method as bars (each its method's fixed colour) with ±1 std error bars."""
    methods = list(result["results"])
    spread = result.get("spread", {})
    styles = trace_styles(methods)
    fig = go.Figure(go.Bar(
        x=methods, y=[result["results"][m][metric] for m in methods],
        marker={"color": [styles[m].colour for m in methods],
                "pattern": {"shape": [styles[m].pattern for m in methods]}},
        error_y={"type": "data", "array": [spread.get(m, {}).get(metric, {}).get("std") or 0.0 for m in methods]},
    ))
    better = _better_words(higher_is_better(metric))
    return _fit(fig, title=f"{metric} — {result['dataset']} ({result['preset']}), n = {result['n']}",
                yaxis_title=f"{metric} ({better})" if better else metric, xaxis_title="method", height=380)


def curve_png(result: dict[str, Any], metric: str, dpi: int = 150) -> bytes:
    """The :func:`curve_figure` chart as a static PNG (matplotlib, no browser needed), in the chart's
    own colours, dashes and markers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chart = curve_figure(result, metric)
    fig = Figure(figsize=(6.4, 4.0))  # not pyplot: no global state, safe in the server's threads
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for trace in chart.data:
        ax.plot(list(trace.x), [float("nan") if y is None else y for y in trace.y], label=trace.name,
                color=trace.line.color, linestyle=_MPL_DASH.get(trace.line.dash, "-"),
                marker=_MPL_MARKER.get(trace.marker.symbol, "o"), markersize=3)
    layout = chart.layout
    ax.set(title=layout.title.text, xlabel=layout.xaxis.title.text,
           ylabel=layout.yaxis.title.text.replace("<br>", "\n"))
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=layout.legend.title.text, title_fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """A table (list of row dicts, e.g. :func:`numeric_rows`) as CSV."""
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def masking_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`xai_core.services.region_masking` as table rows: model × region, one column per fraction."""
    return [{"model": model, "masked": region, **{f"{p:.0%}": round(a, 3) for p, a in zip(result["fractions"], accs)}}
            for model, regions in result["models"].items() for region, accs in regions.items()]
