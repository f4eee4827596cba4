"""``parts``: COMET's an8Flower idea, drawn procedurally (3 channels, 6 classes).

Each image shows one "flower" on a noisy, low-saturation background: a stem with one or two
leaves, 5–8 petals around a centre disc with a thin dark rim. **The class is the colour of the
centre disc** (red, green, blue, yellow, magenta, cyan). Petals, stem and leaves take random
colours from the same palette, so they carry no information about the class; position, size,
petal count and rotation are random too.

Ground truth: the centre disc's pixels (its rim excluded). Sizes: ``quick`` 64 px and
``paper`` 224 px with 6,000 train / 1,200 test images, ``smoke`` 32 px with 512 / 256.
``paper`` is rendered lazily per index.

``test_background`` (for COMET's robustness test, the PxAP of attribution maps on a
background-changed test split): image i is test image i's flower, pixel for pixel, with the
same label and mask, on a new background drawn from a second seed ``(parts, test_background,
preset, index)``: another tint (0.15–0.35 lighter or darker), noise bands, 1–3 grey
distractor blobs, and, as in ImageNet-9's Mixed-Next split (the background of an image of the
next class), one rimmed disc in the next class's colour; none touches the flower. The black box
falls from 1.000 to 0.713 on it (quick) (the decoy alone moves it; the grey changes left it at
1.000). Same size as ``test``; evaluation only: it is left out of the dataset's spec (store keys
of the other splits and of black boxes).
"""

from __future__ import annotations

from dataclasses import replace
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
    stable_seed,
    uniform,
)
from .base import DatasetInfo, ImageDataset

NAME = "parts"
PRESETS = ALL_PRESETS
_SIZES = {"quick": (64, 6000, 1200), "paper": (224, 6000, 1200), "smoke": (32, 512, 256)}
#: Per-channel mean/std of the train split, measured with ``train_stats`` (paper: its first 1,000
#: train images). Regenerate them whenever the generator changes (a test checks smoke).
_STATS = {
    "quick": ((0.4949, 0.4916, 0.4941), (0.2029, 0.1872, 0.2006)),
    "paper": ((0.4895, 0.485, 0.4888), (0.202, 0.1847, 0.1978)),
    "smoke": ((0.4895, 0.4897, 0.49), (0.2073, 0.1955, 0.204)),
}
PALETTE = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.70, 0.15),
    "blue": (0.15, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "magenta": (0.80, 0.15, 0.80),
    "cyan": (0.10, 0.80, 0.85),
}
_COLOURS = np.array(list(PALETTE.values()), dtype=np.float32)
JITTER = 0.05  # per-channel colour jitter
RIM = (0.08, 0.08, 0.08)  # the centre disc's dark rim
BACKGROUND_VERSION = 2  # bump when test_background's drawing changes (2: the next class's decoy disc)


def info(preset: str = "quick", root: Path | None = None) -> DatasetInfo:
    """Static facts (no data is generated)."""
    check_dataset_preset(NAME, preset, PRESETS)
    size, n_train, n_test = _SIZES[preset]
    mean, std = _STATS[preset]
    return DatasetInfo(
        name=NAME,
        preset=preset,
        image_size=size,
        channels=3,
        num_classes=len(PALETTE),
        class_names=tuple(f"{c} centre" for c in PALETTE),
        mean=mean,
        std=std,
        has_ground_truth=True,
        splits=("train", "test", "test_background"),
        derived_splits=("test_background",),
        description="COMET's an8Flower idea: a drawn flower whose class is the colour of its centre disc only",
        source="procedurally drawn with numpy, seeded",
        extra={
            "sizes": {"train": n_train, "test": n_test, "test_background": n_test},
            "test_background": "the test split's flowers and ground truth on new backgrounds",
            "palette": {k: list(v) for k, v in PALETTE.items()},
            "mask": "the centre disc (rim excluded)",
            "storage": "lazy" if preset == "paper" else "store",
        },
    )


