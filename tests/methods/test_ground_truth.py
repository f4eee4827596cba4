"""The ground-truth reference map."""
from __future__ import annotations

import pytest
import torch

from xai_core.errors import XAIError

from .helpers import make


def test_ground_truth_needs_masks(tiny_net, tiny_info, batch):
    x, target, masks = batch
    assert torch.equal(make("ground_truth", tiny_net, tiny_info).explain(x, target, masks).scores, masks.float())
    with pytest.raises(XAIError, match="ground-truth"):
        make("ground_truth", tiny_net, tiny_info).explain(x, target)
