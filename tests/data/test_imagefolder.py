"""``imagefolder:PATH``: layouts and their validation, streamed decoding (one file at a time, in
DataLoader workers or in-process: the same values), mean/std from a cached sample, errors that
name the file when it is read, cheap pickling."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from xai_core.data import _common, dataset_info, get_dataset, imagefolder
from xai_core.data._common import channel_stats
from xai_core.data.base import ImageDataset
from xai_core.data.imagefolder import StreamedImageDataset
from xai_core.errors import InvalidInputError, UnknownNameError
from xai_core.store import ArtifactStore


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def _pixels(ds) -> torch.Tensor:
    """The whole (small) split as N×3×S×S uint8."""
    return (ds.batch(range(len(ds))).x * 255).round().to(torch.uint8)


def _all(ds: ImageDataset):
    b = ds.batch(list(range(len(ds))))
    return b.x, b.y, b.masks


def _image(path: Path, size=(20, 16), colour=(200, 30, 30), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else 128).save(path)


def _noise(path: Path, size=(37, 23), seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _mask(path: Path, size=(20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros(size[::-1], dtype=np.uint8)
    arr[: size[1] // 2] = 255
    Image.fromarray(arr).save(path)


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "imgs"
    for split, n in (("train", 3), ("test", 2)):
        for cls, colour in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
            for i in range(n):
                _image(root / split / cls / f"{cls}{i}.png", colour=colour)
                _mask(root / "masks" / split / cls / f"{cls}{i}.png")
    _image(root / "train" / "dog" / "grey.jpg", size=(30, 30), mode="L")
    _mask(root / "masks" / "train" / "dog" / "grey.bmp", size=(30, 30))
    (root / "train" / "dog" / "notes.txt").write_text("ignored")
    return root


@pytest.fixture
def noisy(tmp_path) -> Path:
    """Photos that resizing changes (noise, odd sizes, one grey JPEG), with masks: 2 classes × 6."""
    root = tmp_path / "noisy"
    for split in ("train", "test"):
        for c, cls in enumerate(("a", "b")):
            for i in range(6):
                size = (31 + 7 * i, 19 + 5 * c)
                _noise(root / split / cls / f"{i}.png", size, seed=100 * c + i + (0 if split == "train" else 50))
                _mask(root / "masks" / split / cls / f"{i}.png", size)
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (40, 24), dtype=np.uint8)).save(root / "test/b/g.jpg")
    _mask(root / "masks" / "test" / "b" / "g.png", (24, 40))
    return root


def _reference(path: Path, mask: Path | None, size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A straightforward decode of one file (plain PIL): what the old whole-folder decode stored."""
    img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()).float() / 255.0
    if mask is None:
        return x, None
    m = np.asarray(Image.open(mask).convert("L")) > 127
    return x, torch.from_numpy(np.array(Image.fromarray(m).resize((size, size), Image.NEAREST), dtype=bool))


# -- layouts, labels, masks, statistics -----------------------------------------------------------
def test_imagefolder_happy_path(folder, store):
    name = f"imagefolder:{folder}"
    train = get_dataset(name, "train", "smoke", store=store)
    assert isinstance(train, StreamedImageDataset)
    info = train.info
    assert info.class_names == ("cat", "dog") and info.channels == 3 and info.image_size == 32
    assert info.splits == ("train", "test") and info.has_ground_truth
    assert info.extra["sizes"] == {"train": 7, "test": 4}
    x, y, m = _all(train)
    assert x.shape == (7, 3, 32, 32) and y.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert m.shape == (7, 32, 32) and m[0, :16].all() and not m[0, 16:].any()
    mean, std = channel_stats(_pixels(train))  # 7 images: the sample is the whole train split
    assert np.allclose(info.mean, mean) and np.allclose(info.std, std)
    assert len(get_dataset(name, "test", "smoke", store=store)) == 4
    assert dataset_info(name, "quick").image_size == 64
    with pytest.raises(UnknownNameError, match="train, test"):
        get_dataset(name, "val", "smoke", store=store)


def test_imagefolder_without_masks_and_only_test(tmp_path, store):
    root = tmp_path / "t"
    _image(root / "test" / "a" / "x.webp")
    _image(root / "test" / "b" / "y.jpeg")
    ds = get_dataset(f"imagefolder:{root}", "test", "smoke", store=store)
    assert ds.info.splits == ("test",) and not ds.info.has_ground_truth and ds[0][2] is None


