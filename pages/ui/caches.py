"""The caches over xai_core that every page shares: one dataset + model per choice and server
process (trained on first use), the labels and predictions of a split, and explanations per
sample or upload (a least-recently-used map shared by every session)."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import streamlit as st

from pages.ui.helpers import work_slot
from xai_core import services
from xai_core.progress import Progress, no_progress
from xai_core.uploads import load_upload


@st.cache_resource(show_spinner=False, max_entries=4)
def context(dataset: str, preset: str, model: services.ModelChoice = services.DEFAULT_MODEL) -> services.Context:
    """Dataset + model, trained on first use with a progress bar; one per server process."""
    bar = st.progress(0.0, text=f"Preparing {dataset} ({preset}) …")

    def report(done: int, total: int, message: str = "", **metrics) -> None:
        extra = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        bar.progress(min(1.0, done / max(total, 1)), text=f"Black box: {message} {extra}")

    with work_slot():
        ctx = services.load_context(dataset, preset, progress=report, model=model)
    bar.empty()
    return ctx


def offered_methods(dataset: str, preset: str, model: services.ModelChoice = services.DEFAULT_MODEL,
                    upload: bool = False) -> tuple[list, dict[str, str]]:
    """:func:`services.offered_methods` once per selection (``upload``: for an image without masks) and set of
    registered methods: it builds every method unprepared, seconds on a large model (13 s on natural), never
    on each rerun."""
    return _offered_methods(dataset, preset, model, upload, services.registered_methods())


@st.cache_resource(show_spinner=False, max_entries=8)
def _offered_methods(dataset: str, preset: str, model: services.ModelChoice, upload: bool,
                     registered: tuple[str, ...]) -> tuple[list, dict[str, str]]:
    ctx = context(dataset, preset, model)
    return services.offered_methods(ctx, services.without_ground_truth(ctx.info) if upload else None)


@st.cache_resource(show_spinner="Classifying the test split …", max_entries=4)
def predicted_labels(dataset: str, preset: str, model: services.ModelChoice = services.DEFAULT_MODEL):
    """(labels, predictions) of the test split, for the sample picker's filters."""
    ctx = context(dataset, preset, model)
    with work_slot():
        return services.predicted_labels(ctx)


@st.cache_resource(show_spinner="Classifying the split …", max_entries=4)
def split_labels(dataset: str, preset: str, model: services.ModelChoice, split: str):
    """(labels, predictions) of an evaluation split other than "test", for the sample picker's
    filters (Explore, the Gallery)."""
    ctx = context(dataset, preset, model)
    with work_slot():
        return services.predicted_labels(ctx, split)


@st.cache_resource(show_spinner=False, max_entries=4)
def bottleneck_layers(dataset: str, preset: str,
                      model: services.ModelChoice = services.DEFAULT_MODEL) -> tuple[list[str], str | None]:
    """The layers IBA/InputIBA can use and the default (found by one forward pass, so cached)."""
    ctx = context(dataset, preset, model)
    with work_slot():
        return services.bottleneck_layers(ctx)


class LRU:
    """A thread-safe least-recently-used map (shared by every session of the server)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


@st.cache_resource
def _explanations() -> LRU:
    """Explanations per (dataset, preset, model, method, sample or upload, layer), at most 500.
    Not ``st.cache_data``: that replays the elements a cached call drew (the stage progress bar),
    which breaks when the call ran in another session."""
    return LRU(500)


def _cached(key: tuple, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cache = _explanations()
    hit = cache.get(key)
    if hit is None:
        hit = compute()
        cache.put(key, hit)
    return hit


def explanation(dataset: str, preset: str, model: services.ModelChoice, method: str, index: int,
                progress: Progress = no_progress, layer: str = "",
                config: tuple[tuple[str, Any], ...] = (), *, split: str = "test",
                target: int | None = None) -> dict[str, Any]:
    """One method on sample ``index`` of ``split`` (numpy arrays) for class ``target`` (None: the
    label); cached so revisiting a sample is instant. ``progress`` hears the stages of per-instance
    methods; ``layer`` moves a bottleneck method's layer ("" = the model's default); ``config``
    overrides other settings (e.g. DiET's u in a sweep)."""
    def compute() -> dict[str, Any]:
        ctx = context(dataset, preset, model)
        configs = {method: {**services.layer_configs([method], layer).get(method, {}), **dict(config)}}
        with work_slot():
            _, out = services.explain_indices(ctx, [method], [index], progress, configs, _targets(target), split)
            return services.first_as_arrays(out[method], ctx.info.class_names)

    return _cached(("sample", dataset, preset, model, method, split, index, target, layer, config), compute)


def upload_explanation(dataset: str, preset: str, model: services.ModelChoice, method: str, data: bytes, name: str,
                       progress: Progress = no_progress, layer: str = "",
                       config: tuple[tuple[str, Any], ...] = (), *, target: int | None = None) -> dict[str, Any]:
    """One method on an uploaded image (keyed by its bytes), explained for class ``target`` (None:
    the model's top-1)."""
    def compute() -> dict[str, Any]:
        ctx = context(dataset, preset, model)
        configs = {method: {**services.layer_configs([method], layer).get(method, {}), **dict(config)}}
        with work_slot():
            _, out = services.explain_images(ctx, [method], load_upload(data, ctx.info, name)[None], progress, configs,
                                             _targets(target))
            return services.first_as_arrays(out[method], ctx.info.class_names)

    digest = hashlib.sha256(data).hexdigest()
    return _cached(("upload", dataset, preset, model, method, digest, name, target, layer, config), compute)


def _targets(target: int | None) -> list[int] | None:
    return None if target is None else [target]
