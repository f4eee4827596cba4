"""The figure behind one claim: our values as bars, the paper's as markers, per label (pure functions
over a report row; no Streamlit)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from .render import MARK, MISSING, STALE

OURS, PAPER = "#1f77b4", "#d62728"


def labels(row: Mapping[str, Any]) -> list[str]:
    """The row's labels: ours in their order, then the paper's that we do not have."""
    out = list(row.get("ours") or {})
    return out + [k for k in row.get("paper_values") or {} if k not in out]


def title(row: Mapping[str, Any]) -> str:
    status = {MISSING: "not measured", STALE: "stale: older code"}.get(row["status"], MARK[row["holds"]])
    return f"{row['id']} ({row['source']}): {status}"


def claim_figure(row: Mapping[str, Any]) -> go.Figure:
    """Ours (bars with their 95 % intervals; none where missing) beside the paper's values (diamonds) for each
    label of ``row``."""
    names = [k for k in labels(row) if not k.endswith((" low", " high"))]  # a paired difference's bounds: error bars
    ours = [(row.get("ours") or {}).get(k) for k in names]
    intervals = [(row.get("ours_ci95") or {}).get(k) for k in names]
    low = [0.0 if v is None or ci is None else v - ci[0] for v, ci in zip(ours, intervals)]
    high = [0.0 if v is None or ci is None else ci[1] - v for v, ci in zip(ours, intervals)]
    paper = [(row.get("paper_values") or {}).get(k) for k in names]
    fig = go.Figure()
    fig.add_bar(x=names, y=ours, name="ours" + (" (stale)" if row["status"] == STALE else ""), marker_color=OURS,
                opacity=0.5 if row["status"] == STALE else 1.0,
                text=["" if v is None else f"{v:.3g}" for v in ours], textposition="outside",
                error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low,
                         "visible": any(intervals)})
    fig.add_scatter(x=names, y=paper, name="paper" + (f" ({row['paper_units']})" if row.get("paper_units") else ""),
                    mode="markers", marker={"symbol": "diamond", "size": 13, "color": PAPER})
    fig.update_layout(title=title(row), height=360, margin={"l": 40, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, yaxis_title="value", barmode="group")
    return fig
