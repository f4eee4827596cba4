"""Validate and convert a user's image file for a dataset's model. Decoding (formats, modes,
16-bit, transparency, EXIF orientation, limits, the one-line errors) is
:func:`xai_core.data.decode.decode_image`, shared with ``imagefolder:``; this module only adds the
byte limit and fits the result to the model's input."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from .data import decode
from .data.base import DatasetInfo

FORMATS = decode.FORMATS
EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")
MAX_BYTES = decode.MAX_BYTES
MAX_PIXELS = decode.MAX_PIXELS


def load_upload(data: bytes, info: DatasetInfo, name: str = "upload") -> torch.Tensor:
    """Decode ``data`` into a C×H×W float tensor in [0, 1] at ``info``'s size and channels
    (short side resized, centre-cropped to a square); raise :class:`InvalidInputError` (one line
    naming only ``name``) otherwise."""
    img = decode.decode_image(
        data, name, mode="L" if info.channels == 1 else "RGB", max_pixels=MAX_PIXELS, max_bytes=MAX_BYTES
    )
    img = ImageOps.fit(img, (info.image_size, info.image_size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))
