"""``spurious_patch``: DiET's Chest-X-ray design, on real MNIST digits (1 channel, 2 classes).

Every image is a digit from the split's pool filling the frame (strokes 0.1–0.9 on a 0.1 grey
background, a small random shift). The label is drawn uniformly at random per image,
*independently of the digit*, so the digit carries no information about the class: the only
predictive feature is a barely visible noise patch (±0.08 random-sign noise; 8×8 px at
``quick`` 64 px, 16×16 at ``paper`` 224 px as in DiET, 4×4 at ``smoke`` 32 px) at a random
place on every class-0 image and on no class-1 image. A model must use the patch; DiET should
find it.

Splits: ``train``; ``test`` (same design: patch on class 0); ``test_flipped``: the very same
images, labels and patch places as ``test`` but the patch is on the class-1 images instead, so a
model that relies on the patch drops towards 0 % accuracy.

Ground truth: the patch square. Images without a patch have an all-False mask (there is no
signal to find in them). Sizes: ``quick``/``paper`` 8,000 train, 1,000 test, 1,000 flipped;
``smoke`` 512 / 256 / 256. ``paper`` is rendered lazily per index.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..store import ArtifactStore
from ._common import ALL_PRESETS, check_dataset_preset, generated_split, index_rng, randint, resize_gray, stable_seed
from .base import DatasetInfo, ImageDataset
from .mnist_source import DigitPool, digit_pool, digit_source, source_description

NAME = "spurious_patch"
PRESETS = ALL_PRESETS
_SIZES = {"quick": (64, 8000, 1000), "paper": (224, 8000, 1000), "smoke": (32, 512, 256)}
_PATCH = {"quick": 8, "paper": 16, "smoke": 4}
#: Per-channel mean/std of the train split, measured with ``train_stats`` (paper: its first 1,000
#: train images). Regenerate them whenever the generator changes (a test checks smoke).
_STATS = {
    "quick": ((0.2067,), (0.2313,)),
    "paper": ((0.2075,), (0.2319,)),
    "smoke": ((0.2057,), (0.2303,)),
}
BACKGROUND = 0.1
STROKE = 0.8  # digit strokes span BACKGROUND .. BACKGROUND + STROKE
AMPLITUDE = 0.08  # patch noise: ±AMPLITUDE
PATCH_CLASS = {"train": 0, "test": 0, "test_flipped": 1}


def info(preset: str = "quick", root: Path | None = None) -> DatasetInfo:
    """Static facts (no data is generated)."""
    check_dataset_preset(NAME, preset, PRESETS)
    size, n_train, n_test = _SIZES[preset]
    source = digit_source(root)
    mean, std = _STATS[preset]
    return DatasetInfo(
        name=NAME,
        preset=preset,
        image_size=size,
        channels=1,
        num_classes=2,
        class_names=("class 0", "class 1"),  # class 0 carries the patch in train and test
        mean=mean,
        std=std,
        has_ground_truth=True,
        splits=("train", "test", "test_flipped"),
        description=(
            "DiET's spurious-patch design on MNIST: random labels, a barely visible noise patch on class 0 only "
            "(moved to class 1 in test_flipped)"
        ),
        source=source_description(source),
        extra={
            "digit_source": source,
            "sizes": {"train": n_train, "test": n_test, "test_flipped": n_test},
            "patch_size": _PATCH[preset],
            "patch_amplitude": AMPLITUDE,
            "patch_class": PATCH_CLASS,
            "mask": "the patch square; all False on images without a patch",
            "storage": "lazy" if preset == "paper" else "store",
        },
    )


def render(
    pool: DigitPool, size: int, patch: int, patch_class: int, base_seed: int, index: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """Image ``index``: (H×W uint8, label, H×W bool mask). Everything but the patch's presence
    is independent of ``patch_class``, so ``test`` and ``test_flipped`` share their images."""
    rng = index_rng(base_seed, index)
    label = randint(rng, 0, 2)  # independent of the digit
    shift = max(1, size // 16)
    dy, dx = randint(rng, -shift, shift + 1), randint(rng, -shift, shift + 1)
    y, x = randint(rng, 0, size - patch + 1), randint(rng, 0, size - patch + 1)
    noise = AMPLITUDE * np.where(rng.random((patch, patch)) < 0.5, -1.0, 1.0)
    img = BACKGROUND + STROKE * np.roll(resize_gray(pool.images[index % len(pool)], size), (dy, dx), axis=(0, 1))
    mask = np.zeros((size, size), dtype=bool)
    if label == patch_class:
        img[y : y + patch, x : x + patch] += noise
        mask[y : y + patch, x : x + patch] = True
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), label, mask


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    pool_split = "train" if split == "train" else "test"
    pool = digit_pool(pool_split, root)
    size, patch, patch_class = info.image_size, info.extra["patch_size"], PATCH_CLASS[split]
    seed = stable_seed(NAME, pool_split, info.preset, info.extra["digit_source"])  # test_flipped = test's seed
    return generated_split(
        info,
        split,
        store,
        info.extra["sizes"][split],
        partial(render, pool, size, patch, patch_class, seed),
        lazy=info.extra["storage"] == "lazy",
    )
