"""Integrated Gradients: completeness from the mean-colour baseline."""
from __future__ import annotations

import torch

from .helpers import make


def test_integrated_gradients_completeness(tiny_net, tiny_info, batch):
    """Σ IG = f(x)_t − f(baseline)_t, baseline = the dataset mean colour."""
    x, target, _ = batch
    x = (x + 1) / 2  # brighter than the baseline, so the output difference is far from zero
    scores = make("integrated_gradients", tiny_net, tiny_info, steps=64).explain(x, target).scores
    baseline = torch.full_like(x, 0.5)
    with torch.no_grad():
        diff = (tiny_net(x) - tiny_net(baseline)).gather(1, target.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(scores.sum((1, 2)), diff, atol=1e-3, rtol=1e-2)
    assert diff.abs().min() > 1e-2  # the property is not trivially 0 = 0
