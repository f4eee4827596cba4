"""Plotly charts (and a static PNG) built from ``services.evaluate`` results, ablations and training
histories, for pages to display; every method in its fixed style (:mod:`.styles`)."""
from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics import METRICS, CurveValue, EvaluationResult, GroupValue, ResultLike, ScalarValue, SeededValue, as_result
from .styles import (
    FIDELITY_LABELS, MARGIN, MPL_DASH, MPL_MARKER, PALETTE, axis_title, better_words, fidelity_direction, fit,
    higher_is_better, line, trace_styles,
)


def _title(result: EvaluationResult, head: str, tail: str = "") -> str:
    return f"{head} — {result.dataset} ({result.preset}), n = {result.n}{tail}"


def curve_figure(result: ResultLike, metric: str) -> go.Figure:
    """One trace per method (AUC in the legend) in the method's fixed style, ±1 std band omitted for
    legibility; the y title is the metric's score, shortened and wrapped to fit."""
    typed = as_result(result)
    curves = typed.by_label(metric, CurveValue)
    styles = trace_styles(curves)
    fig = go.Figure()
    for method, curve in curves.items():
        auc = "n/a" if curve.auc is None else f"{curve.auc:.3f}"  # n/a: not scored (e.g. sanity, trained)
        fig.add_trace(go.Scatter(x=list(curve.x), y=list(curve.y), mode="lines+markers",
                                 name=f"{method} (AUC {auc})", **line(styles[method])))
    spec = METRICS.get(metric)
    better = better_words(spec.higher_is_better)
    return fit(
        fig, title=_title(typed, metric), xaxis_title=spec.x_label,
        yaxis_title=axis_title(spec.settings.get("score", "score")),
        legend_title=f"method (AUC: {better})" if better else "method", height=420,
    )


def curve_png(result: ResultLike, metric: str, dpi: int = 150) -> bytes:
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
                color=trace.line.color, linestyle=MPL_DASH.get(trace.line.dash, "-"),
                marker=MPL_MARKER.get(trace.marker.symbol, "o"), markersize=3)
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


def error_bars(stats: Sequence[Any]) -> dict[str, Any]:
    """Plotly error bars for values with ``mean``, ``std`` and ``ci95``: the 95 % interval of each mean
    (asymmetric; zero where a value has none) when any value has one, else ±1 std (results written
    before intervals)."""
    if any(getattr(v, "ci95", None) is not None for v in stats):
        def side(v: Any, i: int) -> float:
            return 0.0 if v.ci95 is None or v.mean is None else abs(v.ci95[i] - v.mean)
        return {"type": "data", "symmetric": False, "array": [side(v, 1) for v in stats],
                "arrayminus": [side(v, 0) for v in stats]}
    return {"type": "data", "array": [v.std or 0.0 for v in stats]}


def scalar_figure(result: ResultLike, metric: str) -> go.Figure:
    """A scalar metric per method as bars (each its method's fixed colour) with error bars: the 95 %
    interval of the mean (±1 std for results without intervals)."""
    typed = as_result(result)
    methods = list(typed.results)
    values = [v if isinstance(v := typed.results[m].get(metric), ScalarValue) else ScalarValue(None)
              for m in methods]
    styles = trace_styles(methods)
    bars = error_bars(values)
    fig = go.Figure(go.Bar(
        x=methods, y=[v.mean for v in values],
        marker={"color": [styles[m].colour for m in methods],
                "pattern": {"shape": [styles[m].pattern for m in methods]}},
        error_y=bars,
    ))
    better = better_words(higher_is_better(metric))
    tail = ", bars: 95 % interval" if "arrayminus" in bars else ", bars: ±1 std"
    return fit(fig, title=_title(typed, metric, tail), yaxis_title=f"{metric} ({better})" if better else metric,
               xaxis_title="method", height=380)


def a1a2_figure(result: ResultLike, metric: str = "a1a2") -> go.Figure:
    """a1 against a2, one point per method (its fixed colour) with 95 % intervals (over seeds) both
    ways: x = a2 (accuracy from the complement, lower is better), y = a1 (from the selected units,
    higher is better), so the upper left is best."""
    typed = as_result(result)
    seeded = typed.by_label(metric, SeededValue)
    points = {m: v for m, v in seeded.items() if v.scores["a1"].mean is not None and v.scores["a2"].mean is not None}
    fig = _scatter({m: (v.scores["a2"], v.scores["a1"]) for m, v in points.items()}, size=10)
    seeds = max((v.seeds or 0 for v in seeded.values()), default=0)
    return fit(
        fig, title=_title(typed, f"{metric}: upper left is best", f", {seeds} seeds"),
        xaxis={"title": "a2: accuracy from the complement (lower is better)", "range": [-0.05, 1.05]},
        yaxis={"title": "a1: accuracy from the selected units<br>(higher is better)", "range": [-0.05, 1.05]},
        legend_title="method", height=420,
    )


