"""``fashion_mnist``: Zalando's Fashion-MNIST (70,000 28×28 grayscale images, 10 classes), and
``fashion_pullover_shirt``: MEED's binary task on it, Pullover (label 0) vs Shirt (label 1), 12,000 /
2,000 images (the issue's pair; the MEED paper's text names "Pullover and Coat" once, its Table 4
"Fashion-MNIST" without the pair). No ground truth.

Sources, in order: the Debian package ``dataset-fashion-mnist`` (IDX files in
``/usr/share/datasets/fashion-mnist/``, or ``XAI_FASHION_MNIST_DIR``), a torchvision copy
already in ``<cache>/fashion-mnist/FashionMNIST/raw``, a torchvision download there when
``XAI_ALLOW_DOWNLOAD=1``; otherwise :class:`MissingDataError` saying what to install.
``quick``/``paper``: the official 60,000 / 10,000 split (of the task's classes); ``smoke``: the first
512 / 256 of them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingDataError
from ..store import ArtifactStore, default_root
from ._common import ALL_PRESETS, check_dataset_preset
from .base import DatasetInfo, ImageDataset, TensorImageDataset
from .idx import find_idx, read_idx

NAME = "fashion_mnist"
PAIR = "fashion_pullover_shirt"
PRESETS = ALL_PRESETS
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: task → (the Fashion-MNIST classes it keeps, in label order; its description)
_TASKS = {
    NAME: (tuple(range(10)), "Fashion-MNIST: 28×28 grayscale clothing images, 10 classes"),
    PAIR: ((2, 6), "MEED's binary task on Fashion-MNIST: Pullover (label 0) vs Shirt (label 1), 28×28 grayscale"),
}
_SIZES = {
    NAME: {"quick": (60000, 10000), "paper": (60000, 10000), "smoke": (512, 256)},
    PAIR: {"quick": (12000, 2000), "paper": (12000, 2000), "smoke": (512, 256)},
}
#: Train-split mean/std (computed from the IDX files; checked by the tests when installed).
_STATS = {
    NAME: {"quick": ((0.286,), (0.353,)), "paper": ((0.286,), (0.353,)), "smoke": ((0.2849,), (0.3526,))},
    PAIR: {"quick": ((0.3542,), (0.3498,)), "paper": ((0.3542,), (0.3498,)), "smoke": ((0.3562,), (0.351,))},
}
INSTALL_HINT = (
    "Fashion-MNIST is not installed: run `apt-get install dataset-fashion-mnist`, or connect to the "
    "internet once and run `XAI_ALLOW_DOWNLOAD=1 python -m xai_core.data.fashion_mnist` to download it"
)


def _candidates(root: Path | None) -> list[Path]:
    dirs = [Path(os.environ["XAI_FASHION_MNIST_DIR"])] if os.environ.get("XAI_FASHION_MNIST_DIR") else []
    return [*dirs, DEBIAN_DIR, Path(root or default_root()) / "fashion-mnist" / "FashionMNIST" / "raw"]


def data_dir(root: Path | None = None) -> Path | None:
    """The first folder that holds all four IDX files, or None (cheap)."""
    for folder in _candidates(root):
        if all(find_idx(folder, stem) is not None for pair in _FILES.values() for stem in pair):
            return folder
    return None


def _download(root: Path | None) -> Path:
    from torchvision.datasets import FashionMNIST

    target = Path(root or default_root()) / "fashion-mnist"
    try:
        for train in (True, False):
            FashionMNIST(str(target), train=train, download=True)
    except Exception as err:
        raise MissingDataError(f"downloading Fashion-MNIST failed ({type(err).__name__}); {INSTALL_HINT}") from None
    return target / "FashionMNIST" / "raw"


@lru_cache(maxsize=8)
def _load(folder: str, split: str, task: str = NAME) -> tuple[np.ndarray, np.ndarray]:
    """The split's images and labels, the task's classes only, relabelled 0…n−1 in the task's order."""
    img_stem, lab_stem = _FILES[split]
    images = read_idx(find_idx(Path(folder), img_stem))  # type: ignore[arg-type]
    labels = read_idx(find_idx(Path(folder), lab_stem)).astype(np.int64)  # type: ignore[arg-type]
    classes = _TASKS[task][0]
    if len(classes) == len(CLASSES):
        return images, labels
    keep = np.isin(labels, classes)
    relabel = np.full(len(CLASSES), -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return images[keep], relabel[labels[keep]]


def info(preset: str = "quick", root: Path | None = None, task: str = NAME) -> DatasetInfo:
    """Static facts; works (and says where the data would come from) even when it is missing."""
    check_dataset_preset(task, preset, PRESETS)
    folder = data_dir(root)
    n_train, n_test = _SIZES[task][preset]
    mean, std = _STATS[task][preset]
    classes, description = _TASKS[task]
    return DatasetInfo(
        name=task,
        preset=preset,
        image_size=28,
        channels=1,
        num_classes=len(classes),
        class_names=tuple(CLASSES[c] for c in classes),
        mean=mean,
        std=std,
        has_ground_truth=False,
        splits=("train", "test"),
        description=description,
        source=f"Fashion-MNIST IDX files in {folder}"
        if folder
        else "Fashion-MNIST (not installed: apt-get install dataset-fashion-mnist)",
        extra={"sizes": {"train": n_train, "test": n_test}},
    )


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    folder = data_dir(root)
    if folder is None:
        if os.environ.get("XAI_ALLOW_DOWNLOAD", "") != "1":
            raise MissingDataError(INSTALL_HINT)
        folder = _download(root)
    images, labels = _load(str(folder), split, info.name)
    n = info.extra["sizes"][split]
    return TensorImageDataset(info, split, torch.from_numpy(images[:n, None].copy()), torch.from_numpy(labels[:n]))


if __name__ == "__main__":  # pragma: no cover - needs the network
    if os.environ.get("XAI_ALLOW_DOWNLOAD", "") != "1":
        raise SystemExit("set XAI_ALLOW_DOWNLOAD=1 to allow downloading Fashion-MNIST")
    print(f"Fashion-MNIST is in {data_dir() or _download(None)}")
