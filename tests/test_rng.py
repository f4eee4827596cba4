"""Random numbers belong to the call (xai_core.rng): a fit's weights do not depend on what other
threads draw, dropout masks are the ones torch's global generator would have drawn alone (so
numbers are unchanged), and a killed fit with dropout resumes bit for bit."""
from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from xai_core import rng
from xai_core.methods.trained import fit
from xai_core.metrics.sanity import randomise_layer
from xai_core.services.estimates import _macs
from xai_core.store import ArtifactStore

from tests.methods.test_diet import INFO, PatchNet, patch_data
from tests.methods.test_trained import Killed, Probe, kill_after


class DropProbe(Probe):
    """The trainer's probe with dropout in its component (drawn every step)."""

    name = "drop_probe"

    def components(self):
        return {"probe": nn.Sequential(nn.Dropout(0.3), nn.Linear(3, 3))}


def _weights(payload):
    return payload["components"]["probe"]


def _fit(tmp_path, name, progress=None):
    kw = {} if progress is None else {"progress": progress}
    return fit(DropProbe(PatchNet().eval(), INFO), patch_data(48), ArtifactStore(tmp_path / name), **kw)


def test_dropout_draws_what_the_global_generator_drew():
    """A seeded build and dropout from the call's stream equal torch.manual_seed + global dropout."""
    def net():
        return nn.Sequential(nn.Linear(20, 20), nn.Dropout(0.4), nn.ReLU(), nn.Linear(20, 5), nn.Dropout(0.2)).train()

    x = torch.rand(32, 20, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    old = net()
    before = [old(x) for _ in range(3)]
    new, draws = rng.seeded(5, net)
    torch.manual_seed(999)  # another thread's draws on the global generator change nothing below
    with rng.drawing_from(draws):
        after = [new(x) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert not torch.equal(after[0], after[1])  # fresh masks each pass


def test_a_fit_beside_a_busy_neighbour_is_bit_identical(tmp_path):
    """The same fit alone and while another thread builds models, randomises layers (fork_rng +
    manual_seed, which used to reset the global stream under a running fit) and estimates."""
    alone = _fit(tmp_path, "alone")
    stop, rounds = threading.Event(), [0]

    def neighbour() -> None:
        while not stop.is_set():
            with rng.building():
                layer = nn.Linear(8, 8)
            randomise_layer(layer, 7)
            _macs.__wrapped__("small_cnn", 28, 1, 10)
            rounds[0] += 1

    thread = threading.Thread(target=neighbour, daemon=True)
    thread.start()
    try:
        busy = _fit(tmp_path, "busy")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert rounds[0] > 0
    assert all(torch.equal(_weights(alone)[k], _weights(busy)[k]) for k in _weights(alone))
    assert alone["history"] == busy["history"]


@pytest.mark.parametrize("kill_at", [2, 5])
def test_a_killed_fit_with_dropout_resumes_bit_for_bit(tmp_path, kill_at):
    whole = _fit(tmp_path, "whole")
    with pytest.raises(Killed):
        _fit(tmp_path, "killed", kill_after(kill_at))
    resumed = _fit(tmp_path, "killed")
    assert all(torch.equal(_weights(whole)[k], _weights(resumed)[k]) for k in _weights(whole))
    assert whole["history"] == resumed["history"]