def _scatter(points: dict[str, tuple[Any, Any]], size: int, thickness: int | None = None) -> go.Figure:
    """One labelled point per method in its fixed style at (x, y) means, with :func:`error_bars` both ways
    (95 % intervals; ±1 std for results without them)."""
    styles, fig = trace_styles(points), go.Figure()
    bar = {} if thickness is None else {"thickness": thickness}
    for method, (x, y) in points.items():
        style = styles[method]
        fig.add_trace(go.Scatter(
            x=[x.mean], y=[y.mean], mode="markers+text", name=method, text=[method], textposition="top right",
            marker={"color": style.colour, "symbol": style.marker, "size": size},
            error_x={**error_bars([x]), "color": style.colour, **bar},
            error_y={**error_bars([y]), "color": style.colour, **bar},
        ))
    return fig


def fidelity_figure(result: ResultLike) -> go.Figure | None:
    """FS-M against FU-M, one point per method in its fixed colour, 95 % intervals over images both ways:
    x = FU-M (lower is better), y = FS-M (higher is better), so the upper left is best; None when
    no method has both."""
    typed = as_result(result)
    points = {m: v for m, v in typed.by_label("fs_fu", GroupValue).items()
              if all(k in v.scores and v.scores[k].mean is not None for k in ("fs_m", "fu_m"))}
    if not points:
        return None
    fig = _scatter({m: (v.scores["fu_m"], v.scores["fs_m"]) for m, v in points.items()}, size=11, thickness=1)

    def title(key: str) -> str:
        note = str(METRICS.get("fs_fu").notes.get(key, ""))
        words = better_words(fidelity_direction(key)).split(" ", 1)[-1]
        return f"{FIDELITY_LABELS[key]}: {note.split(' (')[0]} ({words})"

    return fit(
        fig, title=_title(typed, "FS-M vs FU-M: upper left is best"),
        xaxis={"title": title("fu_m"), "range": [-0.05, 1.05]},
        yaxis={"title": title("fs_m"), "range": [-0.05, 1.05]}, legend_title="method", height=440,
    )


def ablation_figure(result: dict[str, Any]) -> go.Figure:
    """A resolution ablation or setting sweep (``services.resolution_ablation`` / ``setting_sweep``): one
    line per method (its fixed style), the metric's headline value against u or the setting's value."""
    metric = result["metric"]
    styles = trace_styles(result["summary"])
    fig = go.Figure()
    for method, by_u in result["summary"].items():
        us = sorted(by_u, key=int)
        fig.add_trace(go.Scatter(x=[int(u) for u in us], y=[by_u[u] for u in us], mode="lines+markers", name=method,
                                 **line(styles[method])))
    spec = METRICS.get(metric)
    kind = "AUC" if spec.kind == "curve" else f"{spec.primary} mean" if spec.kind in ("seeded", "group") else "mean"
    better = {True: "higher is better", False: "lower is better"}.get(result["higher_is_better"], "")
    setting = result.get("setting")
    x_title = (f"{setting} ({', '.join(result['summary'])})" if setting
               else "block size u (map averaged over u×u pixels)")
    return fit(
        fig, title=f"{metric} {kind} vs {setting or 'map resolution'} — {result['dataset']} ({result['preset']}), "
                   f"n = {result['n']}",
        xaxis={"title": x_title, "type": "log", "tickvals": result["factors"]},
        yaxis_title=axis_title(f"{metric} {kind}, {better}" if better else f"{metric} {kind}"),
        legend_title="method", height=420,
    )


# -- training histories ---------------------------------------------------------------------------------
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
    fit(fig, title=title, height=460 if both else 300)
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
                                 name=label, **line(styles[label])))
    label = FIDELITY_LABELS.get(key, key)
    return fit(fig, title=title or f"{label} per epoch", xaxis_title="epoch",
               yaxis={"title": f"{label} (higher is better)", "range": [-0.02, 1.02]}, legend_title="fit",
               height=380)
