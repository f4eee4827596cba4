"""Background jobs: progress, de-duplication by key, failures reported, ETA."""
from __future__ import annotations

import threading

from xai_core.errors import XAIError
from xai_core.jobs import DONE, FAILED, JobManager


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


def test_jobs_of_two_stores_never_share_a_key(tmp_path):
    from xai_core.services import job_key
    from xai_core.store import ArtifactStore

    a, b = ArtifactStore(tmp_path / "a"), ArtifactStore(tmp_path / "b")
    assert job_key(a, "fit", "hard_mnist", "quick", 0, "diet") == job_key(a, "fit", "hard_mnist", "quick", 0, "diet")
    assert job_key(a, "fit", "hard_mnist", "quick", 0, "diet") != job_key(b, "fit", "hard_mnist", "quick", 0, "diet")
