"""The view in the URL (``st.query_params``), so that a reload or a shared link reopens it: dataset, preset,
model, split, sample, methods and the class explained.

The URL is read once, at session start (:func:`start`), and each value is applied (:func:`restore`) only where
the session state holds none yet, after it is checked against the choices the page offers at that moment: a
URL is hostile input, so anything else (unknown names, an index out of range, odd characters, overlong text)
is dropped without a word; values are only ever compared with the offered choices (never evaluated, never
a path). The pages write their current choices back with :func:`write` on every run. The parsers are pure.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")
#: the URL's parameters; the value of each is checked by the page that applies it
PARAMS = ("dataset", "preset", "model", "split", "sample", "methods", "target")
WANTED = "url:wanted"  # session key: the URL's values at session start, consumed as they are applied
MAX_LENGTH = 512  # longer values are dropped unread
INDEX = re.compile(r"[0-9]{1,9}")  # ASCII digits only (\d would take "７")


# -- pure: text <-> choices ----------------------------------------------------------------------------
def wanted(query: Mapping[str, Any]) -> dict[str, str]:
    """The parameters of :data:`PARAMS` in ``query`` (a mapping of the URL's values) as plain strings; the
    last of repeated values; overlong or non-text values dropped."""
    out = {}
    for name in PARAMS:
        value = query.get(name)
        value = value[-1] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, str) and len(value) <= MAX_LENGTH:
            out[name] = value
    return out


def choice(text: str, options: Sequence[T], name: Callable[[T], str] = str) -> T | None:
    """The option that ``name`` writes as ``text``; None when none does."""
    return next((o for o in options if name(o) == text), None)


def index(text: str, options: Sequence[int]) -> int | None:
    """``text`` as a non-negative integer among ``options`` (digits only); None otherwise."""
    if not INDEX.fullmatch(text):
        return None
    value = int(text)
    return value if value in set(options) else None


def names(text: str, options: Sequence[str]) -> list[str] | None:
    """A comma-separated list: the names among ``options``, in the URL's order, once each (unknown ones
    dropped); "" is the empty list; None when the text names something but nothing valid."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    known = list(dict.fromkeys(p for p in parts if p in options))
    return known if known or not parts else None


def join(values: Sequence[str]) -> str:
    """A list of names as the URL holds it (what :func:`names` reads)."""
    return ",".join(values)


# -- Streamlit ----------------------------------------------------------------------------------------
def start() -> None:
    """At session start (once per session: a reload is a new one), keep the URL's values to apply."""
    if WANTED not in st.session_state:
        st.session_state[WANTED] = wanted({k: st.query_params.get_all(k) for k in st.query_params})


def restore(param: str, key: str, parse: Callable[[str], Any]) -> None:
    """Apply the URL's ``param`` to session state ``key`` when the session holds no value there yet:
    ``parse`` (one of the parsers above, bound to the choices offered now) returns the value or None
    (ignored). The URL's value is used at most once."""
    pending = st.session_state.get(WANTED) or {}
    if key in st.session_state or param not in pending:
        return
    value = parse(pending.pop(param))
    if value is not None:
        st.session_state[key] = value


def write(values: Mapping[str, str | None]) -> None:
    """Put the current choices in the URL (None removes a parameter); unchanged values are not sent again."""
    for name, value in values.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def model_token(model: Any) -> str | None:
    """How the URL names a model choice (a ``services.ModelChoice``): "default", "manipulated" or the
    architecture; None for a user's uploaded file (never in a URL: it is a path on the server)."""
    return {"default": "default", "manipulated": "manipulated", "arch": model.arch}.get(model.kind)