def _window(size: int, y0: float, y1: float, x0: float, x1: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """The pixels whose centres may lie in [y0, y1]×[x0, x1]: slices and their centre coordinates."""
    ys = slice(max(0, int(np.floor(y0))), max(0, min(size, int(np.ceil(y1)) + 1)))
    xs = slice(max(0, int(np.floor(x0))), max(0, min(size, int(np.ceil(x1)) + 1)))
    yy = np.arange(ys.start, ys.stop, dtype=np.float32)[:, None] + 0.5
    xx = np.arange(xs.start, xs.stop, dtype=np.float32)[None, :] + 0.5
    return ys, xs, yy, xx


def _paint_ellipses(ids: np.ndarray, part: int, cy, cx, semi_major, semi_minor, angle) -> None:  # noqa: ANN001
    """Set ``ids`` to ``part`` inside a union of ellipses (parameters: floats or 1-D arrays);
    ``angle`` is the major axis' direction, counter-clockwise from +x as seen on screen."""
    cy, cx, a, b, t = (
        np.asarray(v, dtype=np.float32).reshape(-1, 1, 1) for v in (cy, cx, semi_major, semi_minor, angle)
    )
    ys, xs, yy, xx = _window(
        ids.shape[0], float((cy - a).min()), float((cy + a).max()), float((cx - a).min()), float((cx + a).max())
    )
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(t), np.sin(t)
    u, v = (dx * cos - dy * sin) / a, (dx * sin + dy * cos) / b
    ids[ys, xs][(u * u + v * v <= 1.0).any(0)] = part


def _paint_segment(ids: np.ndarray, part: int, y0: float, x0: float, y1: float, x1: float, half_width: float) -> None:
    """Set ``ids`` to ``part`` within ``half_width`` of the segment (y0, x0)–(y1, x1)."""
    hw = half_width
    ys, xs, yy, xx = _window(ids.shape[0], min(y0, y1) - hw, max(y0, y1) + hw, min(x0, x1) - hw, max(x0, x1) + hw)
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0.0, 1.0)
    ey, ex = yy - y0 - t * dy, xx - x0 - t * dx
    ids[ys, xs][ey * ey + ex * ex <= hw * hw] = part


BACKGROUND, STEM, PETAL, RIM_PART, DISC = range(5)  # part ids, in drawing order


def render(
    size: int, base_seed: int, index: int, background_seed: int | None = None
) -> tuple[np.ndarray, int, np.ndarray]:
    """Image ``index``: (H×W×3 uint8, label, H×W bool mask of the centre disc).

    With ``background_seed`` (the ``test_background`` split): the same flower, label and mask,
    on a background drawn from ``index_rng(background_seed, index)`` (:func:`_new_background`)."""
    rng = index_rng(base_seed, index)
    label = randint(rng, 0, len(_COLOURS))
    colours = np.empty((5, 3), dtype=np.float32)  # one colour per part id
    stem_k, petal_k = randint(rng, 0, len(_COLOURS)), randint(rng, 0, len(_COLOURS))  # any palette colour
    colours[1:] = np.stack([_COLOURS[stem_k], _COLOURS[petal_k], RIM, _COLOURS[label]])
    colours[[STEM, PETAL, DISC]] += (2 * rng.random((3, 3), dtype=np.float32) - 1) * JITTER

    s = uniform(rng, 0.8, 1.2) * size
    disc, petal_len, petal_w = 0.085 * s, 0.16 * s, 0.06 * s
    rim = max(1.0, 0.015 * size)
    reach = disc + petal_len + 1
    lo, hi = min(reach, size / 2), max(size - reach, size / 2)
    cy, cx = uniform(rng, lo, hi), uniform(rng, lo, hi)
    ids = np.zeros((size, size), dtype=np.uint8)

    # stem from the centre to the bottom edge, slightly tilted, with one or two leaves
    bottom_x = cx + uniform(rng, -0.1, 0.1) * size
    _paint_segment(ids, STEM, cy, cx, size, bottom_x, max(0.6, 0.02 * s))
    leaves = []
    for _ in range(randint(rng, 1, 3)):
        t, ang = uniform(rng, 0.45, 0.85), uniform(rng, 0.3, 0.9)
        ang = ang if rng.random() < 0.5 else np.pi - ang  # right or left, pointing upwards
        ly, lx = cy + t * (size - cy), cx + t * (bottom_x - cx)
        leaves.append((ly - np.sin(ang) * 0.09 * s, lx + np.cos(ang) * 0.09 * s, ang))
    ly, lx, la = np.array(leaves).T
    _paint_ellipses(ids, STEM, ly, lx, 0.09 * s, 0.035 * s, la)

    # petals pointing outwards, then the rimmed centre disc: the only part whose colour is the class
    n_petals = randint(rng, 5, 9)
    theta = uniform(rng, 0, 2 * np.pi) + 2 * np.pi * np.arange(n_petals) / n_petals
    dist = disc + 0.45 * petal_len
    _paint_ellipses(ids, PETAL, cy - dist * np.sin(theta), cx + dist * np.cos(theta), petal_len / 2, petal_w, theta)
    ys, xs, yy, xx = _window(size, cy - disc - rim, cy + disc + rim, cx - disc - rim, cx + disc + rim)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    window = ids[ys, xs]
    window[d2 <= (disc + rim) ** 2] = RIM_PART
    window[d2 <= disc**2] = DISC

    # noisy, low-saturation background; parts are flat colours
    grey = uniform(rng, 0.25, 0.75)
    tint = grey + (2 * rng.random(3, dtype=np.float32) - 1) * 0.08
    drawn = ids > 0
    if background_seed is None:
        img = tint + 0.1 * (rng.random((size, size, 3), dtype=np.float32) - 0.5)  # σ ≈ 0.03
    else:
        img = _new_background(index_rng(background_seed, index), grey, s, drawn, label)
    img[drawn] = colours[ids[drawn]]
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), label, ids == DISC


