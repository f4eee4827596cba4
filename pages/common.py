"""What every page shares: the sidebar (dataset, preset, device) and the cached dataset + black box."""
from __future__ import annotations

import os

import streamlit as st

from xai_core import services
from xai_core.data import dataset_names
from xai_core.device import describe_device, resolve_device


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


def sidebar() -> tuple[str, str]:
    """Draw the shared sidebar; returns (dataset, preset). Choices persist across pages."""
    with st.sidebar:
        st.header("Attribution Explorer")
        names = dataset_names()
        default = st.session_state.get("dataset", "hard_mnist")
        dataset = st.selectbox("Dataset", names, index=names.index(default))
        presets = ["quick", "paper"] + (["smoke"] if os.environ.get("XAI_APP_PRESET") == "smoke" else [])
        preset_default = st.session_state.get("preset", os.environ.get("XAI_APP_PRESET", "quick"))
        preset = st.radio("Preset", presets, index=presets.index(preset_default), horizontal=True,
                          help="quick: CPU-sized; paper: the paper's resolution (GPU recommended)")
        st.session_state["dataset"], st.session_state["preset"] = dataset, preset
        st.caption(describe_device(resolve_device("auto")))
    return dataset, preset
