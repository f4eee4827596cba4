"""What every page shares: the sidebar (dataset, preset, device) and the caches over xai_core —
one dataset + black box per (dataset, preset) and server process, explanations per sample."""
from __future__ import annotations

import os
from typing import Any

import streamlit as st

from xai_core import services
from xai_core.data import dataset_names
from xai_core.device import describe_device, resolve_device
from xai_core.uploads import load_upload


@st.cache_resource(show_spinner=False)
def context(dataset: str, preset: str) -> services.Context:
    """Dataset + black box, trained on first use with a progress bar; one per server process."""
    bar = st.progress(0.0, text=f"Preparing {dataset} ({preset}) …")

    def report(done: int, total: int, message: str = "", **metrics) -> None:
        extra = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        bar.progress(min(1.0, done / max(total, 1)), text=f"Black box: {message} {extra}")

    ctx = services.load_context(dataset, preset, progress=report)
    bar.empty()
    return ctx


@st.cache_resource(show_spinner="Classifying the test split …")
def predicted_labels(dataset: str, preset: str):
    """(labels, predictions) of the test split, for the sample picker's filters."""
    return services.predicted_labels(context(dataset, preset))


@st.cache_data(max_entries=500, show_spinner=False)
def explanation(dataset: str, preset: str, method: str, index: int) -> dict[str, Any]:
    """One method on one test sample (numpy arrays); cached so revisiting a sample is instant."""
    _, out = services.explain_indices(context(dataset, preset), [method], [index])
    return services.first_as_arrays(out[method])


@st.cache_data(max_entries=100, show_spinner=False)
def upload_explanation(dataset: str, preset: str, method: str, data: bytes, name: str) -> dict[str, Any]:
    """One method on an uploaded image (keyed by its bytes), explained for the model's top-1."""
    ctx = context(dataset, preset)
    _, out = services.explain_images(ctx, [method], load_upload(data, ctx.info, name)[None])
    return services.first_as_arrays(out[method])


#: widget keys whose values survive visits to other pages (Streamlit drops a widget's state when a
#: run does not draw it; re-assigning the value makes it user state, which is kept)
PERSISTENT_KEYS = ("sample", "explore_methods")


def sidebar() -> tuple[str, str]:
    """Draw the shared sidebar; returns (dataset, preset). Choices persist across pages."""
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    with st.sidebar:
        names = dataset_names()
        default = st.session_state.get("dataset", "hard_mnist")
        dataset = st.selectbox("Dataset", names, index=names.index(default))
        presets = ["quick", "paper"] + (["smoke"] if os.environ.get("XAI_APP_PRESET") == "smoke" else [])
        preset_default = st.session_state.get("preset", os.environ.get("XAI_APP_PRESET", "quick"))
        preset = st.radio("Preset", presets, index=presets.index(preset_default), horizontal=True,
                          help="quick: CPU-sized; paper: the paper's resolution (GPU recommended)")
        st.session_state["dataset"], st.session_state["preset"] = dataset, preset
        st.caption(f"Compute: {describe_device(resolve_device('auto'))}")
    return dataset, preset


def load_or_stop(dataset: str, preset: str) -> services.Context:
    """The context, or an error box and the end of this page's run."""
    from xai_core.errors import XAIError

    try:
        return context(dataset, preset)
    except XAIError as err:
        st.error(str(err))
        st.stop()
