"""How methods and scores look on every chart and table: one colour per method, dashes for its variants,
shared layout margins and axis titles, and which way each score is better (↑/↓).

:func:`method_colour` gives each registered method a fixed colour of :data:`PALETTE`; labels of a
method's variants ("comet (random labels)", "diet (u = 4)") take their base method's colour and differ
by dash (:func:`trace_styles`)."""
from __future__ import annotations

import re
import textwrap
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from ..methods import METHODS
from ..metrics import METRICS

# Tableau 10 (Tableau's 2016 default): ten distinct hues, none a lighter or darker twin of another
PALETTE: tuple[str, ...] = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                            "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC")
# the n-th method of the registry beyond each 10 reuses a colour with the next marker (and bar pattern)
MARKERS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up")
PATTERNS: tuple[str, ...] = ("", "/", ".", "x")
# variants of one method in one chart: the base method solid, its variants dashed in turn
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MPL_DASH: dict[str, Any] = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.",
                            "longdash": (0, (8, 3)), "longdashdot": (0, (8, 3, 1, 3))}
MPL_MARKER = {"circle": "o", "square": "s", "diamond": "D", "triangle-up": "^"}
MARGIN = {"l": 80, "r": 20, "t": 60, "b": 60}  # room for axis titles; automargin grows it where needed
UP, DOWN = "↑", "↓"

#: fs_fu's scores and sen as the MEED paper's Tables 3–4 name them
FIDELITY_LABELS = {"fs_m": "FS-M", "fu_m": "FU-M", "fs_a": "FS-A", "fu_a": "FU-A", "sen": "SEN"}
FIDELITY_METRICS = ("fs_fu", "sen")


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


def line(style: TraceStyle) -> dict[str, Any]:
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


def fit(fig: go.Figure, **layout: Any) -> go.Figure:
    """Apply ``layout`` with the shared margins; axes grow their margins to fit titles and tick labels."""
    fig.update_layout(margin=MARGIN, **layout)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


# -- which way is better -------------------------------------------------------------------------------
def higher_is_better(column: str, metric: str | None = None) -> bool | None:
    """Which way a table column is better: True (higher), False (lower), None (not a score, e.g.
    "ms / image", or an unknown metric). ``column`` is a :func:`~.tables.scalar_rows` column ("iou",
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


def better_words(higher: bool | None) -> str:
    """"↑ higher is better", "↓ lower is better", or "" when not a score."""
    return {True: f"{UP} higher is better", False: f"{DOWN} lower is better"}.get(higher, "")


def fidelity_direction(key: str) -> bool | None:
    """Which way one of :data:`FIDELITY_LABELS`' scores is better (sen's, or fs_fu's per score)."""
    return higher_is_better(key) if key == "sen" else higher_is_better(key, "fs_fu")
