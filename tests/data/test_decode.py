"""The one image decoder: every file of the fuzz corpus (``tests/fuzz/images``, written by
``tests/fuzz/make_images.py`` with its expectations in ``EXPECTED.json``) goes through both the
upload path (:func:`load_upload`) and the ``imagefolder:`` path (:func:`open_image`); each gives
the expected one-line error or the expected pixels, and both agree on every accepted file."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from xai_core import uploads
from xai_core.data import dataset_info, get_dataset
from xai_core.data._common import open_image
from xai_core.errors import InvalidInputError
from xai_core.store import ArtifactStore
from xai_core.uploads import load_upload

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "images"
EXPECTED: dict = json.loads((CORPUS / "EXPECTED.json").read_text())
FILES = sorted(EXPECTED)
INFOS = {"rgb": dataset_info("hard_mnist", "quick"), "grey": dataset_info("mnist", "quick")}


def luma(rgb) -> float:
    r, g, b = rgb
    return (299 * r + 587 * g + 114 * b) / 1000


def error_for(name: str, path: str) -> str | None:
    entry = EXPECTED[name]
    return entry.get(f"{path}_error", entry.get("error"))


def check_one_line(err: InvalidInputError, expected: str, names: str) -> str:
    msg = str(err)
    assert expected in msg, msg
    assert "\n" not in msg and "\r" not in msg and "Traceback" not in msg and 'File "' not in msg, msg
    assert names in msg, msg
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)  # no chained traceback
    return msg


def fitted(img: Image.Image, size: int) -> torch.Tensor:
    """What ``load_upload`` does after decoding, applied to ``open_image``'s result."""
    arr = np.asarray(ImageOps.fit(img, (size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)))


def test_corpus_is_complete_and_small():
    on_disk = {p.name for p in CORPUS.iterdir()} - {"EXPECTED.json"}
    assert on_disk == set(EXPECTED) and len(on_disk) >= 30
    sizes = [p.stat().st_size for p in CORPUS.iterdir()]
    assert max(sizes) < 50_000 and sum(sizes) < 1_000_000
    for name, entry in EXPECTED.items():  # each path expects an error or an image, never neither
        for path in ("upload", "folder"):
            assert error_for(name, path) is not None or {"size", "pixels"} <= set(entry), (name, path)


@pytest.mark.parametrize("name", FILES)
def test_upload_path(name, monkeypatch):
    entry, data = EXPECTED[name], (CORPUS / name).read_bytes()
    if "upload_max_bytes" in entry:
        monkeypatch.setattr(uploads, "MAX_BYTES", entry["upload_max_bytes"])
    error = error_for(name, "upload")
    for info in INFOS.values():
        if error is not None:
            with pytest.raises(InvalidInputError) as err:
                load_upload(data, info, name)
            msg = check_one_line(err.value, error, name)
            assert "/" not in msg.replace(name, "") and str(CORPUS) not in msg  # nothing but the file's name
            continue
        x = load_upload(data, info, name)
        assert x.shape == (info.channels, info.image_size, info.image_size) and x.dtype == torch.float32
        assert torch.isfinite(x).all() and 0 <= float(x.min()) and float(x.max()) <= 1
        if entry.get("uniform"):  # a one-colour file: every output pixel is that colour
            _, _, rgb, tol = entry["pixels"][0]
            want = torch.tensor([luma(rgb)] if info.channels == 1 else rgb, dtype=torch.float32)[:, None, None]
            assert (x * 255 - want).abs().max() <= tol + 1, (name, x.flatten()[:3] * 255, want.flatten())


@pytest.mark.parametrize("name", FILES)
def test_imagefolder_path(name):
    entry, path = EXPECTED[name], CORPUS / name
    error = error_for(name, "folder")
    for mode in ("RGB", "L"):
        if error is not None:
            with pytest.raises(InvalidInputError) as err:
                open_image(path, mode)
            check_one_line(err.value, error, str(path))
            continue
        img = open_image(path, mode)
        assert img.mode == mode and list(img.size) == entry["size"]
        for x, y, rgb, tol in entry["pixels"]:
            got = img.getpixel((x, y))
            if mode == "RGB":
                assert all(abs(g - w) <= tol for g, w in zip(got, rgb)), (name, (x, y), got, rgb)
            else:
                assert abs(got - luma(rgb)) <= tol + 1, (name, (x, y), got, luma(rgb))


@pytest.mark.parametrize("name", [n for n in FILES if error_for(n, "upload") is None and error_for(n, "folder") is None])
def test_both_paths_agree(name):
    data, path = (CORPUS / name).read_bytes(), CORPUS / name
    for info in INFOS.values():
        mode = "L" if info.channels == 1 else "RGB"
        assert torch.equal(load_upload(data, info, name), fitted(open_image(path, mode), info.image_size)), name


@pytest.mark.parametrize("name", [n for n in FILES if "mask" in EXPECTED[n]])
def test_masks_cover_only_opaque_bright_pixels(name):
    from xai_core.data._common import open_mask

    mask, want = open_mask(CORPUS / name), EXPECTED[name]["mask"]
    assert mask.dtype == bool and list(mask.shape[::-1]) == EXPECTED[name]["size"]
    assert int(mask.sum()) == want["count"]
    assert all(mask[y, x] for x, y in want["inside"]) and not any(mask[y, x] for x, y in want["outside"])