def test_flat_layout_is_one_test_split(tmp_path, store):
    root = tmp_path / "flat"
    for cls, colour in (("zebra", (0, 0, 0)), ("apple", (255, 0, 0))):
        for i in range(2):
            _image(root / cls / f"{i}.png", colour=colour)
            _mask(root / "masks" / cls / f"{i}.png")
    _image(root / "loose.png")  # files beside the class folders are not images of a class
    name = f"imagefolder:{root}"
    ds = get_dataset(name, "test", "smoke", store=store)
    assert ds.info.splits == ("test",) and ds.info.class_names == ("apple", "zebra") and ds.info.has_ground_truth
    x, y, m = _all(ds)
    assert y.tolist() == [0, 0, 1, 1] and x.shape == (4, 3, 32, 32) and m.shape == (4, 32, 32)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 0, 0])) and float(x[3].max()) == 0
    assert m[0, :16].all() and not m[0, 16:].any()
    assert dataset_info(name, "smoke").mean == pytest.approx((0.5, 0, 0), abs=1e-4)
    with pytest.raises(UnknownNameError, match="choose from: test$"):
        get_dataset(name, "train", "smoke", store=store)
    (root / "masks" / "zebra" / "1.png").unlink()
    with pytest.raises(InvalidInputError, match=r"missing mask for .*zebra/1\.png: expected .*masks/zebra/1\.<"):
        get_dataset(name, "test", "smoke", store=store)


def test_streamed_samples_equal_a_plain_decode_of_each_file(noisy, store):
    for preset, size in (("smoke", 32), ("quick", 64)):
        for split in ("train", "test"):
            ds = get_dataset(f"imagefolder:{noisy}", split, preset, store=store)
            assert len(ds) == (12 if split == "train" else 13)
            for i in range(len(ds)):
                x, label, mask = ds[i]
                want_x, want_m = _reference(ds.path(i), Path(ds.root) / ds.mask_files[i], size)
                assert x.dtype == torch.float32 and torch.equal(x, want_x), (split, i)
                assert mask.dtype == torch.bool and torch.equal(mask, want_m), (split, i)
                assert label == ("ab".index(ds.path(i).parent.name))
            b = ds.batch([3, 0, 12 % len(ds)])
            assert torch.equal(b.x, torch.stack([ds[3][0], ds[0][0], ds[12 % len(ds)][0]]))


def test_batches_and_loader_in_workers_equal_in_process(noisy, store):
    ds = get_dataset(f"imagefolder:{noisy}", "test", "smoke", store=store)
    plan = [[0, 1, 2, 3, 4], [12, 5], [7], [6, 8, 9, 10, 11]]
    here = list(ds.batches(plan, workers=0))
    there = list(ds.batches(plan, workers=2))
    assert len(here) == len(there) == 4
    for a, b in zip(here, there):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.masks, b.masks)
        assert torch.equal(a.indices, b.indices) and a.x.dtype == b.x.dtype == torch.float32
    ds.workers = 2
    assert [b.indices.tolist() for b in ds.batches(plan)] == plan
    for shuffle in (False, True):
        a = list(ds.loader(4, shuffle=shuffle, seed=3, workers=0))
        b = list(ds.loader(4, shuffle=shuffle, seed=3, workers=2))
        assert [t.indices.tolist() for t in a] == [t.indices.tolist() for t in b]
        assert all(torch.equal(s.x, t.x) and torch.equal(s.masks, t.masks) for s, t in zip(a, b))
        assert torch.equal(torch.cat([t.x for t in a]), ds.batch(torch.cat([t.indices for t in a])).x)


def test_workers_default_and_environment(noisy, store, monkeypatch):
    ds = get_dataset(f"imagefolder:{noisy}", "test", "smoke", store=store)
    monkeypatch.delenv("XAI_DATA_WORKERS", raising=False)
    assert ds.workers == min(4, len(os.sched_getaffinity(0))) >= 1
    monkeypatch.setenv("XAI_DATA_WORKERS", "0")
    assert ds.workers == 0 and imagefolder.default_workers() == 0
    monkeypatch.setenv("XAI_DATA_WORKERS", "3")
    assert ds.workers == 3
    ds.workers = 1
    assert ds.workers == 1
    monkeypatch.setenv("XAI_DATA_WORKERS", "many")
    with pytest.raises(InvalidInputError, match="XAI_DATA_WORKERS must be a whole number"):
        imagefolder.default_workers()


def test_pickling_holds_no_pixels(noisy, store):
    small = get_dataset(f"imagefolder:{noisy}", "test", "smoke", store=store)
    large = get_dataset(f"imagefolder:{noisy}", "test", "paper", store=store)
    blob = pickle.dumps(large)
    assert len(blob) < 3000 + 200 * len(large)  # paths and labels only (one 224-px image is 150 kB)
    assert abs(len(blob) - len(pickle.dumps(small))) < 100  # the image size changes no byte count
    clone = pickle.loads(blob)
    assert torch.equal(clone[5][0], large[5][0]) and clone.info == large.info


