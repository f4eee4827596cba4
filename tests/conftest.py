"""Shared fixtures: every test run gets its own cache directory; tiny deterministic models."""
from __future__ import annotations

import os
import sys

import pytest
import torch
from torch import nn

from xai_core.data.base import DatasetInfo


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Isolate the artifact store of the whole run, shared by xdist workers and CLI subprocesses
    (the store's file locks make concurrent builds of one entry safe: it is built once)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xai-cache"
    path.mkdir(exist_ok=True)
    old = os.environ.get("XAI_CACHE_DIR")
    os.environ["XAI_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("XAI_CACHE_DIR", None)
    else:
        os.environ["XAI_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _main_module_kept():
    """Streamlit's script runner (AppTest) installs each page as ``sys.modules["__main__"]`` and leaves it
    there; a later test in the same worker that spawns processes (``torch.multiprocessing``) would then run
    that page again in every child (seen: test_distributed's children crashing in pages/evaluate.py). Each
    test ends with the real ``__main__`` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def tiny_info() -> DatasetInfo:
    return DatasetInfo("tiny", "smoke", 12, 3, 4, ("a", "b", "c", "d"), (0.5,) * 3, (0.25,) * 3, True)


class TinyNet(nn.Module):
    """conv → BN → ReLU → conv → global pool → linear: smooth enough for IG, has a CAM layer."""

    cam_layer = "features.3"

    def __init__(self, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Softplus(), nn.Conv2d(8, 8, 3, padding=1)
        )
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.nn.functional.softplus(self.features(x)).mean((2, 3)))


@pytest.fixture
def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = TinyNet()
    with torch.no_grad():  # non-trivial batch-norm statistics
        net.features[1].running_mean.uniform_(-0.5, 0.5)
        net.features[1].running_var.uniform_(0.5, 2.0)
        net.head.weight.mul_(30.0)  # logits that move visibly with the input
    return net.eval()
