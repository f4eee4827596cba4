"""Uploads: every supported format and mode converts to the model's size; bad files get one clear line."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from xai_core.data.base import DatasetInfo
from xai_core.data.decode import decode_image
from xai_core.errors import InvalidInputError
from xai_core.uploads import load_upload, read_upload, upload_warnings

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


def test_read_upload_keeps_size_and_channels_and_converts_as_before():
    rng = np.random.default_rng(3)
    colour = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (30, 50), dtype=np.uint8))
    for img, channels in ((colour, 3), (grey, 1), (grey.convert("RGB"), 1), (colour.convert("RGBA"), 3)):
        for info in (RGB, GRAY):
            up = read_upload(encode(img, "PNG"), info)
            assert up.size == (50, 30) and up.channels == channels
            assert torch.equal(up.tensor, load_upload(encode(img, "PNG"), info))
    # decoding to RGB and then to grey gives what decoding straight to grey gave
    direct = np.asarray(decode_image(encode(colour.convert("RGBA"), "PNG"), mode="L"))
    up = read_upload(encode(colour.convert("RGBA"), "PNG"), DatasetInfo(
        "g", "quick", 30, 1, 2, ("a", "b"), (0.5,), (0.25,), False))
    fitted = np.asarray(ImageOps.fit(Image.fromarray(direct), (30, 30), Image.BILINEAR), dtype=np.float32) / 255
    assert np.array_equal(up.tensor[0].numpy(), fitted)


def test_upload_warnings_tiny_flat_and_channel_changes():
    gray64 = DatasetInfo("gray", "quick", 64, 1, 10, tuple("0123456789"), (0.5,), (0.25,), False)
    tiny = read_upload(encode(Image.new("RGB", (8, 8), (200, 30, 30)), "PNG"), gray64)
    notes = upload_warnings(tiny.size, tiny.channels, tiny.tensor, gray64)
    assert len(notes) == 3 and all("\n" not in n for n in notes)
    assert "8×8 pixels, upscaled to the model's 64×64" in notes[0]
    assert "in colour but gray is grayscale" in notes[1]
    assert "pixel statistics are far from gray's" in notes[2] and "std 0.00 vs 0.25" in notes[2]

    grey = read_upload(encode(Image.fromarray(np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8)),
                              "JPEG"), RGB)
    notes = upload_warnings(grey.size, grey.channels, grey.tensor, RGB)
    assert notes == ["The upload is grayscale but rgb is in colour: the model sees its grey in R, G and B."]
    dark = DatasetInfo("dark", "quick", 64, 3, 10, tuple("0123456789"), (0.1,) * 3, (0.2,) * 3, False)
    (note,) = upload_warnings((64, 64), 3, torch.ones(3, 64, 64), dark)  # white on a dark dataset
    assert "R mean 1.00 vs 0.10" in note and "B std 0.00 vs 0.20" in note
    assert upload_warnings((64, 64), 3, torch.rand(3, 64, 64) * 0.45, dark) == []  # dark and varied: in range
    assert upload_warnings((16, 400), 3, torch.rand(3, 64, 64), RGB) == []  # a quarter of the side: not flagged
    assert "15×400 pixels" in upload_warnings((15, 400), 3, torch.rand(3, 64, 64), RGB)[0]


@pytest.mark.parametrize("size", [(1, 1), (3, 300), (300, 3)])
def test_uploads_under_four_pixels_a_side_are_refused_in_one_line(size):
    with pytest.raises(InvalidInputError) as err:
        read_upload(encode(Image.new("RGB", size, (200, 30, 30)), "PNG"), RGB, "dot.png")
    assert str(err.value) == f"dot.png is {size[0]}×{size[1]} pixels; uploads need at least 4 pixels on each side"
    assert read_upload(encode(Image.new("RGB", (4, 4)), "PNG"), RGB).size == (4, 4)


@pytest.mark.parametrize("dataset", ["hard_mnist", "mnist"])
def test_the_datasets_own_images_get_no_warning(dataset):
    from xai_core import services

    ctx = services.load_context(dataset, "smoke", device="cpu")
    info = ctx.info
    x = services.evaluation_split(ctx, "test").batch(list(range(200))).x
    flagged = [i for i in range(len(x)) if upload_warnings((info.image_size,) * 2, info.channels, x[i], info)]
    assert not flagged
