"""Fixtures of the method tests: a batch of tiny images with targets and ground truth."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 12, 12, generator=g)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    masks = torch.rand(6, 12, 12, generator=g) > 0.7
    return x, target, masks
