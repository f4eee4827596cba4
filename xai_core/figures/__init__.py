"""Plotly figures, tables and CSV built from ``services.evaluate`` results (pages only display them).

- :mod:`.styles`: a fixed colour per method (variants dashed), shared layout, which way scores are better;
- :mod:`.tables`: table rows, their ↑/↓ column labels, CSV; each metric's cells by its kind;
- :mod:`.charts`: curves, bars, scatters, ablations and training histories (and a curve as PNG).

Functions over an evaluation take it typed (:class:`xai_core.metrics.EvaluationResult`) or as its JSON.
Every public name is re-exported here: ``from xai_core import figures; figures.curve_figure(...)``.
"""
from __future__ import annotations

from .charts import (
    SCORE_PARTS, a1a2_figure, ablation_figure, curve_figure, curve_png, fidelity_figure, history_comparison_figure,
    history_figure, history_keys, is_score_key, scalar_figure,
)
from .styles import (
    DASHES, DOWN, FIDELITY_LABELS, FIDELITY_METRICS, MARGIN, MARKERS, PALETTE, PATTERNS, UP, TraceStyle, axis_title,
    base_method, higher_is_better, method_colour, method_style, trace_styles,
)
from .tables import (
    a1a2_rows, column_labels, component_rows, curve_metrics, curves_csv, fidelity_labels, fidelity_rows,
    group_labels, group_metrics, group_rows, has_fidelity, masking_rows, numeric_rows, rows_csv, scalar_rows,
    seeded_metrics, table_labels,
)

__all__ = [
    "SCORE_PARTS", "a1a2_figure", "ablation_figure", "curve_figure", "curve_png", "fidelity_figure",
    "history_comparison_figure", "history_figure", "history_keys", "is_score_key", "scalar_figure",
    "DASHES", "DOWN", "FIDELITY_LABELS", "FIDELITY_METRICS", "MARGIN", "MARKERS", "PALETTE", "PATTERNS", "UP",
    "TraceStyle", "axis_title", "base_method", "higher_is_better", "method_colour", "method_style", "trace_styles",
    "a1a2_rows", "column_labels", "component_rows", "curve_metrics", "curves_csv", "fidelity_labels",
    "fidelity_rows", "group_labels", "group_metrics", "group_rows", "has_fidelity", "masking_rows", "numeric_rows",
    "rows_csv", "scalar_rows", "seeded_metrics", "table_labels",
]
