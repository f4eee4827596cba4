"""Small helpers every page shares: a work slot for heavy work, error lines and boxes, a progress
bar, and grids of maps."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from xai_core.jobs import one_line, shorten
from xai_core.services.estimates import duration
from xai_core.workslots import WORK_SLOTS, waiting_message

_LOG = logging.getLogger(__name__)


@contextmanager
def work_slot() -> Iterator[None]:
    """Hold one of the server's work slots (:data:`~xai_core.workslots.WORK_SLOTS`) for heavy work;
    while waiting, show the queue position (the line goes away once the slot is taken). Never call a
    cached function (:func:`pages.ui.caches.context`, …) inside: its compute lock may be held by a
    session queued behind."""
    box = None

    def waiting(ahead: int) -> None:
        nonlocal box
        box = box or st.empty()
        box.info(waiting_message(ahead), icon="⏳")

    with WORK_SLOTS.slot(waiting):
        if box is not None:
            box.empty()
        yield


def failed(what: str, err: Exception) -> str:
    """Log an unexpected error with its traceback on the server; return the one line a user sees
    (no traceback, no server paths, at most about 200 characters)."""
    _LOG.exception("%s failed", what)
    return f"{what}: {one_line(err, 150)} (an internal error; details in the server log)"


def show_error(line: str, details: str | None = None) -> None:
    """An error as one short line, its full text (if longer) folded in an expander below it: a
    message that holds a tensor must not fill the page."""
    st.error(shorten(line, 300))
    if details and details not in line:
        with st.expander("Full error text"):
            long = len(details) > 600 or details.count("\n") > 12
            st.code(details, language=None, wrap_lines=True, height=320 if long else "content")


class ProgressBar:
    """A Progress callback drawn as a bar that appears on the first report and disappears on
    :meth:`close` (cache hits report nothing, so show nothing)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: float, total: float, message: str = "", **metrics: Any) -> None:
        if self._bar is None:
            self._bar = st.progress(0.0)
        eta = metrics.get("eta_s")
        text = message + (f" · about {duration(eta)} left" if eta is not None else "")
        self._bar.progress(max(0.0, min(1.0, done / total)) if total else 0.0, text=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.empty()


def unavailable_note(blocked: dict[str, str], where: str) -> None:
    """Under a method picker: the methods it leaves out on ``where`` (a dataset, "your image"), each with
    its one-line reason (:func:`xai_core.services.offered_methods`), folded so the picker stays short."""
    if blocked:
        with st.expander(f"Not offered on {where}: {', '.join(blocked)}"):
            for method, why in blocked.items():
                st.caption(f"**{method}**: {why}")


def method_label(rows: Any) -> Any:
    """A picker's ``format_func``: each method with its description's first phrase (no "DiET: " prefix,
    nothing after a parenthesis or semicolon, at most 50 characters)."""
    about = {r.name: shorten(re.split(r" \(|;", re.sub(r"^[\w-]+: ", "", r.about))[0].rstrip("."), 50) for r in rows}
    return lambda name: f"{name} — {about[name]}" if name in about else str(name)


def grid(count: int, columns: int = 4) -> list:
    """``count`` cells in rows of ``columns`` equal columns: a map keeps a readable, bounded size
    whether there are one or twenty (more wrap to new rows, never shrink or stretch)."""
    cells = []
    for start in range(0, count, columns):
        cells += st.columns(columns)[:min(columns, count - start)]
    return cells


def show_enlarged(title: str, pictures: list[tuple[Any, str]], lines: list[str], bar: Any = None) -> None:
    """One map opened large (the "Enlarge" selectors of Explore and the Gallery): ``pictures``
    (image, caption) side by side at half the page's width each, the colour bar and ``lines``
    (the map's numeric min / max, its settings) beneath."""
    with st.container(border=True):
        st.markdown(f"**{title}**")
        for col, (picture, caption) in zip(st.columns(max(2, len(pictures))), pictures):
            col.image(picture, caption=caption, width="stretch")
        if bar is not None:
            st.image(bar, caption="colour scale", width=320)
        for line in lines:
            st.caption(line)