# -- mean/std: a seeded sample, cached --------------------------------------------------------------
def test_mean_std_from_a_cached_seeded_sample(noisy, tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(imagefolder, "STATS_SAMPLE", 5)
    name = f"imagefolder:{noisy}"
    info = dataset_info(name, "smoke")
    train = get_dataset(name, "train", "smoke")
    picked = sorted(np.random.default_rng(0).choice(len(train), 5, replace=False).tolist())
    mean, std = channel_stats(torch.stack([(train[i][0] * 255).round().to(torch.uint8) for i in picked]))
    assert info.mean == pytest.approx(mean, abs=1e-4) and info.std == pytest.approx(std, abs=1e-4)
    assert info.mean != pytest.approx(channel_stats(_pixels(train))[0], abs=1e-4)  # not the whole split

    def no_reads(*args, **kwargs):
        raise AssertionError("an image was read")

    monkeypatch.setattr(imagefolder, "open_image", no_reads)
    monkeypatch.setattr(imagefolder, "open_mask", no_reads)
    assert dataset_info(name, "smoke") == info  # from the cache: no image read
    test = get_dataset(name, "test", "smoke")
    assert test.info == info and len(test) == 13
    entries = list((tmp_path / "cache" / "dataset").rglob("*"))
    assert entries and sum(p.stat().st_size for p in entries if p.is_file()) < 20_000  # no pixels cached


def test_imagefolder_picks_up_changes(folder, store):
    name = f"imagefolder:{folder}"
    before = _pixels(get_dataset(name, "test", "smoke", store=store))
    mean = get_dataset(name, "train", "smoke", store=store).info.mean
    _image(folder / "test" / "cat" / "cat0.png", colour=(0, 255, 0))
    os.utime(folder / "test" / "cat" / "cat0.png", ns=(1, 1))
    after = _pixels(get_dataset(name, "test", "smoke", store=store))
    assert not torch.equal(before, after)
    _image(folder / "train" / "cat" / "cat0.png", colour=(0, 255, 0))  # the statistics are measured again
    os.utime(folder / "train" / "cat" / "cat0.png", ns=(1, 1))
    assert get_dataset(name, "train", "smoke", store=store).info.mean != mean


# -- errors -----------------------------------------------------------------------------------------
def test_imagefolder_bad_inputs(folder, tmp_path, store):
    def err(path) -> str:
        with pytest.raises(InvalidInputError) as e:
            _all(get_dataset(f"imagefolder:{path}", "test", "smoke", store=store))  # opening or reading
        assert "\n" not in str(e.value)
        return str(e.value)

    assert "does not exist" in err(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "no train/ or test/ folder" in err(tmp_path / "empty")
    (tmp_path / "noimg" / "test" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "test" / "a" / "x.txt").write_text("x")
    assert "no images in" in err(tmp_path / "noimg")
    (tmp_path / "noimg2" / "a").mkdir(parents=True)
    assert "no images in" in err(tmp_path / "noimg2")

    (folder / "masks" / "test" / "dog" / "dog1.png").unlink()
    assert "missing mask for" in err(folder) and "dog1.png" in err(folder)
    _mask(folder / "masks" / "test" / "dog" / "dog1.png", size=(8, 8))
    assert "is 8×8 but its image" in err(folder)
    _mask(folder / "masks" / "test" / "dog" / "dog1.png")

    (folder / "test" / "cat" / "cat1.png").write_bytes(b"not a png")
    msg = err(folder)
    assert "not a readable image" in msg and msg.startswith(str(folder.resolve())) and "cat1.png" in msg


def test_a_corrupt_file_is_one_line_naming_it_when_read(folder, store):
    bad = folder / "test" / "dog" / "dog1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing usable
    ds = get_dataset(f"imagefolder:{folder}", "test", "smoke", store=store)  # the layout is fine
    assert ds[0][0].shape == (3, 32, 32)  # the other files read
    for read in (lambda: ds[3], lambda: _all(ds), lambda: list(ds.batches([[0, 1], [2, 3]], workers=2)),
                 lambda: list(ds.loader(2, workers=2))):
        with pytest.raises(InvalidInputError) as e:
            read()
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(str(bad.resolve())), msg
        assert "DataLoader" not in msg and "Traceback" not in msg


def test_imagefolder_refuses_huge_images(tmp_path, store, monkeypatch):
    root = tmp_path / "big"
    _image(root / "test" / "a" / "x.png", size=(100, 100))
    _image(root / "test" / "b" / "y.png", size=(100, 100))
    monkeypatch.setattr(_common, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(InvalidInputError, match="too large"):
        _all(get_dataset(f"imagefolder:{root}", "test", "smoke", store=store))
