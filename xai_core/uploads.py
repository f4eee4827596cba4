"""Validate and convert a user's image file for a dataset's model: PNG, JPEG, WebP or BMP;
grayscale, RGB, RGBA or 16-bit; size and pixel-count limits. Bad files get one clear line."""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data.base import DatasetInfo
from .errors import InvalidInputError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")
MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer/float grayscale → 8-bit, scaled by the image's own range."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.round().astype(np.uint8), mode="L")
    return img


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite transparent images on white (what a viewer shows)."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def load_upload(data: bytes, info: DatasetInfo, name: str = "upload") -> torch.Tensor:
    """Decode ``data`` into a C×H×W float tensor in [0, 1] at ``info``'s size and channels
    (short side resized, centre-cropped to a square); raise :class:`InvalidInputError` otherwise."""
    if not data:
        raise InvalidInputError(f"{name} is empty")
    if len(data) > MAX_BYTES:
        raise InvalidInputError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in FORMATS:
                raise InvalidInputError(f"{name} is a {img.format} image; use one of {', '.join(FORMATS)}")
            if img.width * img.height > MAX_PIXELS:
                raise InvalidInputError(
                    f"{name} has {img.width}×{img.height} pixels; the limit is {MAX_PIXELS // 1_000_000} million"
                )
            img.load()
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidInputError(f"{name} is not a readable image (PNG, JPEG, WebP or BMP)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise InvalidInputError(f"{name} is damaged or truncated ({err})") from None
    img = ImageOps.exif_transpose(img)
    img = _flatten_alpha(_to_8bit(img))
    img = img.convert("L" if info.channels == 1 else "RGB")
    img = ImageOps.fit(img, (info.image_size, info.image_size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))