# -- the bugs of the issue, end to end through imagefolder ----------------------------------------
def _folder(tmp_path: Path, files: dict[str, str]) -> str:
    for dest, src in files.items():
        (tmp_path / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / src, tmp_path / dest)
    return f"imagefolder:{tmp_path}"


def test_imagefolder_reads_16_bit_and_exif_like_uploads(tmp_path):
    name = _folder(tmp_path, {"test/a/ramp.png": "grey16_gradient.png", "test/b/photo.jpg": "exif_rot6.jpg"})
    ds = get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "store"))
    x = (ds.batch(range(len(ds))).x * 255).round().to(torch.uint8)  # 32×32
    ramp = x[0, 0, 1].float()  # was all white: 16-bit values clipped at 255
    assert ramp[0] < 10 and ramp[-1] > 245 and bool((ramp[1:] >= ramp[:-1]).all()) and 100 < ramp[16] < 160
    rotated = EXPECTED["exif_rot6.jpg"]["pixels"]  # the upright 32×64 picture, squashed to 32×32
    for px, py, rgb, tol in rotated:
        got = x[1, :, py // 2, px].tolist()
        assert all(abs(g - w) <= tol + 16 for g, w in zip(got, rgb)), (got, rgb)


def test_imagefolder_masks_with_a_transparent_background(tmp_path):
    name = _folder(tmp_path, {
        "test/a/pal.png": "palette_transparent.png", "masks/test/a/pal.png": "mask_palette_transparent.png",
        "test/b/sq.png": "one_bit.png", "masks/test/b/sq.png": "mask_rgba_transparent.png",
    })
    with pytest.raises(InvalidInputError, match="is 12×12 but its image"):
        get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "s1"))
    shutil.copy(CORPUS / "mask_rgba_transparent.png", tmp_path / "test/b/sq.png")
    ds = get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "s2"))
    masks = ds.batch(range(len(ds))).masks  # 32×32, nearest
    assert int(masks[0].sum()) == 36 * 4  # the 6×6 opaque square of 16×16, doubled; was all 1024
    assert 0 < int(masks[1].sum()) < 32 * 32 // 4 and not masks[1][0, 0]  # was all 1024


# -- the decoder's own rules ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B", "I"])
def test_high_depth_integer_grey_uses_the_full_16_bit_range(mode):
    from xai_core.data.decode import to_8bit

    dtype = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    for level in (0, 257, 32896, 65535):  # constant images keep their level
        img = Image.frombytes(mode, (4, 3), np.full((3, 4), level, dtype).tobytes())
        out = to_8bit(img)
        assert out.mode == "L" and set(np.asarray(out).ravel().tolist()) == {round(level / 257)}
    ramp = (np.arange(256) * 257).astype(dtype)[None]
    assert np.array_equal(np.asarray(to_8bit(Image.frombytes(mode, (256, 1), ramp.tobytes())))[0], np.arange(256))
    if mode == "I":  # out of 0..65535: clipped, not wrapped
        out = to_8bit(Image.frombytes("I", (2, 1), np.array([-5, 70000], "<i4").tobytes()))
        assert np.asarray(out).tolist() == [[0, 255]]


def test_float_grey_is_read_as_0_to_1():
    from xai_core.data.decode import to_8bit

    arr = np.array([[0.0, 0.5, 1.0, 2.0, -1.0, np.nan]], np.float32)
    assert np.asarray(to_8bit(Image.fromarray(arr))).tolist() == [[0, 128, 255, 255, 0, 0]]
    assert set(np.asarray(to_8bit(Image.fromarray(np.full((2, 2), 1.0, np.float32)))).ravel()) == {255}


def test_upload_name_cannot_break_the_line():
    with pytest.raises(InvalidInputError) as err:
        load_upload(b"not an image", INFOS["rgb"], "evil\nname\r.png")
    assert "\n" not in str(err.value) and "\r" not in str(err.value) and "evil?name?.png" in str(err.value)


def test_huge_headers_get_the_pixel_limit_message_not_unreadable():
    data = (CORPUS / "bomb_100m.png").read_bytes()  # between PIL's warning and error limits
    with pytest.raises(InvalidInputError, match=r"10000×10000 pixels; the limit is 40,000,000 pixels"):
        load_upload(data, INFOS["rgb"], "bomb.png")
    data = (CORPUS / "bomb_400m.png").read_bytes()  # over PIL's own limit: PIL refuses at open
    with pytest.raises(InvalidInputError, match=r"400,000,000 pixels; the limit is 40,000,000 pixels"):
        load_upload(data, INFOS["rgb"], "bomb.png")


def test_one_decoding_path():
    """Only the decoder opens image files; the data layer never imports the upload layer."""
    openers = [p.relative_to(ROOT).as_posix() for d in ("xai_core", "pages") for p in (ROOT / d).rglob("*.py")
               if re.search(r"Image\.open\(|imread\(", p.read_text())]
    assert openers == ["xai_core/data/decode.py"]
    imports_uploads = re.compile(r"^\s*(from|import)\s+\S*uploads\b", re.M)
    assert not [p for p in (ROOT / "xai_core" / "data").rglob("*.py") if imports_uploads.search(p.read_text())]
    assert re.search(r"^from \.data import decode$", (ROOT / "xai_core" / "uploads.py").read_text(), re.M)
