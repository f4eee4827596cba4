"""The random reference map."""
from __future__ import annotations

import torch

from .helpers import make


def test_random_is_per_image_deterministic(tiny_net, tiny_info, batch):
    x, target, _ = batch
    rnd = make("random", tiny_net, tiny_info)
    full = rnd.explain(x, target).scores
    assert torch.equal(rnd.explain(x[3:4], target[3:4]).scores[0], full[3])  # independent of batch composition
    assert not torch.equal(full[0], full[1])
    assert abs(full.mean().item() - 0.5) < 0.05
    assert not torch.equal(make("random", tiny_net, tiny_info, seed=1).explain(x, target).scores, full)
