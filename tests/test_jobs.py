"""Background jobs: progress, de-duplication by key, failures reported in one line, ETA, cancelling,
lanes and "N ahead", and the queue panel's rows."""
from __future__ import annotations

import threading
import time

import pytest

from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, DETAIL_CHARS, DONE, ERROR_CHARS, FAILED, QUEUED, RUNNING, Job, JobManager
from xai_core.workslots import Slots

from polling import until


def test_job_runs_reports_progress_and_returns_result():
    jobs = JobManager()

    def work(progress):
        for i in range(1, 4):
            progress(i, 3, f"step {i}", loss=1.0 / i)
        return "trained"

    job = jobs.wait(jobs.submit("k", "train", work).key, timeout=120)
    assert job.status == DONE and job.result == "trained"
    assert job.fraction == 1.0 and job.message == "step 3"
    assert [h["loss"] for h in job.history] == [1.0, 0.5, 1.0 / 3]


def test_same_key_gives_one_job():
    jobs, gate, calls = JobManager(), threading.Event(), []

    def work(progress):
        calls.append(1)
        gate.wait(10)
        return len(calls)

    first = jobs.submit("same", "a", work)
    second = jobs.submit("same", "b", work)
    assert first is second
    gate.set()
    assert jobs.wait("same", timeout=120).result == 1 and len(calls) == 1
    third = jobs.submit("same", "again", work)  # a finished job can be started anew
    assert third is not first
    jobs.wait("same", timeout=120)
    assert len(calls) == 2


def test_failures_are_reported_not_raised():
    jobs = JobManager()

    def bad(progress):
        raise XAIError("no data for that")

    def buggy(progress):
        raise ValueError("oops")

    assert jobs.wait(jobs.submit("a", "a", bad).key, 10).error == "no data for that"
    job = jobs.wait(jobs.submit("b", "b", buggy).key, 10)
    assert job.status == FAILED and job.error.startswith("ValueError: oops")


def test_eta_extrapolates_while_running():
    jobs, gate = JobManager(), threading.Event()

    def work(progress):
        progress(1, 4)
        gate.wait(10)

    job = jobs.submit("eta", "eta", work)
    while job.done < 1:
        pass
    assert job.eta_seconds is not None and job.eta_seconds >= 0
    gate.set()
    jobs.wait("eta", 10)
    assert job.eta_seconds is None



def test_jobs_beyond_the_slots_stay_queued_with_their_place_in_line():
    jobs, gate = JobManager(Slots(1)), threading.Event()

    def slow(progress):
        progress(1, 2, "working")
        gate.wait(10)
        return "first"

    first = jobs.submit("one", "one", slow)
    until(lambda: first.status == RUNNING)
    second = jobs.submit("two", "two", lambda progress: "second")
    third = jobs.submit("three", "three", lambda progress: "third")
    until(lambda: "2 ahead" in third.message)
    assert second.status == QUEUED and third.status == QUEUED
    # the running job is ahead too (issue 29: a job behind an hour-long one said "0 ahead" all that hour)
    assert second.message == "Waiting for a free long-job worker (1 ahead: 1 running, 0 queued before it) …"
    assert (second.ahead, third.ahead) == (1, 2) and second.started is None
    assert second.active and second.eta_seconds is None
    gate.set()
    assert [jobs.wait(k, 10).result for k in ("one", "two", "three")] == ["first", "second", "third"]
    assert second.started >= first.finished and third.started >= second.finished  # one at a time, in order


def test_a_bug_is_logged_with_its_traceback_and_shown_as_one_line(caplog):
    jobs = JobManager(Slots(1))

    def buggy(progress):
        raise ValueError("cannot read /srv/secret/cache/model.pt\nsecond line")

    with caplog.at_level("ERROR", logger="xai_core.jobs"):
        job = jobs.wait(jobs.submit("bug", "bug", buggy).key, 10)
    assert job.status == FAILED
    assert job.error == "ValueError: cannot read model.pt (details in the server log)"
    record = next(r for r in caplog.records if r.name == "xai_core.jobs")
    assert record.exc_info and "/srv/secret/cache/model.pt" in caplog.text and "Traceback" in caplog.text


def test_a_huge_error_is_one_short_line_its_full_text_kept_for_an_expander_and_logged(caplog):
    jobs = JobManager(Slots(1))
    dump = "tensor([[" + ", ".join(["0.1234"] * 6000) + "]])"  # the 42 KB the Train page used to show

    def user_error(progress):
        raise XAIError(f"shapes differ: {dump}")

    def bug(progress):
        raise RuntimeError(f"size mismatch in /srv/secret/model.py: {dump}\n{dump}")

    with caplog.at_level("WARNING", logger="xai_core.jobs"):
        mine = jobs.wait(jobs.submit("user", "user", user_error).key, 10)
        ours = jobs.wait(jobs.submit("bug", "bug", bug).key, 10)
    for job in (mine, ours):
        assert job.status == FAILED and len(job.error) <= ERROR_CHARS and "\n" not in job.error
        assert len(job.details) < DETAIL_CHARS + 100 and "more characters in the server log" in job.details
    assert mine.error.startswith("shapes differ: tensor([[0.1234, ") and mine.error.endswith("…")
    assert mine.details.startswith(f"shapes differ: {dump[:5000]}")
    assert ours.error.startswith("RuntimeError: size mismatch in model.py: tensor([[0.1234")
    assert ours.error.endswith("… (details in the server log)")
    assert ours.details.startswith("RuntimeError: size mismatch in model.py:") and "/srv/secret" not in ours.details
    assert caplog.text.count("Traceback") == 2 and dump in caplog.text  # the server log keeps all of it


