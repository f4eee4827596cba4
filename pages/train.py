"""Train: what each method needs, what is already built, and background jobs with live progress.
Jobs belong to the server process, so they survive page switches and reloads, and two users who
start the same job share it. Every start shows its time estimate (long work asks for a
confirmation first); every running job has a Cancel button. Thin: widgets and calls into
xai_core.services only."""
from __future__ import annotations

import streamlit as st

from pages.ui import helpers, job_ui, readiness, sidebar
from xai_core import figures, services
from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, MANAGER
from xai_core.services import estimates, tasks

selection = sidebar.sidebar()
dataset, preset = selection.dataset, selection.preset
st.title("Train")
st.caption("Black boxes and trained methods are built once, cached on disk, and picked up by every page.")

st.subheader(f"Black boxes ({preset} preset)")
rows = services.black_box_rows(preset)
st.dataframe(tasks.black_box_table(rows), hide_index=True, width="stretch")
trainable = [r["dataset"] for r in rows if r["state"] == "not trained"]
if trainable:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox("Train the black box of", trainable,
                          index=trainable.index(dataset) if dataset in trainable else 0)
    if job_ui.start_button("Train", estimates.black_box_estimate(choice, preset), key="train-black-box", where=c2,
                           type="primary"):
        services.train_black_box_job(choice, preset)
else:
    st.success("Every available black box at this preset is ready.")

def comparison(ctx: services.Context, row: services.MethodRow) -> None:
    """A method's declared second fit beside its default one, one value per epoch (MEED's Figure 3)."""
    method, declared = row.name, row.comparison
    st.subheader(f"{row.paper.short}: {declared.title}")
    st.caption(f"{declared.caption} Both fits are cached; a missing one trains as a background job (its progress "
               "and Cancel button under Jobs).")
    fits = {services.fit_label(method): {}, services.fit_label(method, **declared.variant): dict(declared.variant)}
    histories = {label: tasks.fit_history(ctx, method, **config) for label, config in fits.items()}
    for label, config in fits.items():
        if histories[label] is not None:
            continue
        fit_job = MANAGER.get(services.fit_job_key(ctx, method, **config))
        if fit_job is not None and fit_job.active:  # its progress and Cancel button: under Jobs
            st.caption(f"**{label}** is training: its losses and {declared.value} appear live under *Jobs* below.")
        elif job_ui.start_button(f"Train {label} now", estimates.fit_estimate(ctx, method, **config),
                                 key=f"train-{label}"):
            services.fit_method_job(ctx, method, **config)
            st.rerun()
    if all(h is not None for h in histories.values()):
        fig = figures.history_comparison_figure(histories, declared.value, title=f"{row.paper.short}: "
                                                f"{declared.title} on {dataset} ({preset})")
        if fig is not None:
            st.plotly_chart(fig, width="stretch", key=f"{method}-comparison")


st.subheader(f"Methods on {dataset}")
state = next(r["state"] for r in rows if r["dataset"] == dataset)
if state not in ("trained", "shipped", "pretrained"):
    st.info(f"The {dataset} black box is {state}: train it first (above); the methods explain it.")
elif readiness.model_ready(dataset, preset, selection.model, ", the sidebar's model: the methods explain it"):
    ctx = readiness.load_or_stop(selection)
    methods = services.method_rows(ctx.info, ready_on=ctx)
    st.dataframe([m.table() for m in methods], hide_index=True, width="stretch")
    unfitted = [m.name for m in methods if not m.ready]
    if unfitted:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        method = c1.selectbox("Fit method", unfitted)
        unmet = estimates.unmet_requirement(ctx, method)
        if unmet:
            st.warning(f"{method} cannot be trained on {dataset}: {unmet}")
        elif job_ui.start_button("Fit", estimates.fit_estimate(ctx, method), key="fit", where=c2, type="primary"):
            services.fit_method_job(ctx, method)
        try:
            commands = [services.train_command(dataset, preset, [method], seed=ctx.seed, model=ctx.model, processes=p)
                        for p in (None, 2)]
        except XAIError as err:
            st.caption(f"No command line fits this: {err}.")
        else:
            st.caption("The same fit from the command line, and data parallel over 2 processes or GPUs with torchrun "
                       "(every process trains on its part of each batch; the cached result is the one this page "
                       "uses; see “Scaling out”, docs/scaling-out.md):")
            st.code("\n".join(commands), language="bash", wrap_lines=True)
    elif not any(m.trained for m in methods):
        st.caption("No method here needs training: post-hoc and reference methods explain the black box directly.")
    trained = [m.name for m in methods if m.trained]
    if trained:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        method = c1.selectbox("Fit on randomised labels (the data-randomisation sanity check)", trained,
                              help="the labels (or black-box outputs) a method trains on are shuffled across the "
                                   "training split; a faithful method's maps should then lose the objects. Cached "
                                   "apart from the real fit; Evaluate compares the two.")
        done = services.is_ready(ctx, method, randomize_labels=True)
        if done:
            c2.button("Fitted", disabled=True, key="fit-random")
        elif job_ui.start_button("Fit", estimates.fit_estimate(ctx, method, randomize_labels=True), key="fit-random",
                                 where=c2):
            services.fit_method_job(ctx, method, randomize_labels=True)
    for row in (m for m in methods if m.comparison is not None):
        comparison(ctx, row)


def draw_jobs() -> None:
    jobs = sorted(MANAGER.jobs(), key=lambda j: j.started or 0, reverse=True)
    if not jobs:
        st.caption("No jobs yet in this server process.")
        return
    for job in jobs:
        with st.container(border=True):
            eta = job.eta_seconds
            fared = job_ui.estimate_note(job)
            st.markdown(f"**{job.title}** — {job.status} ({job.lane} lane)"
                        + (f" · {job_ui.left_text(eta)}" if eta is not None else "")
                        + (f" · took {job.finished - job.started:.0f} s" if job.finished and job.started else "")
                        + (f" · {fared}" if fared else ""))
            st.progress(job.fraction, text=job.message or " ")
            job_ui.cancel_button(job)
            if job.error:
                helpers.show_error(job.error, job.details)
            elif job.status == CANCELLED and job.key.startswith("fit/"):
                st.caption(f"Cancelled: {job_ui.resume_note(job)}")
            fig = figures.history_figure(job.history)
            if fig is not None:
                st.plotly_chart(fig, width="stretch", key=f"job-{job.key}")
    if not any(j.active for j in jobs) and st.session_state.pop("jobs_were_active", False):
        st.rerun()  # refresh the tables above once the last job has finished
    st.session_state["jobs_were_active"] = any(j.active for j in jobs)


st.subheader("Jobs")
st.caption("Estimates learn from this machine: each finished job records its measured time, and the next "
           "estimate of the same kind is corrected by the median of the recent ones (its basis says by how much).")
active = any(j.active for j in MANAGER.jobs())
st.fragment(job_ui.queue_panel, run_every=1.0 if active else None)()
st.fragment(draw_jobs, run_every=1.0 if active else None)()
