"""Datasets: a registry of builders and three functions.

* :func:`get_dataset` — one split of a dataset at a preset, as an :class:`ImageDataset`;
* :func:`dataset_info` — its :class:`DatasetInfo` (cheap: never generates data);
* :func:`dataset_names` — the registered names.

A name is a registered name (``hard_mnist`` is the default) or ``imagefolder:PATH``. Every
dataset runs offline; optional data that is missing raises :class:`MissingDataError` saying
what to install. Generated datasets are seeded per (dataset, split, preset, index) and are
byte-identical on every call; ``quick``/``smoke`` splits are cached in the artifact store
(kind ``"dataset"``), ``paper`` splits of generated datasets are rendered lazily per index;
``imagefolder:PATH`` splits are streamed from disk (only their mean/std are cached).

Labels are ``>= 0`` except in ``natural``, where ``-1`` means "unlabelled: explain the
model's own top-1 class".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownNameError
from ..presets import check_preset
from ..registry import Registry
from ..store import ArtifactStore
from . import fashion_mnist, hard_mnist, imagefolder, mnist, natural, parts, spurious_patch
from ._common import channel_stats, check_split
from .base import Batch, DatasetInfo, ImageDataset, TensorImageDataset

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "Batch",
    "DatasetBuilder",
    "DatasetInfo",
    "ImageDataset",
    "TensorImageDataset",
    "dataset_info",
    "dataset_names",
    "get_dataset",
    "train_stats",
]

DEFAULT_DATASET = "hard_mnist"


@dataclass(frozen=True)
class DatasetBuilder:
    """How to describe (``info(preset, root)``, cheap) and build (``build(info, split, store,
    root)``) one registered dataset; ``root`` is the cache root where downloaded data lives."""

    info: Callable[[str, Path | None], DatasetInfo]
    build: Callable[[DatasetInfo, str, ArtifactStore, Path | None], ImageDataset]
    presets: tuple[str, ...]


DATASETS: Registry[DatasetBuilder] = Registry("dataset")


def _register(name: str, help: str, module, info=None) -> None:  # noqa: ANN001 - a dataset module
    DATASETS.register(name, help)(DatasetBuilder(info or module.info, module.build, module.PRESETS))


_register("hard_mnist", "DiET's Hard MNIST: coloured digit among noise and distractor digits (default)", hard_mnist)
_register(
    "spurious_patch",
    "DiET's spurious-patch design on MNIST: only a faint noise patch predicts the class",
    spurious_patch,
)
_register("mnist", "MNIST digits, 10 classes, 28×28 grayscale", mnist, lambda p, r=None: mnist.info("mnist", p, r))
_register("mnist38", "MEED's MNIST 3-vs-8 task", mnist, lambda p, r=None: mnist.info("mnist38", p, r))
_register("fashion_mnist", "Fashion-MNIST (apt-get install dataset-fashion-mnist)", fashion_mnist)
_register("fashion_pullover_shirt", "MEED's Fashion-MNIST task: Pullover vs Shirt", fashion_mnist,
          lambda p, r=None: fashion_mnist.info(p, r, fashion_mnist.PAIR))
_register("parts", "COMET's an8Flower idea: the class is the colour of one part of a drawn flower", parts)
_register("natural", "a few dozen real photos for the pretrained ImageNet classifier", natural)


def _builder(name: str) -> DatasetBuilder:
    if name not in DATASETS:
        raise UnknownNameError(
            f"unknown dataset {name!r}; choose from: {', '.join(DATASETS.names())}, or imagefolder:PATH"
        )
    return DATASETS.get(name)


def dataset_names() -> list[str]:
    """The registered dataset names (``imagefolder:PATH`` is accepted too but not listed)."""
    return DATASETS.names()


def dataset_info(name: str, preset: str = "quick") -> DatasetInfo:
    """Facts about ``name`` at ``preset`` without generating data. (``imagefolder:PATH`` scans
    the folder and, the first time, reads a sample of its images for mean/std, then cached.)"""
    check_preset(preset)
    if imagefolder.is_imagefolder(name):
        return imagefolder.info(name, preset)
    return _builder(name).info(preset, None)


def get_dataset(
    name: str, split: str = "test", preset: str = "quick", store: ArtifactStore | None = None
) -> ImageDataset:
    """One split of a dataset. ``store`` caches generated/decoded tensors (default: the store
    at ``XAI_CACHE_DIR``); downloaded data, if any, lives under the store's root."""
    check_preset(preset)
    store = store or ArtifactStore()
    if imagefolder.is_imagefolder(name):
        return imagefolder.get(name, split, preset, store)
    builder = _builder(name)
    info = builder.info(preset, store.root)
    return builder.build(info, check_split(info, split), store, store.root)


def train_stats(
    name: str, preset: str = "quick", store: ArtifactStore | None = None, limit: int | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Measure the per-channel mean/std of the train split (the first ``limit`` images if
    given). Used to (re)compute the constants the generated datasets declare in their info."""
    ds = get_dataset(name, "train", preset, store)
    if isinstance(ds, TensorImageDataset) and limit is None:
        return channel_stats(ds.images)
    n = len(ds) if limit is None else min(limit, len(ds))
    images = np.stack([np.rint(ds[i][0].numpy() * 255.0).astype(np.uint8) for i in range(n)])
    return channel_stats(images)
