"""Long work from a page, always a background job with live progress and Cancel, never the page's own run:
a page's request (:func:`run_stored`: a short-lane job of this session, its result kept in the session) or
shared long work (:func:`requested_job`, :func:`start_button`, :func:`show_job`) with its time estimate;
the queue of running and waiting jobs (:func:`queue_panel`) and how past estimates fared
(:func:`estimate_note`)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from pages.ui.helpers import show_error
from pages.ui.sidebar import Selection
from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, DONE, MANAGER, RUNNING, SHORT, Job
from xai_core.services.estimates import Estimate, duration

#: what a cancelled fit keeps (the trainer checkpoints every epoch)
RESUMES = "training again resumes from its last finished epoch."


def resume_note(job: Job | None) -> str:
    """What fitting again does after ``job`` was cancelled: resume from its last finished epoch, or,
    cancelled inside its first epoch (no epoch's losses reported), start over."""
    if job is not None and not job.history:
        return "no epoch had finished, so training again starts from the beginning."
    return RESUMES


PAGE_JOB = "{}#job"  #: where :func:`run_stored` keeps its running job: (selection, (job key, what to keep))


def run_stored(key: str, selection: Selection, label: str, work: Callable[[Any], Any],
               keep: dict[str, Any] | None = None) -> None:
    """Start ``work(progress)`` as this session's background job in the short lane (progress, ETA and
    Cancel where :func:`stored_result` is called; it survives page switches and reloads of the page), in
    place of its earlier one under ``key`` (cancelled). Once done, :func:`stored_result` keeps
    ``(selection, result)`` under ``key`` and each ``keep`` entry (session key → value, e.g. the result's
    command line) beside it. A failure shows as the job's one line and its full text."""
    earlier = st.session_state.get(PAGE_JOB.format(key))
    if earlier:
        MANAGER.cancel(earlier[1][0])
    session = st.session_state.setdefault("session_token", uuid.uuid4().hex)
    job = MANAGER.submit(f"page/{key}/{session}/{uuid.uuid4().hex[:8]}",
                         f"{label.rstrip(' …').capitalize()} · {selection.dataset} ({selection.preset})", work,
                         lane=SHORT)
    st.session_state[PAGE_JOB.format(key)] = selection, (job.key, dict(keep or {}))


def stored_result(key: str, selection: Selection) -> Any:
    """The result kept under ``key`` (by :func:`run_stored`, or a request), if it was made for this
    selection; while :func:`run_stored`'s job for it runs, its progress and Cancel are drawn here."""
    _collect(key, selection)
    stored = st.session_state.get(key)
    return stored[1] if stored and stored[0] == selection else None


def running(key: str, selection: Selection) -> bool:
    """Whether :func:`run_stored`'s job for ``key`` (this selection's) is still queued or running."""
    pending = st.session_state.get(PAGE_JOB.format(key))
    job = MANAGER.get(pending[1][0]) if pending and pending[0] == selection else None
    return job is not None and job.active


def _collect(key: str, selection: Selection) -> None:
    """:func:`run_stored`'s job for ``key``: its progress while it runs; once done, its result (and what it
    keeps) moved into the session and the job's copy dropped (results can be large); a failure or a
    cancel said once."""
    pending = st.session_state.get(PAGE_JOB.format(key))
    if not pending or pending[0] != selection:
        return
    job_key, keep = pending[1]
    job = MANAGER.get(job_key)
    if job is not None and job.active:
        show_job(job_key)
        return
    del st.session_state[PAGE_JOB.format(key)]
    if job is None:
        return
    if job.status == DONE:
        st.session_state[key] = selection, job.result
        for name, value in keep.items():
            st.session_state[name] = selection, value
        job.result = None
    else:
        show_job(job_key)


def requested_job(name: str, selection: Selection, what: str, estimate: Callable[[Any], Estimate],
                  submit: Callable[[Any], Job], show: Callable[[Any], None]) -> None:
    """The second half of a form that starts long work: the request kept under ``{name}_request`` (this
    selection's) gets its estimate and, above the confirmation threshold, a *Start …* button; then the
    job runs in the background (``{name}_job``) with its progress and Cancel, and ``show`` draws its
    result once done. ``what(request)`` names the work."""
    request = stored_result(f"{name}_request", selection)
    if request is not None:
        cost = estimate(request)
        if not cost.needs_confirmation or start_button(f"Start the {what(request)}", cost, type="primary",
                                                       key=f"start-{name}-{request}"):
            if not cost.needs_confirmation and cost.seconds:
                st.caption(f"{what(request).capitalize()}, estimated time: {cost.text}.")
            try:
                st.session_state[f"{name}_job"] = selection, submit(request).key
            except XAIError as err:
                st.error(str(err))
            del st.session_state[f"{name}_request"]
    key = stored_result(f"{name}_job", selection)
    if key is not None:
        show_job(key)
        job = MANAGER.get(key)
        if job is not None and job.status == "done":
            show(job.result)


def start_button(label: str, estimate: Estimate, key: str, where: Any = None, **button: Any) -> bool:
    """A button that starts long work, drawn in ``where`` (default: the page), with the work's
    time estimate beneath; above the confirmation threshold (2 minutes) it stays off until the
    user ticks the confirmation. True on the click that starts it."""
    confirmed = True
    if estimate.seconds:
        st.caption(f"{label.removesuffix(' now')}, estimated time: {estimate.text}.")
    if estimate.needs_confirmation:
        confirmed = st.checkbox(f"Start it anyway: about {duration(estimate.seconds)} in the background "
                                "(you can cancel it)", key=f"confirm-{key}")
    return (where or st).button(label, key=key, disabled=not confirmed, **button)


def cancel_button(job: Job) -> None:
    """A Cancel button for an active job: the job stops at its next progress report (for everyone
    who started it: jobs are shared); the store holds nothing half-written."""
    if job.active and not job.cancel_requested:
        if st.button("Cancel", key=f"cancel-{job.key}",
                     help="stops the job at its next progress report, for everyone waiting on it; a fit keeps "
                          "its last finished epoch and resumes from there when started again"):
            MANAGER.cancel(job.key)


def show_job(key: str) -> None:
    """A background job's live progress with a Cancel button (refreshed every second while it
    runs; the page reruns once it finishes), its error, or that it was cancelled."""
    job = MANAGER.get(key)
    if job is None:
        return
    if job.error:
        show_error(f"{job.title} failed: {job.error}", job.details)
    elif job.status == CANCELLED:
        note = resume_note(job)
        st.info(f"{job.title} was cancelled." + (f" {note[0].upper()}{note[1:]}" if key.startswith("fit/") else ""))
    elif job.active:
        st.fragment(lambda: _job_line(key), run_every=1.0)()


def left_text(seconds: float | None) -> str:
    """A running job's time left in words: "about 3 min left"; once its own estimate has run out, that it is
    past it (not "about 1 s left" for minutes); "" when unknown."""
    if seconds is None:
        return ""
    return "past its estimate, still running" if seconds < 1 else f"about {duration(seconds)} left"


def _job_line(key: str) -> None:
    job = MANAGER.get(key)
    if not job.active:
        st.rerun(scope="app")
    left = left_text(job.eta_seconds)
    left = f" · {left}" if left else ""
    st.progress(job.fraction, text=f"{job.title}: {job.message}{left} (also on the Train page)")
    cancel_button(job)


def queue_rows(jobs: list[Job]) -> list[dict[str, str]]:
    """One row per job of :meth:`~xai_core.jobs.JobManager.queue`: title, lane, status, progress, its
    estimate, the time left (running: its own rate) and its place in its lane's line."""
    def row(job: Job) -> dict[str, str]:
        left = job.eta_seconds
        place = "running" if job.status == RUNNING else "waiting" if job.ahead is None else f"{job.ahead} ahead"
        return {"job": job.title, "lane": job.lane, "status": job.status, "progress": f"{job.fraction:.0%}",
                "estimate": "–" if not job.estimate_s else f"about {duration(job.estimate_s)}",
                "left": left_text(left).removesuffix(" left") or "–", "place": place}

    return [row(job) for job in jobs]


def queue_panel() -> None:
    """The running and waiting background jobs of this server, lane by lane, as a table (nothing when
    there are none). Pages call it where the queue matters (the Train page; the sidebar may too)."""
    rows = queue_rows(MANAGER.queue())
    if not rows:
        st.caption("No background job is running or waiting.")
        return
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"Lanes: {', '.join(MANAGER.lanes)} (each runs its own jobs one after another, or as many at once as "
               "XAI_LONG_JOB_SLOTS / XAI_SHORT_JOB_SLOTS allow); “N ahead” counts the jobs of its lane running or "
               "queued before it.")


def estimate_note(job: Job) -> str | None:
    """How a finished job's estimate fared, e.g. "estimated 3 min, took 69 min (23× the estimate)"; a
    cancelled job's full-run time from its rate; None without an estimate or a measured time."""
    measured = job.measured_s
    if not job.estimate_s or measured is None or job.status not in (DONE, CANCELLED):
        return None
    took = "took" if job.status == DONE else f"at its rate ({job.fraction:.0%} done) would have taken"
    ratio = measured / job.estimate_s
    times = f"{ratio:.2g}" if ratio >= 0.01 else "under 0.01"
    return f"estimated {duration(job.estimate_s)}, {took} {duration(measured)} ({times}× the estimate)"
