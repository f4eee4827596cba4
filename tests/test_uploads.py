"""Uploads: every supported format and mode converts to the model's size; bad files get one clear line."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xai_core.data.base import DatasetInfo
from xai_core.errors import InvalidInputError
from xai_core.uploads import load_upload

RGB = DatasetInfo("rgb", "quick", 64, 3, 10, tuple("0123456789"), (0.5,) * 3, (0.25,) * 3, False)
GRAY = DatasetInfo("gray", "quick", 28, 1, 10, tuple("0123456789"), (0.5,), (0.25,), False)


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


CASES = [(f, m) for f in ["PNG", "JPEG", "WEBP", "BMP"] for m in ["L", "RGB", "RGBA"]
         if not (f in ("JPEG", "BMP") and m == "RGBA")]  # JPEG and BMP have no alpha channel


@pytest.mark.parametrize("fmt, mode", CASES)
def test_formats_and_modes(fmt, mode):
    rng = np.random.default_rng(0)
    shape = (50, 80) if mode == "L" else (50, 80, len(mode))
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode)
    for info in (RGB, GRAY):
        x = load_upload(encode(img, fmt), info)
        assert x.shape == (info.channels, info.image_size, info.image_size)
        assert x.dtype.is_floating_point and 0 <= float(x.min()) and float(x.max()) <= 1


def test_sixteen_bit_uses_its_range():
    arr = np.linspace(1000, 3000, 40 * 40).reshape(40, 40).astype(np.uint16)
    x = load_upload(encode(Image.fromarray(arr), "PNG"), GRAY)
    assert float(x.min()) == pytest.approx(0.0, abs=0.02) and float(x.max()) == pytest.approx(1.0, abs=0.02)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    x = load_upload(encode(img, "PNG"), RGB)
    assert float(x.min()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not a readable image"),
        (encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")[:3000],
         "damaged"),
        (encode(Image.new("RGB", (20, 20)), "GIF"), "GIF"),
    ],
)
def test_bad_files(data, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        load_upload(data, RGB, "photo.png")
    assert "\n" not in str(err.value)


def test_limits(monkeypatch):
    import xai_core.uploads as up

    monkeypatch.setattr(up, "MAX_PIXELS", 100)
    with pytest.raises(InvalidInputError, match="limit is"):
        load_upload(encode(Image.new("RGB", (20, 20)), "PNG"), RGB)
    monkeypatch.setattr(up, "MAX_BYTES", 10)
    with pytest.raises(InvalidInputError, match="MB"):
        load_upload(encode(Image.new("RGB", (20, 20)), "PNG"), RGB)


def test_uploaded_image_is_explained_with_the_models_top1():
    from xai_core import services
    from xai_core.errors import XAIError

    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (90, 70, 3), dtype=np.uint8))
    x = load_upload(encode(img, "PNG"), ctx.info)[None]
    batch, expl = services.explain_images(ctx, ["gradient", "gradcam"], x)
    assert batch.masks is None and expl["gradient"].scores.shape == (1, 32, 32)
    with pytest.raises(XAIError, match="ground-truth"):
        services.explain_images(ctx, ["ground_truth"], x)