def test_cancel_stops_a_running_job_at_its_next_report_as_cancelled_not_failed():
    jobs, reports = JobManager(Slots(1)), []

    def work(progress):
        for i in range(100_000):
            progress(i, 100_000, "working")
            reports.append(i)
            time.sleep(0.002)
        return "finished"

    job = jobs.submit("c", "c", work)
    until(lambda: len(reports) > 3)
    assert jobs.cancel("c") and job.cancel_requested
    jobs.wait("c", 10)
    assert job.status == CANCELLED and not job.active and job.error is None and job.result is None
    assert job.message == "cancelled" and len(reports) < 100_000 and job.eta_seconds is None
    assert not jobs.cancel("c")  # nothing active under that key any more
    assert jobs.wait(jobs.submit("c", "again", lambda progress: "ok").key, 10).result == "ok"  # a new job may start


def test_a_queued_job_can_be_cancelled_before_it_starts():
    jobs, gate, ran = JobManager(Slots(1)), threading.Event(), []
    first = jobs.submit("one", "one", lambda progress: gate.wait(10))
    until(lambda: first.status == RUNNING)
    second = jobs.submit("two", "two", lambda progress: ran.append(1))
    until(lambda: "ahead" in second.message)
    assert jobs.cancel("two")
    until(lambda: second.status == CANCELLED)  # leaves the queue at its next heartbeat
    gate.set()
    assert jobs.wait("one", 10).status == DONE
    assert not ran and second.started is None


def test_the_work_s_own_eta_counts_down_between_reports_and_unknown_is_not_extrapolated():
    job = Job("k", "t", status=RUNNING, started=time.time() - 50)
    job.report(1, 10, "starting", eta_s=None)  # the work says: not known yet
    assert job.eta_seconds is None  # not 50 s × 9 extrapolated from nothing
    job.report(2, 10, "batch 3", eta_s=100.0)
    job.eta_at -= 30  # 30 s after that report
    assert 69 <= job.eta_seconds <= 70.5
    job.eta_at -= 200
    assert job.eta_seconds == 0.0
    assert job.history == []  # an ETA is no curve


def test_a_fit_cancelled_inside_its_first_epoch_says_it_starts_over():
    from pages.ui.job_ui import RESUMES, resume_note

    job = Job("fit/x", "Fitting x")
    job.report(0.5, 3, "epoch 1, batch 4")  # a batch report: no losses, no finished epoch
    assert resume_note(job) == "no epoch had finished, so training again starts from the beginning."
    job.report(1, 3, "epoch 1", loss=0.7)  # the epoch's report carries its losses
    assert resume_note(job) == RESUMES


# -- lanes ------------------------------------------------------------------------------------------
def test_a_short_job_does_not_wait_behind_a_long_one_and_counts_only_its_own_lane():
    """The issue's case with a fake slow job: one long job runs; a second long job is 1 ahead; a short job
    starts at once in its own lane, and while another short job waits behind it, the long line stays as it was."""
    jobs, gate, short_gate = JobManager({"long": Slots(1), "short": Slots(1)}), threading.Event(), threading.Event()
    slow = jobs.submit("fit", "slow fit", lambda progress: gate.wait(60))
    until(lambda: slow.status == RUNNING)
    waiting = jobs.submit("claim", "run this claim", lambda progress: "ran")
    evaluation = jobs.submit("eval", "evaluate", lambda progress: short_gate.wait(60), lane="short")
    until(lambda: evaluation.status == RUNNING)  # not behind the long fit
    second_short = jobs.submit("eval2", "evaluate again", lambda progress: "ok", lane="short")
    until(lambda: second_short.ahead == 1 and waiting.ahead == 1)
    assert "long-job worker (1 ahead: 1 running" in waiting.message
    assert "short-job worker (1 ahead: 1 running" in second_short.message
    assert [j.key for j in jobs.queue()] == ["fit", "claim", "eval", "eval2"]  # lane by lane, running first
    short_gate.set()
    assert jobs.wait("eval2", 60).status == DONE and waiting.status == QUEUED  # the long line did not move
    gate.set()
    assert jobs.wait("claim", 60).result == "ran" and waiting.ahead is None
    with pytest.raises(ValueError, match="no job lane 'middle'"):
        jobs.submit("x", "x", lambda progress: None, lane="middle")
