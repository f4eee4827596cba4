"""``torchrun -m xai_core train``: every trained method fits on 2 CPU processes (gloo, data parallel),
rank 0 writes one store entry a single process then uses, and a rank that dies leaves none."""
from __future__ import annotations

import pytest
import torch

from tests.torchrun import errors, torchrun
from xai_core import services
from xai_core.methods import METHODS, trained
from xai_core.store import ArtifactStore

TRAINED = [name for name in METHODS.names() if METHODS.get(name).caps.trained]


def _train(method: str) -> list[str]:
    return ["train", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", method]


@pytest.mark.parametrize("method", TRAINED)
def test_a_fit_on_two_processes_is_used_by_one(method, tmp_path, monkeypatch):
    proc = torchrun(_train(method), cache=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{method}: ready (trained on 2 processes)" in proc.stdout
    store = ArtifactStore(tmp_path)
    ctx = services.load_context("hard_mnist", "smoke", device="cpu", store=store, train_if_missing=False)
    monkeypatch.setattr(trained, "fit", lambda *a, **k: pytest.fail("the entry should have been loaded"))
    explainer = services.build_explainer(ctx, method)
    payload = store.load(method, explainer.cache_spec())
    assert payload is not None and len(payload["history"]) >= 1
    assert all(torch.isfinite(torch.tensor(float(v))) for h in payload["history"] for k, v in h.items()
               if k not in ("stage", "epoch"))
    batch = ctx.test.batch([0, 1])
    scores = explainer.explain(batch.x, batch.y, batch.masks).scores
    assert scores.shape == (2, 32, 32) and torch.isfinite(scores).all()
    if method == "diet":  # both ranks' per-image masks were merged: no training image kept its initial mask
        unrounded = payload["state"]["unrounded"]
        assert (unrounded.flatten(1) != 1).any(1).all()


def test_a_rank_that_dies_leaves_no_entry(tmp_path):
    proc = torchrun(_train("diet"), cache=tmp_path, fault="fit")
    assert proc.returncode != 0
    assert "error: rank 1 stopped: RuntimeError: injected failure" in errors(proc), proc.stderr[-3000:]
    ctx = services.load_context("hard_mnist", "smoke", device="cpu", store=ArtifactStore(tmp_path),
                                train_if_missing=False)  # the black box was trained and saved before the fit
    assert not services.build_explainer(ctx, "diet", prepare=False).is_ready(ctx.store)
    assert not list((tmp_path / "diet").glob("*.pt")) and not list((tmp_path / "diet").glob("*.json"))
