"""Uploads: every supported format and mode converts to the model's size; bad files get one clear line."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xai_core.data.base import DatasetInfo
from xai_core.data.decode import decode_image
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


def test_sixteen_bit_is_scaled_by_its_full_range():
    """16-bit grey is v / 65535, not stretched to the image's own min/max: a constant image keeps
    its level (constant white was black) and a dim image stays dim."""
    arr = np.linspace(1000, 3000, 40 * 40).reshape(40, 40).astype(np.uint16)
    x = load_upload(encode(Image.fromarray(arr), "PNG"), GRAY)
    assert float(x.min()) == pytest.approx(1000 / 65535, abs=1 / 255) and float(x.max()) == pytest.approx(
        3000 / 65535, abs=1 / 255
    )
    for level in (0, 20000, 65535):
        for info in (GRAY, RGB):
            x = load_upload(encode(Image.fromarray(np.full((30, 20), level, np.uint16)), "PNG"), info)
            assert float(x.min()) == float(x.max()) == pytest.approx(round(level / 257) / 255)


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


def test_multi_picture_jpeg_is_its_first_picture():
    first, second = Image.new("RGB", (40, 30), (250, 0, 0)), Image.new("RGB", (40, 30), (0, 250, 0))
    buf = io.BytesIO()
    first.save(buf, format="MPO", save_all=True, append_images=[second])
    x = load_upload(buf.getvalue(), RGB, "camera.jpg")
    assert x[0].min() > 0.9 and x[1].max() < 0.1


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 250))
    img.paste((250, 0, 0), (0, 0, 20, 20))  # red left half: on top once turned clockwise (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(buf.getvalue())
    assert decoded.size == (20, 40)  # upright: 20 wide, 40 high
    top, bottom = np.asarray(decoded)[5, 10], np.asarray(decoded)[35, 10]
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60
    x = load_upload(buf.getvalue(), RGB)  # the centre 20×20 of the upright picture: the seam, red over blue
    assert x[0, :20].mean() > 0.8 and x[2, -20:].mean() > 0.8


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
