"""Background tasks: job keys, the Train page's black-box rows, method training as a job."""
from __future__ import annotations

from xai_core import services
from xai_core.jobs import MANAGER
from xai_core.store import ArtifactStore


def test_jobs_of_two_stores_never_share_a_key(tmp_path):
    a, b = ArtifactStore(tmp_path / "a"), ArtifactStore(tmp_path / "b")
    key = services.job_key(a, "fit", "hard_mnist", "quick", 0, "diet")
    assert key == services.job_key(a, "fit", "hard_mnist", "quick", 0, "diet")
    assert key != services.job_key(b, "fit", "hard_mnist", "quick", 0, "diet")


def test_black_box_rows_name_every_dataset_and_its_state(tmp_path):
    rows = {r["dataset"]: r for r in services.black_box_rows("smoke", store=ArtifactStore(tmp_path))}
    assert {"hard_mnist", "natural"} <= set(rows)
    assert set(rows["hard_mnist"]) == {"dataset", "architecture", "state", "test accuracy", "training s"}
    assert rows["natural"]["state"] == "pretrained" and rows["hard_mnist"]["architecture"] == "cnn_light"


def test_fit_method_job_trains_once_per_model_and_method():
    ctx = services.load_context("hard_mnist", "smoke")
    key = services.fit_job_key(ctx, "iba")
    assert key.startswith("fit/hard_mnist/smoke/0/cnn_light/iba@")
    job = services.fit_method_job(ctx, "iba")
    assert MANAGER.wait(job.key, timeout=300).status == "done", job.error
    assert job.key == key and job.result["layer"] == ctx.explainer("iba").settings()["layer"]
