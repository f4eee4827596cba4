"""Background jobs: progress, de-duplication by key, failures reported, ETA."""
from __future__ import annotations

import threading

from xai_core.errors import XAIError
from xai_core.jobs import DONE, FAILED, QUEUED, RUNNING, JobManager
from xai_core.workslots import Slots

from polling import until


def test_job_runs_reports_progress_and_returns_result():
    jobs = JobManager()

    def work(progress):
        for i in range(1, 4):
            progress(i, 3, f"step {i}", loss=1.0 / i)
        return "trained"

    job = jobs.wait(jobs.submit("k", "train", work).key, timeout=10)
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
    assert jobs.wait("same", timeout=10).result == 1 and len(calls) == 1
    third = jobs.submit("same", "again", work)  # a finished job can be started anew
    assert third is not first
    jobs.wait("same", timeout=10)
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
    until(lambda: "1 ahead" in third.message)
    assert second.status == QUEUED and third.status == QUEUED
    assert second.message == "Waiting for a free worker (0 ahead) …" and second.started is None
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
