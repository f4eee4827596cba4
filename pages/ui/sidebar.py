"""The shared sidebar (dataset, preset, model, device) and the choices that persist across pages."""
from __future__ import annotations

import os
from typing import Any, NamedTuple

import streamlit as st

from xai_core import services
from xai_core.data import dataset_info, dataset_names
from xai_core.device import describe_device, resolve_device
from xai_core.errors import XAIError
from xai_core.jobs import MANAGER, RUNNING

from . import url_state

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: widget keys whose values survive visits to other pages. Streamlit drops a widget's state when a
#: run does not draw it, and a fragment run (the Train page's job list, every second while a job
#: runs) drops it even when the value was re-assigned as user state in the page's last full run:
#: :func:`keep_choices` keeps a copy under a key no widget owns and restores the widget's key from it
PERSISTENT_KEYS = ("dataset_choice", "preset_choice", "model_choice", "explore_split", "sample", "explore_methods",
                   "explore_outcome", "explore_mode", "explore_sign", "explore_clip", "explore_contour",
                   "explore_compare", "gallery_method", "gallery_size", "gallery_target", "gallery_split",
                   "gallery_class", "gallery_outcome", "gallery_seed", "gallery_mode", "gallery_sign", "gallery_clip")
KEPT = "kept:"  # prefix of those copies


class Selection(NamedTuple):
    """The sidebar's choice: a dataset, a preset and a model."""

    dataset: str
    preset: str
    model: services.ModelChoice


def sidebar() -> Selection:
    """Draw the shared sidebar and return the choice. Choices persist across pages."""
    keep_choices()
    url_state.start()
    with st.sidebar:
        names = dataset_names()
        url_state.restore("dataset", "dataset_choice", lambda text: url_state.choice(text, names))
        if st.session_state.get("dataset_choice") not in names:
            st.session_state["dataset_choice"] = "hard_mnist"
        dataset = st.selectbox("Dataset", names, key="dataset_choice")
        presets = ["quick", "paper"] + (["smoke"] if os.environ.get("XAI_APP_PRESET") == "smoke" else [])
        url_state.restore("preset", "preset_choice", lambda text: url_state.choice(text, presets))
        if st.session_state.get("preset_choice") not in presets:
            preset = os.environ.get("XAI_APP_PRESET", "quick")
            st.session_state["preset_choice"] = preset if preset in presets else "quick"
        preset = st.radio("Preset", presets, key="preset_choice", horizontal=True,
                          help="quick: CPU-sized; paper: the paper's resolution (GPU recommended)")
        st.session_state["dataset"], st.session_state["preset"] = dataset, preset
        model = _model_choice(dataset, preset)
        url_state.write({"dataset": dataset, "preset": preset, "model": url_state.model_token(model)})
        st.caption(f"Compute: {describe_device(resolve_device('auto'))}")
        queue = MANAGER.queue()
        if queue:
            running = sum(j.status == RUNNING for j in queue)
            st.caption(f"Background jobs: {running} running, {len(queue) - running} waiting (the Train page lists "
                       "them with their lane, estimate and place in line)")
    return Selection(dataset, preset, model)