def _dilate(m: np.ndarray) -> np.ndarray:
    """``m`` grown by one pixel in all eight directions."""
    p = np.pad(m, 1)
    h, w = m.shape
    return np.any([p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)


def _new_background(rng: np.random.Generator, grey: float, s: float, drawn: np.ndarray, label: int) -> np.ndarray:
    """The ``test_background`` split's background (H×W×3 float) for a flower of class ``label`` covering
    ``drawn`` (``s``: its scale in pixels), from its own ``rng``: the noisy tint of the test image, but
    0.15–0.35 lighter or darker than its ``grey`` (staying within 0.25–0.75); 1–3 noise bands as
    in ``hard_mnist``; 1–3 distractors: flat, low-saturation grey ellipses or rectangles at least
    one pixel away from the flower (clipped to that when 10 random places all touch it); then one
    rimmed disc in the *next* class's colour (:func:`_paint_decoy`): the background of another class,
    as ImageNet-9's Mixed-Next backgrounds the COMET authors test on (the grey changes alone left the
    black box at 1.000; this one moves it: docs/measured.md#comet)."""
    size = drawn.shape[0]
    grey = 0.25 + (grey - 0.25 + uniform(rng, 0.15, 0.35)) % 0.5
    tint = grey + (2 * rng.random(3, dtype=np.float32) - 1) * 0.08
    img = tint + 0.1 * (rng.random((size, size, 3), dtype=np.float32) - 0.5)
    noise_bands(img, rng)
    free = ~_dilate(drawn)
    for _ in range(randint(rng, 1, 4)):
        level = (grey + uniform(rng, 0.15, 0.85)) % 1.0  # visibly lighter or darker than the tint
        colour = level + (2 * rng.random(3, dtype=np.float32) - 1) * 0.04
        for _ in range(10):
            blob = np.zeros((size, size), dtype=np.uint8)
            a, b = uniform(rng, 0.04, 0.1) * s, uniform(rng, 0.03, 0.08) * s
            cy, cx = uniform(rng, 0, size), uniform(rng, 0, size)
            if rng.random() < 0.5:
                _paint_ellipses(blob, 1, cy, cx, a, b, uniform(rng, 0, np.pi))
            else:
                y0, y1, x0, x1 = (max(0, round(v)) for v in (cy - b, cy + b + 1, cx - a, cx + a + 1))
                blob[y0:y1, x0:x1] = 1
            inside = blob.astype(bool)
            if not (inside & ~free).any():
                break
        img[inside & free] = colour
    _paint_decoy(img, rng, s, free, _COLOURS[(label + 1) % len(_COLOURS)])
    return img


def _free_spot(rng: np.random.Generator, free: np.ndarray, radius: float) -> tuple[float, float] | None:
    """A centre whose disc of ``radius`` lies in ``free`` (10 tries), else None."""
    size = free.shape[0]
    for _ in range(10):
        cy, cx = uniform(rng, radius, size - radius), uniform(rng, radius, size - radius)
        disc = np.zeros(free.shape, dtype=np.uint8)
        _paint_ellipses(disc, 1, cy, cx, radius, radius, 0.0)
        if not (disc.astype(bool) & ~free).any():
            return cy, cx
    return None


def _paint_decoy(img: np.ndarray, rng: np.random.Generator, s: float, free: np.ndarray, colour: np.ndarray) -> None:
    """The Mixed-Next cue: one rimmed disc of the flower's centre size (0.07–0.1·s against 0.085·s) in ``colour``
    (the next class's), where it touches neither the flower nor its one-pixel margin; none when 10 places fail."""
    r = uniform(rng, 0.07, 0.1) * s
    rim = max(1.0, 0.015 * free.shape[0])
    spot = _free_spot(rng, free, r + rim + 1)
    if spot is None:
        return
    ids = np.zeros(free.shape, dtype=np.uint8)
    _paint_ellipses(ids, 1, spot[0], spot[1], r + rim, r + rim, 0.0)
    _paint_ellipses(ids, 2, spot[0], spot[1], r, r, 0.0)
    img[ids == 1] = RIM
    img[ids == 2] = colour + (2 * rng.random(3, dtype=np.float32) - 1) * JITTER


def build(info: DatasetInfo, split: str, store: ArtifactStore, root: Path | None = None) -> ImageDataset:
    # test_background: the test split's flowers (same seeds), its own background seeds; its store key also
    # holds BACKGROUND_VERSION (left out of the other splits' keys and of the black boxes')
    source = "test" if split == "test_background" else split
    seed = stable_seed(NAME, source, info.preset)
    background = stable_seed(NAME, split, info.preset) if split != source else None
    if background is not None:
        info = replace(info, extra={**info.extra, "background_version": BACKGROUND_VERSION})
    return generated_split(
        info,
        split,
        store,
        info.extra["sizes"][split],
        partial(render, info.image_size, seed, background_seed=background),
        lazy=info.extra["storage"] == "lazy",
    )
