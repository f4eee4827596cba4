"""Validate and convert a user's image file for a dataset's model. Decoding (formats, modes,
16-bit, transparency, EXIF orientation, limits, the one-line errors) is
:func:`xai_core.data.decode.decode_image`, shared with ``imagefolder:``; this module only adds the
byte limit, fits the result to the model's input and says when an upload is far from the dataset
(:func:`upload_warnings`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from .data import decode
from .data.base import DatasetInfo
from .errors import InvalidInputError

FORMATS = decode.FORMATS
EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")
MAX_BYTES = decode.MAX_BYTES
MAX_PIXELS = decode.MAX_PIXELS
#: Uploads with a shorter side are refused: upscaled to the model's input they carry no detail a map
#: could point at (a 1×1 picture becomes a flat square).
MIN_SIDE = 4

#: An upload whose short side is under this fraction of the model's input side is "much smaller":
#: it is upscaled, and its maps mostly show the interpolation.
SMALL_FRACTION = 0.25
#: A picture counts as colour when its pixels' channel spread (max − min of R, G, B, averaged over
#: the pixels) is above this (8/255: JPEG's chroma noise on a grey picture stays under it).
COLOUR_SPREAD = 8 / 255
#: A channel's mean is far from the dataset's when it differs by more than this many of the dataset's
#: pixel standard deviations (``info.std``, which includes the spread between images).
MEAN_TOLERANCE = 2.0
#: A channel's standard deviation is far from the dataset's when its ratio to ``info.std`` is outside
#: this range (a flat or near-flat picture falls under the low end).
STD_RATIO = (0.1, 3.0)
# The thresholds leave every test image of the smoke datasets unflagged (the most extreme seen:
# means 1.8 std off on hard_mnist, std ratios 0.14 on hard_mnist and 1.39 on spurious_patch).
_CHANNEL_NAMES = ("R", "G", "B")


@dataclass(frozen=True)
class Upload:
    """A decoded upload: ``tensor`` (C×H×W in [0, 1] at the dataset's size and channels), the
    picture's own ``size`` (width, height; upright) and ``channels`` (1 for grey, 3 for colour,
    judged from its pixels)."""

    tensor: torch.Tensor
    size: tuple[int, int]
    channels: int


def read_upload(data: bytes, info: DatasetInfo, name: str = "upload") -> Upload:
    """Decode ``data`` as :func:`load_upload` does, keeping the original size and channels."""
    img = decode.decode_image(data, name, mode="RGB", max_pixels=MAX_PIXELS, max_bytes=MAX_BYTES)
    if min(img.size) < MIN_SIDE:
        raise InvalidInputError(f"{decode.display_name(name)} is {img.size[0]}×{img.size[1]} pixels; uploads need at "
                                f"least {MIN_SIDE} pixels on each side")
    channels = 3 if colour_spread(np.asarray(img)) > COLOUR_SPREAD else 1
    if info.channels == 1:
        img = img.convert("L")  # what decoding straight to "L" gives (grey → RGB → L is exact)
    size = img.size
    img = ImageOps.fit(img, (info.image_size, info.image_size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return Upload(torch.from_numpy(np.ascontiguousarray(arr)), size, channels)


def load_upload(data: bytes, info: DatasetInfo, name: str = "upload") -> torch.Tensor:
    """Decode ``data`` into a C×H×W float tensor in [0, 1] at ``info``'s size and channels
    (short side resized, centre-cropped to a square); raise :class:`InvalidInputError` (one line
    naming only ``name``) otherwise."""
    return read_upload(data, info, name).tensor


def colour_spread(pixels: np.ndarray) -> float:
    """The mean over pixels of max − min over the channels, in [0, 1] (0 for grey; an H×W array is grey)."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim < 3 or arr.shape[-1] == 1:
        return 0.0
    scale = 255.0 if np.asarray(pixels).dtype == np.uint8 else 1.0
    return float((arr.max(-1) - arr.min(-1)).mean() / scale)


def upload_warnings(size: Sequence[int], channels: int, tensor: torch.Tensor, info: DatasetInfo) -> list[str]:
    """One line per way an upload is far from ``info``'s dataset: its ``size`` (width, height) much
    smaller than the model's input (:data:`SMALL_FRACTION`), its ``channels`` (1 grey, 3 colour)
    not the dataset's, and the per-channel mean / standard deviation of ``tensor`` (C×H×W in
    [0, 1], as the model sees it) far from ``info.mean`` / ``info.std`` (:data:`MEAN_TOLERANCE`,
    :data:`STD_RATIO`). Empty when nothing stands out."""
    out = []
    w, h = int(size[0]), int(size[1])
    side = info.image_size
    if min(w, h) < SMALL_FRACTION * side:
        out.append(f"The upload is {w}×{h} pixels, upscaled to the model's {side}×{side}: much smaller than the "
                   "dataset's images, so its maps mostly show the upscaling.")
    if channels == 3 and info.channels == 1:
        out.append(f"The upload is in colour but {info.name} is grayscale: the model sees it converted to grey.")
    elif channels == 1 and info.channels == 3:
        out.append(f"The upload is grayscale but {info.name} is in colour: the model sees its grey in R, G and B.")
    x = tensor.detach().float().reshape(tensor.shape[0], -1)
    means, stds = x.mean(1).tolist(), x.std(1, unbiased=False).tolist()
    far = []
    for c, (m, s, dm, ds) in enumerate(zip(means, stds, info.mean, info.std)):
        name = f"{_CHANNEL_NAMES[c]} " if len(means) == 3 else ""
        if abs(m - dm) > MEAN_TOLERANCE * ds:
            far.append(f"{name}mean {m:.2f} vs {dm:.2f}")
        if not STD_RATIO[0] <= s / max(ds, 1e-6) <= STD_RATIO[1]:
            far.append(f"{name}std {s:.2f} vs {ds:.2f}")
    if far:
        out.append(f"The upload's pixel statistics are far from {info.name}'s ({', '.join(far)}): "
                   "the model never saw images like it, read its maps with care.")
    return out
