"""The trained-method base and its trainer: seeding, stages, convergence, progress with an
estimate, one checkpoint per epoch, and a killed training that resumes bit for bit."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core.errors import XAIError
from xai_core.methods.base import Explanation
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
        return [Stage("warm-up", 3, trains=("probe",)), Stage("main", 4, trains=("probe",), converged=1e-9)]

    def train_epoch(self, stage: Stage, run: Run) -> dict[str, float]:
        total = 0.0
        for idx in run.batches(16):
            x = run.images(idx) + 0.01 * torch.randn(len(idx), 3, 16, 16, generator=run.generator)
            with torch.no_grad():
                target = run.parts["f_b"](x).argmax(1)
            loss = nn.functional.cross_entropy(run.parts["probe"](x.mean((2, 3))), target)
            run.optimisers["probe"].zero_grad()
            loss.backward()
            run.optimisers["probe"].step()
            run.state["seen"][idx] += 1
            total += float(loss.detach()) * len(idx)
        return {"loss": total / run.n}

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


def test_fit_is_seeded_and_reports_progress_with_an_estimate(tmp_path):
    steps = []
    store = ArtifactStore(tmp_path / "a")
    first = fit(Probe(PatchNet().eval(), INFO), patch_data(48), store, lambda d, t, m="", **kw: steps.append((d, t, m, kw)))
    assert [s[2] for s in steps[:3]] == ["warm-up, epoch 1", "warm-up, epoch 2", "warm-up, epoch 3"]
    assert all("loss" in kw and kw["eta_s"] >= 0 for *_, kw in steps[:-1]) and steps[-1][:3] == (7, 7, "done")
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
    resumed = fit(Probe(PatchNet().eval(), INFO), patch_data(48), store, lambda d, t, m="", **kw: steps.append(d))
    assert steps[0] == kill_at + 1  # continued, not restarted
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
