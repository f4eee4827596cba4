"""The trained-method base and its trainer: seeding, stages, convergence, progress per batch with
an estimate from the work left, one checkpoint per epoch, and a killed (or cancelled) training that
resumes bit for bit."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core.errors import XAIError
from xai_core.methods.base import Explanation
from xai_core.methods import trained as trainer
from xai_core.methods.trained import CHECKPOINT, Run, Stage, TrainedExplainer, fit
from xai_core.store import ArtifactStore

from .test_diet import INFO, PatchNet, patch_data


class Probe(TrainedExplainer):
    """A linear probe on the black box's logits, trained with noisy SGD in two stages; its map is
    the probe's weight on each pixel (enough to exercise every part of the trainer)."""

    name = "probe"
    frozen = ("f_b",)
    explains = "probe"

    def components(self):
        torch.manual_seed(0)  # the trainer seeds too; components are built after it
        return {"probe": nn.Linear(3, 3)}

    def optimisers(self, parts):
        return {"probe": torch.optim.Adam(parts["probe"].parameters(), lr=0.05)}

    def initial_state(self, n):
        return {"seen": torch.zeros(n)}

    def stages(self):
        probe = {"trains": ("probe",), "batch_size": 16, "optimises": {"probe": "loss"}}
        return [Stage("warm-up", 3, **probe), Stage("main", 4, converged=1e-9, **probe)]

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        x = run.images(idx) + 0.01 * torch.randn(len(idx), 3, 16, 16, generator=run.generator)
        with torch.no_grad():
            target = run.parts["f_b"](x).argmax(1)
        run.state["seen"][idx] += 1
        return {"loss": nn.functional.cross_entropy(run.parts["probe"](x.mean((2, 3))), target)}

    def _explain(self, x, target, masks, progress):
        w = self.trained("probe").weight[target]  # B×C
        return Explanation((x * w[:, :, None, None]).sum(1).abs())


class Killed(Exception):
    pass


def kill_after(steps: int):
    def progress(done, total, message="", **metrics):
        if done >= steps and message != "done":
            raise Killed

    return progress


def payload_of(tmp_path, name="s", **kw):
    store = ArtifactStore(tmp_path / name)
    return store, fit(Probe(PatchNet().eval(), INFO, **kw), patch_data(48), store)


def same(a, b) -> bool:
    return all(torch.equal(a["components"]["probe"][k], b["components"]["probe"][k]) for k in a["components"]["probe"]) \
        and torch.equal(a["state"]["seen"], b["state"]["seen"]) and a["history"] == b["history"]


def epochs_of(steps: list) -> list:
    """The per-epoch reports (they carry the losses) among all progress reports."""
    return [s for s in steps if "loss" in s[3]]


def test_fit_is_seeded_and_reports_progress_with_an_estimate(tmp_path):
    steps = []
    store = ArtifactStore(tmp_path / "a")
    first = fit(Probe(PatchNet().eval(), INFO), patch_data(48), store, lambda d, t, m="", **kw: steps.append((d, t, m, kw)))
    assert steps[0][:3] == (0, 7, "warm-up, epoch 1/3: starting …")  # at once, before the first batch
    assert [s[2] for s in epochs_of(steps)[:3]] == ["warm-up, epoch 1/3", "warm-up, epoch 2/3", "warm-up, epoch 3/3"]
    assert all("eta_s" in kw for *_, kw in steps[:-1]) and steps[-1][:3] == (7, 7, "done")
    assert all(kw["eta_s"] >= 0 for *_, kw in epochs_of(steps))
    assert first["state"]["seen"].eq(len(first["history"])).all()  # every image once per epoch
    assert same(first, payload_of(tmp_path, "b")[1])  # seeded: the same run twice
    assert not same(first, payload_of(tmp_path, "c", seed=1)[1])
    assert not list((tmp_path / "a").glob(f"{CHECKPOINT}/*.pt"))  # the finished run leaves no checkpoint


