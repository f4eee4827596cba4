"""Fixtures of the method tests: batches of tiny images with targets and ground truth, a store."""
from __future__ import annotations

import pytest
import torch

from xai_core.store import ArtifactStore


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 12, 12, generator=g)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    masks = torch.rand(6, 12, 12, generator=g) > 0.7
    return x, target, masks


@pytest.fixture
def images():
    """The contract's batch: 6 images, their targets and ground truth."""
    g = torch.Generator().manual_seed(1)
    return (torch.rand(6, 3, 12, 12, generator=g), torch.tensor([0, 1, 2, 3, 0, 1]),
            torch.rand(6, 12, 12, generator=g) > 0.7)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ArtifactStore(tmp_path_factory.mktemp("contract"))
