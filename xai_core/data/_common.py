"""Helpers shared by the dataset modules: stable seeds, per-channel statistics, and the two
ways a generated split is held (materialised once through the artifact store, or rendered
lazily per index for the large ``paper`` preset).

Every generated image is rendered from its own seed ``(dataset, split, preset, index)``, so a
split is identical whether it is materialised in one go or rendered lazily, in any order, and
it never depends on the global numpy / torch RNG state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UnknownNameError
from ..store import ArtifactStore
from . import decode
from .base import DatasetInfo, ImageDataset, TensorImageDataset

if TYPE_CHECKING:
    from PIL import Image

#: Bump when a generator changes its output: the version is part of every store key.
GENERATOR_VERSION = 1

#: Render one sample: index -> (H×W×C uint8 image, label, H×W bool mask or None).
Render = Callable[[int], tuple[np.ndarray, int, "np.ndarray | None"]]

#: The presets every built-in dataset has.
ALL_PRESETS = ("quick", "paper", "smoke")


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts; identical across runs, machines and Pythons."""
    blob = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1


def index_rng(base_seed: int, index: int) -> np.random.Generator:
    """The generator for one sample of a split (independent of every other sample)."""
    return np.random.default_rng([base_seed, int(index)])


def randint(rng: np.random.Generator, low: int, high: int) -> int:
    """An int in [low, high): ``rng.integers`` costs ~20 µs a call with array bounds or a
    size, far more than the drawing itself; this costs one float."""
    return low + int(rng.random() * (high - low))


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return low + (high - low) * rng.random()


def noise_bands(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Blend 1–3 stripes of random pixels (horizontal or vertical, across the whole H×W×3 float
    canvas, 0.3–0.6 opaque) into ``canvas``, in place."""
    size = canvas.shape[0]
    for _ in range(randint(rng, 1, 4)):
        width = randint(rng, max(1, size // 32), max(2, size // 10) + 1)
        start = randint(rng, 0, size - width + 1)
        view = canvas[start : start + width] if rng.random() < 0.5 else canvas[:, start : start + width].swapaxes(0, 1)
        view += uniform(rng, 0.3, 0.6) * (rng.random(view.shape, dtype=np.float32) - view)


def check_split(info: DatasetInfo, split: str) -> str:
    if split not in info.splits:
        raise UnknownNameError(
            f"unknown split {split!r} for dataset {info.name}; choose from: {', '.join(info.splits)}"
        )
    return split


def check_dataset_preset(name: str, preset: str, presets: tuple[str, ...]) -> str:
    if preset not in presets:
        raise UnknownNameError(f"dataset {name} has no preset {preset!r}; choose from: {', '.join(presets)}")
    return preset


def channel_stats(images: torch.Tensor | np.ndarray, chunk: int = 2048) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] of N×C×H×W uint8 images (float64 accumulation)."""
    x = torch.as_tensor(images)
    c = x.shape[1]
    s1 = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, x.shape[0], chunk):
        part = x[i : i + chunk].to(torch.float64) / 255.0
        s1 += part.sum((0, 2, 3))
        s2 += (part * part).sum((0, 2, 3))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def to_chw_uint8(img: np.ndarray) -> np.ndarray:
    """H×W (grey) or H×W×C float in [0, 1] / uint8 -> C×H×W uint8."""
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    return np.ascontiguousarray(img.transpose(2, 0, 1))


class LazyDataset(ImageDataset):
    """A generated split rendered on demand, one image per index (for large presets)."""

    def __init__(self, info: DatasetInfo, split: str, length: int, render: Render) -> None:
        self.info, self.split, self._length, self._render = info, split, int(length), render

    def __len__(self) -> int:
        return self._length

    def sample(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        img, label, mask = self._render(index)
        # numpy, not torch: identical to TensorImageDataset's uint8 / 255 in float32, and free of
        # torch's intra-op threading, which is very slow on small tensors when the cores are busy
        x = torch.from_numpy(to_chw_uint8(img).astype(np.float32) / np.float32(255.0))
        return x, int(label), None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))