@pytest.mark.parametrize("kill_at", [2, 3, 5])  # inside the first stage, at its end, inside the second
def test_a_killed_training_resumes_from_its_last_epoch_bit_for_bit(tmp_path, kill_at):
    _, whole = payload_of(tmp_path, "whole")
    store = ArtifactStore(tmp_path / "killed")
    with pytest.raises(Killed):
        fit(Probe(PatchNet().eval(), INFO), patch_data(48), store, kill_after(kill_at))
    assert list((tmp_path / "killed").glob(f"{CHECKPOINT}/*.pt"))
    steps = []
    resumed = fit(Probe(PatchNet().eval(), INFO), patch_data(48), store,
                  lambda d, t, m="", **kw: steps.append((d, t, m, kw)))
    assert steps[0][0] == kill_at and epochs_of(steps)[0][0] == kill_at + 1  # continued, not restarted
    assert same(resumed, whole)


def test_an_unusable_checkpoint_means_starting_over(tmp_path):
    _, whole = payload_of(tmp_path, "whole")
    store = ArtifactStore(tmp_path / "bad")
    method = Probe(PatchNet().eval(), INFO)
    store.save(CHECKPOINT, {"method": "probe", **method.cache_spec()}, {"position": [0, 1, None, 1], "components": {}})
    assert same(fit(method, patch_data(48), store), whole)


def test_prepare_trains_once_and_explaining_needs_it(tmp_path):
    store = ArtifactStore(tmp_path)
    probe = Probe(PatchNet().eval(), INFO)
    x, y = patch_data(4).batch([0, 1, 2, 3]).x, torch.tensor([0, 1, 2, 0])
    with pytest.raises(XAIError, match="not trained yet"):
        probe.explain(x, y)
    assert not probe.is_ready(store)
    probe.prepare(patch_data(48), store)
    assert probe.is_ready(store) and probe.explain(x, y).model is probe.parts["probe"]
    assert not probe.parts["probe"].training and not any(p.requires_grad for p in probe.parts["probe"].parameters())
    again = Probe(PatchNet().eval(), INFO)
    again.prepare(patch_data(48), store, kill_after(0))  # loaded from the store: no training, no progress
    assert torch.equal(again.explain(x, y).scores, probe.explain(x, y).scores)
    entry = store.path("probe", probe.cache_spec())
    assert set(torch.load(entry, weights_only=True)["components"]) == {"probe"}  # frozen black-box views not saved


def test_a_killed_diet_training_resumes_to_the_same_model(tmp_path):
    from xai_core.methods.diet import DiET

    def trained(store, progress=None):
        diet = DiET(PatchNet().eval(), INFO, preset="smoke")
        return fit(diet, patch_data(64), store, *(progress,) if progress else ())

    whole = trained(ArtifactStore(tmp_path / "whole"))
    store = ArtifactStore(tmp_path / "killed")
    with pytest.raises(Killed):
        trained(store, kill_after(4))
    resumed = trained(store)
    assert all(torch.equal(whole["components"]["f_v"][k], resumed["components"]["f_v"][k]) for k in whole["components"]["f_v"])
    assert torch.equal(whole["state"]["masks"], resumed["state"]["masks"])


