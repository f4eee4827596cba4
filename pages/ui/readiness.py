"""Whether a page can run now: its context (:func:`load_or_stop`), and what needs training first
(the black box, another model, trained methods), offered as a background job with its estimate,
never trained inside a page run."""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages.ui.caches import context
from pages.ui.helpers import failed, show_error
from pages.ui.job_ui import resume_note, show_job, start_button
from pages.ui.sidebar import Selection
from xai_core import services
from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, MANAGER
from xai_core.services import estimates, tasks


def load_or_stop(selection: Selection) -> services.Context:
    """The context, or an error box and the end of this page's run (also when loading it would
    first train a black box for long: that runs as a background job from the Train page)."""
    _stop_before_long_training(selection)
    try:
        return context(*selection)
    except XAIError as err:
        st.error(str(err))
        st.stop()
    except Exception as err:  # a bug: log it, show one line without server paths
        st.error(failed(f"Loading {selection.dataset}", err))
        st.stop()


def _stop_before_long_training(selection: Selection) -> None:
    """End the page's run with a note when the default black box is not trained yet and training
    it is estimated above the confirmation threshold (e.g. the paper preset on a CPU): never train
    for hours inside a page run. Shows the training job's progress when one runs. Another
    architecture or the manipulated black box, not trained yet: :func:`model_ready`'s offer."""
    if selection.model.kind in ("arch", "manipulated"):
        if not model_ready(selection.dataset, selection.preset, selection.model):
            st.stop()
        return
    if selection.model.kind != "default":
        return
    try:
        if tasks.black_box_cached(selection.dataset, selection.preset):
            return
        estimate = estimates.black_box_estimate(selection.dataset, selection.preset)
    except XAIError:
        return  # loading the context reports it
    if not estimate.needs_confirmation:
        return
    st.info(f"The {selection.dataset} black box ({selection.preset} preset) is not trained yet: training it "
            f"takes {estimate.text}. Start it on the **Train** page, where it runs in the background (you can "
            "cancel it); this page uses it once it is ready. The quick preset trains in minutes.", icon="⏳")
    show_job(tasks.black_box_job_key(selection.dataset, selection.preset))
    st.stop()


def model_ready(dataset: str, preset: str, model: services.ModelChoice, purpose: str = "") -> bool:
    """Whether ``model`` loads without training (then :func:`~pages.ui.caches.context` is quick). If
    not: its training estimate and a "Train" button that starts it as a background job (confirmed first
    when long), or the running job's progress with Cancel, or its error; never trained inline.
    ``purpose`` ends the note's first sentence (e.g. "to compare with it")."""
    try:
        if tasks.model_cached(dataset, preset, model):
            return True
        estimate = estimates.model_estimate(dataset, preset, model)
    except XAIError:
        return True  # loading the context reports it
    key = tasks.model_job_key(dataset, preset, model)
    job = MANAGER.get(key)
    if job is not None and job.active:
        show_job(key)
        return False
    st.info(f"**{model.label}** is not trained yet on {dataset} ({preset}){purpose}: it trains once in the "
            "background (you can cancel it) and is cached afterwards.", icon="⏳")
    if job is not None and (job.error or job.status == CANCELLED):
        show_job(key)
    if start_button(f"Train {model.label}", estimate, key=f"train-model-{dataset}-{preset}-{model.kind}-{model.arch}",
                    type="primary"):
        tasks.train_model_job(dataset, preset, model)
        st.rerun()
    return False


def training_notice(ctx: services.Context, methods: list[str],
                    configs: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """For trained methods not fitted yet: a "train now" button (a background job, with its time
    estimate; confirmed first when long) and its live progress with a Cancel button instead of
    blocking the page. ``configs[method]`` (e.g. DoRaR's n_e) names a variant trained apart from
    the preset's. Returns the methods that are ready."""
    configs = configs or {}
    ready = [m for m in methods if services.is_ready(ctx, m, **configs.get(m, {}))]
    for method in (m for m in methods if m not in ready):
        config = configs.get(method, {})
        label, key = services.fit_label(method, **config), services.fit_job_key(ctx, method, **config)
        job = MANAGER.get(key)
        unmet = estimates.unmet_requirement(ctx, method, **config)
        if unmet:
            st.warning(f"**{label}** cannot be trained on {ctx.dataset}: {unmet}")
        elif job is None or not job.active:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.info(f"**{label}** needs training on {ctx.dataset} first (cached afterwards)."
                    + (f" The last attempt was cancelled; {resume_note(job)}"
                       if job and job.status == CANCELLED else ""))
            if job and job.error:
                show_error(f"The last attempt failed: {job.error}", job.details)
            if start_button(f"Train {label} now", estimates.fit_estimate(ctx, method, **config),
                            key=f"train-{label}", where=c2):
                services.fit_method_job(ctx, method, **config)
                st.rerun()
        else:
            show_job(key)
    return ready