def render_all(length: int, render: Render) -> dict[str, Any]:
    """Render every index into one payload of tensors (uint8 images, long labels, bool masks)."""
    first = render(0)
    img0 = to_chw_uint8(first[0])
    images = np.empty((length, *img0.shape), dtype=np.uint8)
    labels = np.empty(length, dtype=np.int64)
    masks = None if first[2] is None else np.empty((length, *img0.shape[1:]), dtype=bool)
    for i in range(length):
        img, label, mask = first if i == 0 else render(i)
        images[i] = to_chw_uint8(img)
        labels[i] = label
        if masks is not None:
            masks[i] = mask
    payload: dict[str, Any] = {"images": torch.from_numpy(images), "labels": torch.from_numpy(labels)}
    if masks is not None:
        payload["masks"] = torch.from_numpy(masks)
    return payload


def generated_split(
    info: DatasetInfo, split: str, store: ArtifactStore, length: int, render: Render, lazy: bool
) -> ImageDataset:
    """The split, lazily rendered or materialised once through the store (kind ``dataset``)."""
    if lazy:
        return LazyDataset(info, split, length, render)
    spec = {**info.spec(), "split": split, "generator_version": GENERATOR_VERSION}
    payload = store.get_or_create("dataset", spec, lambda: render_all(length, render))
    return TensorImageDataset(info, split, payload["images"], payload["labels"], payload.get("masks"))


@lru_cache(maxsize=1024)
def resize_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D linear (triangle-filter) resize from ``src`` to ``dst`` samples, widened when
    shrinking so it antialiases like PIL's bilinear: for each output sample, the indices
    (dst×k) and weights (dst×k, summing to 1) of the input samples it mixes."""
    scale = src / dst
    support = max(scale, 1.0)
    centres = (np.arange(dst) + 0.5) * scale
    w = np.maximum(0.0, 1.0 - np.abs((np.arange(src) + 0.5)[None, :] - centres[:, None]) / support)
    w /= w.sum(1, keepdims=True)
    k = int((w > 0).sum(1).max())
    idx = np.argsort(w <= 0, axis=1, kind="stable")[:, :k]  # the non-zero taps first
    return idx, np.take_along_axis(w, idx, 1).astype(np.float32)


def resize_gray(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an H×W uint8 image (bilinear, antialiased when shrinking) -> float32 in [0, 1].

    Pure numpy gathers and sums, no BLAS: fast on tiny images, free of thread-pool contention,
    and the same bytes on every machine."""
    h, w = (size, size) if isinstance(size, int) else size
    rows_idx, rows_w = resize_taps(img.shape[0], h)
    cols_idx, cols_w = resize_taps(img.shape[1], w)
    x = img.astype(np.float32) / np.float32(255.0)
    x = (x[rows_idx] * rows_w[:, :, None]).sum(1)  # h × W
    x = (x[:, cols_idx] * cols_w[None]).sum(2)  # h × w
    return np.clip(x, 0.0, 1.0)


#: The most pixels an image file may have before it is refused (checked from the header).
MAX_IMAGE_PIXELS = decode.MAX_PIXELS


def open_image(
    path: str | Path, mode: str = "RGB", max_pixels: int | None = None, flatten_alpha: bool = True
) -> Image.Image:
    """Decode an image file with :func:`xai_core.data.decode.decode_image` (the decoder uploads
    use) and convert it to ``mode``. Transparent pixels become white, or black when
    ``flatten_alpha`` is false (masks: transparent = outside). One-line InvalidInputError naming
    the file for unreadable, refused, truncated or oversized files."""
    base = "L" if mode in ("L", "1") else "RGB"
    img = decode.decode_image(
        path, str(path), mode=base, background=255 if flatten_alpha else 0, max_pixels=max_pixels or MAX_IMAGE_PIXELS
    )
    return img if img.mode == mode else img.convert(mode)


def open_mask(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """A ground-truth mask file -> upright H×W bool: opaque pixels with a grey level above 127
    (:func:`xai_core.data.decode.decode_mask`; a transparent background is outside)."""
    return decode.decode_mask(path, str(path), max_pixels=max_pixels or MAX_IMAGE_PIXELS)


def resize_center_crop(img: Image.Image, size: int, resize_to: int | None = None) -> Image.Image:
    """Resize the short side to ``resize_to`` (default ``size``) and crop the centre ``size``×``size``."""
    from PIL import Image

    short = resize_to or size
    w, h = img.size
    scale = short / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))
