"""Plotly figures and tables built from ``services.evaluate`` results (pages only display them)."""
from __future__ import annotations

import csv
import io
from typing import Any

import plotly.graph_objects as go

from .metrics import METRICS


def curve_metrics(result: dict[str, Any]) -> list[str]:
    """Names of the metrics that came back as curves."""
    names: list[str] = []
    for values in result["results"].values():
        names += [m for m, v in values.items() if isinstance(v, dict) and "x" in v and m not in names]
    return names


def curve_figure(result: dict[str, Any], metric: str) -> go.Figure:
    """One trace per method (AUC in the legend), ±1 std band omitted for legibility."""
    fig = go.Figure()
    for method, values in result["results"].items():
        curve = values.get(metric)
        if not isinstance(curve, dict):
            continue
        auc = "n/a" if curve.get("auc") is None else f"{curve['auc']:.3f}"  # n/a: not scored (e.g. sanity, trained)
        fig.add_trace(go.Scatter(x=curve["x"], y=curve["y"], mode="lines+markers", name=f"{method} (AUC {auc})"))
    fig.update_layout(
        title=f"{metric} — {result['dataset']} ({result['preset']}), n = {result['n']}",
        xaxis_title=METRICS.get(metric).x_label, yaxis_title=METRICS.get(metric).settings.get("score", "score"),
        legend_title="method", margin={"l": 40, "r": 10, "t": 50, "b": 40}, height=420,
    )
    return fig


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


def scalar_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method: scalar metrics as mean ± std, curve metrics as their AUC, seeded metrics'
    scores (a1a2: a1, a2) as mean ± std over seeds, group metrics' scores (e.g. "robustness
    pxap_noisy") as mean ± std over images; "n/a" for metrics that do not apply to the dataset."""
    rows = []
    skipped = result.get("settings", {}).get("not_applicable", {})
    for method, values in result["results"].items():
        row: dict[str, Any] = {"method": method}
        for metric, v in values.items():
            if _seeded(v):
                row.update({f"{metric} {k}": _mean_std(v[k], v.get(f"{k}_std")) for k in _seeded_keys(v)})
            elif _group(v):
                row.update({f"{metric} {k}": _mean_std(v[k], v.get(f"{k}_std")) for k in _group_keys(v)})
            elif isinstance(v, dict):
                row[f"{metric} AUC"] = None if v.get("auc") is None else round(v["auc"], 4)
            elif v is not None:
                row[metric] = _mean_std(v, result.get("spread", {}).get(method, {}).get(metric, {}).get("std"))
            elif metric in skipped:
                row[metric] = "n/a"
        row["ms / image"] = round(result.get("ms_per_image", {}).get(method, float("nan")), 2)
        rows.append(row)
    return rows


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
    """a1 against a2, one point per method with ±1 std (over seeds) error bars both ways: x = a2
    (accuracy from the complement, lower is better), y = a1 (from the selected units, higher is
    better), so the upper left is best."""
    fig = go.Figure()
    for method, values in result["results"].items():
        v = values.get(metric)
        if not _seeded(v) or v["a1"] is None or v["a2"] is None:
            continue
        fig.add_trace(go.Scatter(
            x=[v["a2"]], y=[v["a1"]], mode="markers+text", name=method, text=[method], textposition="top right",
            error_x={"type": "data", "array": [v.get("a2_std") or 0.0]},
            error_y={"type": "data", "array": [v.get("a1_std") or 0.0]},
        ))
    seeds = max((v["seeds"] for vs in result["results"].values() if _seeded(v := vs.get(metric))), default=0)
    fig.update_layout(
        title=f"{metric}: upper left is best — {result['dataset']} ({result['preset']}), n = {result['n']}, "
              f"{seeds} seeds",
        xaxis={"title": "a2: accuracy from the complement (lower is better)", "range": [-0.05, 1.05]},
        yaxis={"title": "a1: accuracy from the selected units (higher is better)", "range": [-0.05, 1.05]},
        legend_title="method", margin={"l": 40, "r": 10, "t": 50, "b": 40}, height=420,
    )
    return fig


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


def history_figure(history: list[dict[str, float]], title: str = "") -> go.Figure | None:
    """A background job's reported metrics (loss, accuracy …) against its step; None if none."""
    names = sorted({k for h in history for k in h if k != "step"})
    if not names:
        return None
    fig = go.Figure()
    for name in names:
        points = [(h["step"], h[name]) for h in history if name in h]
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines", name=name))
    fig.update_layout(title=title, xaxis_title="step", margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=300)
    return fig


def ablation_figure(result: dict[str, Any]) -> go.Figure:
    """A resolution ablation: one line per method, the metric's summary value against u."""
    metric = result["metric"]
    fig = go.Figure()
    for method, by_u in result["summary"].items():
        us = sorted(by_u, key=int)
        fig.add_trace(go.Scatter(x=[int(u) for u in us], y=[by_u[u] for u in us], mode="lines+markers", name=method))
    spec = METRICS.get(metric)
    kind = "AUC" if spec.kind == "curve" else f"{spec.primary} mean" if spec.kind in ("seeded", "group") else "mean"
    better = {True: "higher is better", False: "lower is better"}.get(result["higher_is_better"], "")
    setting = result.get("setting")
    x_title = f"{setting} ({', '.join(result['summary'])})" if setting else "block size u (map averaged over u×u pixels)"
    fig.update_layout(
        title=f"{metric} {kind} vs {setting or 'map resolution'} — {result['dataset']} ({result['preset']}), "
              f"n = {result['n']}",
        xaxis={"title": x_title, "type": "log", "tickvals": result["factors"]},
        yaxis_title=f"{metric} {kind} ({better})" if better else f"{metric} {kind}",
        legend_title="method", margin={"l": 40, "r": 10, "t": 50, "b": 40}, height=420,
    )
    return fig


def scalar_figure(result: dict[str, Any], metric: str) -> go.Figure:
    """A scalar metric per method as bars with ±1 std error bars."""
    methods = list(result["results"])
    spread = result.get("spread", {})
    fig = go.Figure(go.Bar(
        x=methods, y=[result["results"][m][metric] for m in methods],
        error_y={"type": "data", "array": [spread.get(m, {}).get(metric, {}).get("std") or 0.0 for m in methods]},
    ))
    fig.update_layout(title=f"{metric} — {result['dataset']} ({result['preset']}), n = {result['n']}",
                      yaxis_title=metric, xaxis_title="method", margin={"l": 40, "r": 10, "t": 50, "b": 40},
                      height=380)
    return fig


def curve_png(result: dict[str, Any], metric: str, dpi: int = 150) -> bytes:
    """The :func:`curve_figure` chart as a static PNG (matplotlib, no browser needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    chart = curve_figure(result, metric)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for trace in chart.data:
        ax.plot(list(trace.x), list(trace.y), marker="o", markersize=3, label=trace.name)
    layout = chart.layout
    ax.set(title=layout.title.text, xlabel=layout.xaxis.title.text, ylabel=layout.yaxis.title.text)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """A table (list of row dicts, e.g. :func:`scalar_rows`) as CSV."""
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