class Clock:
    """The trainer's clock in tests: it moves only when a batch "takes" its second."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Timed(Probe):
    """Three stages (the second converges after two of its four epochs: a constant loss); every
    batch of 16 takes one second on :class:`Clock`; no learning (the schedule is what is tested)."""

    clock = Clock()

    def stages(self):
        return [Stage("warm-up", 3, batch_size=16), Stage("main", 4, converged=1e-9, batch_size=16),
                Stage("tail", 2, batch_size=16)]

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        self.clock.t += 1.0
        return {"loss": torch.tensor(1.0)}


def test_progress_comes_per_batch_with_an_eta_from_the_work_left_that_a_converged_stage_lowers(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "TICK_S", 0.0)  # every batch reports (default: at most 4 per second)
    monkeypatch.setattr(trainer, "_clock", Timed.clock)
    steps = []
    fit(Timed(PatchNet().eval(), INFO), patch_data(48), ArtifactStore(tmp_path),
        lambda d, t, m="", **kw: steps.append((d, t, m, kw)))
    # 48 images = 3 batches of 16 per epoch, 1 s each; 3 + 4 + 2 = 9 epochs at most = 27 batches
    assert steps[0] == (0, 9, "warm-up, epoch 1/3: starting …", {"eta_s": None})
    assert steps[1] == (1 / 3, 9, "warm-up, epoch 1/3, batch 1/3", {"eta_s": 26.0})  # 26 batches left, 1 s each
    assert steps[2] == (2 / 3, 9, "warm-up, epoch 1/3, batch 2/3", {"eta_s": 25.0})
    assert steps[3] == (1, 9, "warm-up, epoch 1/3", {"loss": 1.0, "eta_s": 24.0})  # the loss curve, per epoch
    assert [(d, m, kw["eta_s"]) for d, _, m, kw in epochs_of(steps)] == [
        (1, "warm-up, epoch 1/3", 24.0), (2, "warm-up, epoch 2/3", 21.0), (3, "warm-up, epoch 3/3", 18.0),
        (4, "main, epoch 1/4", 15.0),
        (7, "main, epoch 2/4", 6.0),  # converged: its last two epochs are skipped, the ETA drops by their 6 s
        (8, "tail, epoch 1/2", 3.0), (9, "tail, epoch 2/2", 0.0)]
    assert steps[-1] == (9, 9, "done", {})
    assert all(0 <= d <= t for d, t, *_ in steps) and [s[0] for s in steps] == sorted(s[0] for s in steps)


def test_a_training_cancelled_inside_an_epoch_resumes_from_the_last_finished_epoch_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "TICK_S", 0.0)
    _, whole = payload_of(tmp_path, "whole")
    store = ArtifactStore(tmp_path / "cancelled")

    def cancel_in_main_epoch_2(done, total, message="", **metrics):
        if message == "main, epoch 2/4, batch 2/3":  # a cancelled job's progress raises here
            raise Killed

    with pytest.raises(Killed):
        fit(Probe(PatchNet().eval(), INFO), patch_data(48), store, cancel_in_main_epoch_2)
    steps = []
    resumed = fit(Probe(PatchNet().eval(), INFO), patch_data(48), store,
                  lambda d, t, m="", **kw: steps.append((d, t, m, kw)))
    assert steps[0][:3] == (4, 7, "main, epoch 2/4: starting …")  # the half epoch is done again
    assert epochs_of(steps)[0][:3] == (5, 7, "main, epoch 2/4")
    assert same(resumed, whole)


def test_batches_of_a_streamed_folder_are_decoded_ahead_in_workers(tmp_path, monkeypatch):
    """A training pass over an image folder gets each batch from DataLoader workers (decoded ahead),
    with the same pixels as decoding it here."""
    import numpy as np
    from PIL import Image

    from xai_core.data import get_dataset
    from xai_core.methods.trained import Run
    from xai_core.store import ArtifactStore

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(5):
            (tmp_path / "imgs" / "train" / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "train" / cls / f"{i}.png")
    data = get_dataset(f"imagefolder:{tmp_path / 'imgs'}", "train", "smoke", store=ArtifactStore(tmp_path / "store"))
    data.workers = 2
    expected = data.batch(list(range(len(data))))
    monkeypatch.setattr(data, "batch", lambda *_: pytest.fail("decoded here, not ahead in the workers"))
    run = Run({}, {}, {}, data, len(data), torch.Generator().manual_seed(0), torch.device("cpu"))
    seen = []
    for idx in run.batches(4):
        x, y = run.batch(idx)
        assert torch.equal(x, expected.x[idx]) and torch.equal(y, expected.y[idx])
        assert torch.equal(run.images(idx), expected.x[idx])
        seen += idx.tolist()
    assert sorted(seen) == list(range(10)) and run.seen == 10