def valid_choice(key: str, options: list, default: Any = None) -> None:
    """Before a selector keyed ``key`` is drawn without a default of its own (so that
    :func:`keep_choices` can restore it): a kept value that ``options`` no longer hold (another
    dataset, split or preset) becomes ``default`` (the first option when None)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0] if default is None else default


def keep_choices() -> None:
    """Copy each of :data:`PERSISTENT_KEYS` to a key no widget owns (kept whatever runs in between)
    and give the widget's key that value again (as user state, which a page that does not draw the
    widget keeps too)."""
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[KEPT + key] = st.session_state[key]
        if KEPT + key in st.session_state:
            st.session_state[key] = st.session_state[KEPT + key]


def _model_choice(dataset: str, preset: str) -> services.ModelChoice:
    """The Model selector: the dataset's default black box, another architecture (trained on first
    use), or an uploaded ONNX / torch.export classifier (pixel input in [0, 1], logits out)."""
    try:
        choices = services.model_choices(dataset_info(dataset, preset))
    except XAIError:
        return services.DEFAULT_MODEL  # the page reports the dataset's own error
    url_state.restore("model", "model_choice", lambda text: url_state.choice(text, choices, url_state.model_token))
    _follow_the_dataset(choices, dataset, preset)
    chosen = st.session_state["model_choice"]
    choice = st.selectbox("Model", choices, key="model_choice", format_func=lambda c: c.label,
                          help=f"**{chosen.label}** on {dataset} ({preset}). Other architectures are trained on "
                               "first use and cached; a dataset or preset change returns to its default black "
                               "box unless you picked another model that it offers too.")
    note = st.session_state.get("model_note")
    if note and note[1] and note[0] == (dataset, preset, choice):
        st.info(note[1])
    if choice.kind != "user":
        return choice
    if not model_uploads_allowed():
        st.warning("Model uploads are off: this server listens on a network address. The operator can turn "
                   "them on with XAI_ALLOW_MODEL_UPLOADS=1 (see docs/security.md).")
        return choices[0]
    upload = st.file_uploader("Classifier (.onnx or .pt2)", type=[f.lstrip(".") for f in services.UPLOAD_FORMATS],
                              help="ONNX, or torch.export.save with a dynamic batch dimension; input pixels in "
                                   "[0, 1], output logits over the dataset's classes. It never runs in the server: "
                                   "a jailed worker process (no files, no network, a CPU and memory budget) loads "
                                   "and runs it.")
    if upload is None:
        services.prestart_model_worker()  # the check that follows finds torch already imported
        st.info("Upload a model, or pick another one above.")
        return choices[0]
    key = (upload.file_id, dataset, preset)  # check an upload once (accepted or refused), not on every rerun
    if st.session_state.get("checked_model", (None,))[0] != key:
        try:
            with st.spinner("Checking the model in its jail …"):
                path = services.save_user_model(upload.getvalue(), upload.name, dataset, preset)
            st.session_state["checked_model"] = key, services.ModelChoice("user", path=str(path)), None
        except XAIError as err:
            st.session_state["checked_model"] = key, choices[0], str(err)
    _, choice, refusal = st.session_state["checked_model"]
    if refusal:
        st.error(refusal)
    return choice


def _follow_the_dataset(choices: list[services.ModelChoice], dataset: str, preset: str) -> None:
    """Set the Model selector's value for (dataset, preset) before it is drawn. On a dataset or
    preset change, a model left at its default follows to the new default; one the user picked
    stays if the new dataset offers it and is reset to the default if not, both with a note in the
    sidebar (kept in ``model_note`` while the choice stands)."""
    chosen, before = st.session_state.get("model_choice"), st.session_state.get("model_for")
    st.session_state["model_for"] = where = (dataset, preset)
    default, note = choices[0], None
    if chosen is not None and before not in (None, where):
        if chosen.kind == "default" or (chosen.kind == "arch" and chosen.arch == default.arch):
            chosen = default  # the user left the default (or picked it by name): the new default follows
        elif chosen in choices:
            note = f"Model: kept your choice, **{chosen.label}** (the default black box here is {default.arch})."
        else:
            note = (f"Model reset to **{default.label}**: {chosen.label} is not offered for {dataset} "
                    f"({preset}).")
            chosen = default
        st.session_state["model_note"] = (dataset, preset, chosen), note
    st.session_state["model_choice"] = chosen if chosen in choices else default


def model_uploads_allowed() -> bool:
    """Uploaded models run in the server process (after their checks): allowed when the server
    listens on loopback only, or when the operator sets ``XAI_ALLOW_MODEL_UPLOADS=1``."""
    if os.environ.get("XAI_ALLOW_MODEL_UPLOADS") == "1":
        return True
    return str(st.get_option("server.address") or "") in LOOPBACK
