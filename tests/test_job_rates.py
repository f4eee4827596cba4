"""This machine's record of job times (xai_core.job_rates.RateBook): what a finished, failed or cancelled job
teaches, the correction (the median of the last records), and corrupt or malformed entries."""
from __future__ import annotations

import json
import threading
import time

import pytest

from xai_core.job_rates import KEEP, RATES_KIND, RateBook
from xai_core.errors import XAIError
from xai_core.jobs import CANCELLED, DONE, FAILED, RUNNING, Job, JobManager
from xai_core.store import ArtifactStore
from xai_core.workslots import Slots


class FakeClock:
    """Seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Est:
    """An estimate as the services give one: told seconds, the cold seconds before correction, the kind."""

    def __init__(self, seconds: float, cold: float, kind: str) -> None:
        self.seconds, self.cold, self.kind = seconds, cold, kind


def _manager(tmp_path) -> tuple[JobManager, FakeClock]:
    clock = FakeClock()
    return JobManager(Slots(1), rates=RateBook(tmp_path), clock=clock), clock


def test_a_finished_job_records_its_running_time_against_its_cold_estimate(tmp_path):
    jobs, clock = _manager(tmp_path)

    def work(progress):
        clock.now += 300  # the work took 300 s of running time
        progress(1, 1, "done")

    job = jobs.wait(jobs.submit("a", "fit a", work, estimate=Est(60, 30, "fit:diet")).key, 60)
    assert (job.kind, job.estimate_s, job.base_s, job.run_seconds, job.measured_s) == ("fit:diet", 60, 30, 300, 300)
    [record] = jobs.rates.records("fit:diet")
    assert record["estimated"] == 30 and record["told"] == 60 and record["measured"] == 300 and record["ended"] == DONE
    assert jobs.rates.correction("fit:diet") == (10.0, 1)  # measured / the cold estimate, not / the told one
    assert jobs.rates.records("fit:dorar") == [] and jobs.rates.correction("fit:dorar") is None


def test_failed_jobs_and_jobs_without_kind_or_estimate_teach_nothing(tmp_path):
    jobs, clock = _manager(tmp_path)

    def fails(progress):
        clock.now += 50
        raise XAIError("no")

    def works(progress):
        clock.now += 50

    jobs.wait(jobs.submit("f", "f", fails, estimate=30.0, kind="fit:diet").key, 60)
    jobs.wait(jobs.submit("n", "n", works, kind="fit:diet").key, 60)  # no estimate
    jobs.wait(jobs.submit("z", "z", works, estimate=0.0, kind="fit:diet").key, 60)  # "fitted already"
    jobs.wait(jobs.submit("k", "k", works, estimate=30.0).key, 60)  # no kind
    jobs.wait(jobs.submit("c", "c", lambda progress: None, estimate=30.0, kind="fit:diet").key, 60)  # 0 s: cached
    assert jobs.rates.records("fit:diet") == []
    jobs.wait(jobs.submit("ok", "ok", works, estimate=25.0, kind="fit:diet").key, 60)  # a float: told = cold
    assert jobs.rates.correction("fit:diet") == (2.0, 1)


@pytest.mark.parametrize("done, recorded", [(1, 400.0), (0.3, None)])
def test_a_cancelled_job_records_its_rate_past_a_tenth_done(tmp_path, done, recorded):
    jobs, clock = _manager(tmp_path)
    started, stop = threading.Event(), threading.Event()

    def work(progress):
        progress(done, 4, "working")  # a quarter done (or under a tenth)
        clock.now += 100
        started.set()
        while not stop.wait(0.01):
            progress(done, 4, "working")  # raises once cancelled, before changing the fraction

    job = jobs.submit("c", "c", work, estimate=Est(50, 50, "model:manipulated"))
    started.wait(60)
    jobs.cancel("c")
    jobs.wait("c", 60)
    stop.set()
    assert job.status == CANCELLED and job.measured_s == recorded
    records = jobs.rates.records("model:manipulated")
    if recorded is None:
        assert records == []
    else:
        assert [(r["measured"], r["ended"], r["fraction"]) for r in records] == [(400.0, CANCELLED, 0.25)]


def _job(kind: str, estimated: float, measured: float, status: str = DONE) -> Job:
    return Job(kind, kind, status=status, started=0.0, finished=measured, done=1, total=1, kind=kind,
               estimate_s=estimated, base_s=estimated)


def test_the_correction_is_the_median_of_the_last_records(tmp_path):
    book = RateBook(tmp_path)
    for measured in (20, 40, 100):  # ratios 2, 4, 10 against 10 s
        book.record(_job("black_box:cnn_light", 10, measured))
    assert book.correction("black_box:cnn_light") == (4.0, 3)
    for _ in range(KEEP):  # the old ones go: only the last KEEP records count
        book.record(_job("black_box:cnn_light", 10, 30))
    assert book.correction("black_box:cnn_light") == (3.0, KEEP)


def test_a_corrupt_record_is_ignored_and_rebuilt_by_the_next_job(tmp_path):
    book = RateBook(tmp_path)
    book.record(_job("fit:comet", 10, 50))
    [payload] = (tmp_path / RATES_KIND).glob("*.pt")
    payload.write_bytes(b"not a torch file")
    assert book.records("fit:comet") == [] and book.correction("fit:comet") is None  # the cold default again
    book.record(_job("fit:comet", 10, 30))
    assert book.correction("fit:comet") == (3.0, 1)
    [record] = (tmp_path / RATES_KIND).glob("*.json")
    assert json.loads(record.read_text())["kind"] == RATES_KIND  # a verified store entry (checksummed)


def test_malformed_records_are_left_out(tmp_path):
    book = RateBook(tmp_path)
    ArtifactStore(tmp_path).save(RATES_KIND, {"job_kind": "evaluate", "format": 1},
                                 {"records": [{"estimated": 10.0, "measured": 20.0},
                                              {"estimated": 0.0, "measured": 5.0},
                                              {"estimated": float("nan"), "measured": 1.0}, "junk"]})
    assert book.correction("evaluate") == (2.0, 1)


def test_the_queue_panel_rows_and_how_an_estimate_fared():
    from pages.ui.job_ui import estimate_note, queue_rows

    running = Job("r", "fit", status=RUNNING, started=time.time() - 1000, done=1, total=4, estimate_s=200, lane="long")
    queued = Job("q", "evaluate", ahead=2, lane="short", estimate_s=None)
    rows = queue_rows([running, queued])
    assert rows[0] == {"job": "fit", "lane": "long", "status": RUNNING, "progress": "25%", "estimate": "about 3 min",
                       "left": "about 50 min", "place": "running"}
    assert rows[1]["place"] == "2 ahead" and rows[1]["estimate"] == "–" and rows[1]["left"] == "–"
    assert estimate_note(_job("k", 180, 4140)) == "estimated 3 min, took 69 min (23× the estimate)"
    cancelled = Job("c", "c", status=CANCELLED, started=0.0, finished=100.0, done=1, total=4, estimate_s=50)
    assert estimate_note(cancelled) == ("estimated 50 s, at its rate (25% done) would have taken 7 min "
                                        "(8× the estimate)")
    assert estimate_note(_job("f", 50, 10, FAILED)) is None and estimate_note(Job("x", "x")) is None
    assert estimate_note(_job("l", 3000, 1)) == "estimated 50 min, took 1 s (under 0.01× the estimate)"


def test_time_left_says_when_a_job_runs_past_its_estimate():
    from pages.ui.job_ui import left_text

    assert left_text(None) == "" and left_text(200) == "about 3 min left"
    assert left_text(0.0) == "past its estimate, still running"  # not "about 1 s left" for minutes
    running = Job("r", "fit", status=RUNNING, started=time.time() - 100, eta_hint=10.0, eta_at=time.time() - 60,
                  eta_given=True)
    assert running.eta_seconds == 0.0 and left_text(running.eta_seconds) == "past its estimate, still running"
