"""The black boxes shipped in assets/ match the current code, and a fresh store starts from them."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from xai_core.data import dataset_info, get_dataset
from xai_core.data.base import TensorImageDataset
from xai_core.errors import XAIError
from xai_core.models import accuracy, build_model, load_black_box, train_config
from xai_core.models import assets
from xai_core.models.training import black_box_spec
from xai_core.store import ArtifactStore

REGEN = "stale: regenerate with `python -m xai_core assets` and commit assets/black_boxes/"


@pytest.mark.parametrize("dataset,preset,seed", assets.SHIPPED)
def test_shipped_black_box_matches_current_code(dataset, preset, seed, tmp_path):
    found = assets.read_asset(dataset, preset, seed)
    assert found is not None, f"missing {assets.asset_path(dataset, preset, seed)}; {REGEN}"
    spec, payload = found
    info = dataset_info(dataset, preset)
    expected = black_box_spec(info.spec(), payload["record"]["arch"], train_config(dataset, preset), seed)
    assert json.dumps(spec, sort_keys=True) == json.dumps(expected, sort_keys=True, default=str), REGEN

    model = build_model(payload["record"]["arch"], info)
    model.load_state_dict(payload["state_dict"])  # strict: same architecture, same parameter names
    test = get_dataset(dataset, "test", preset, ArtifactStore(tmp_path))
    subset = TensorImageDataset(test.info, "test", test.images[:300], test.labels[:300], test.masks[:300])
    # the data generator still produces what the model was trained on: accuracy as recorded
    assert accuracy(model.eval(), subset) == pytest.approx(payload["record"]["test_accuracy"], abs=0.04)


def test_fresh_store_starts_from_the_shipped_black_box(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    model, record = load_black_box("hard_mnist", "quick", store=store, train_if_missing=False)
    assert record["from_asset"] and record["from_cache"] and not model.training
    _, again = load_black_box("hard_mnist", "quick", store=store, train_if_missing=False)
    assert again["from_cache"] and not again["from_asset"]  # the store was seeded


def test_manifest_covers_every_shipped_file():
    sums = assets.read_manifest()
    for dataset, preset, seed in assets.SHIPPED:
        path = assets.asset_path(dataset, preset, seed)
        assert sums.get(path.name) == hashlib.sha256(path.read_bytes()).hexdigest(), f"{assets.MANIFEST}: {REGEN}"


def _copy_assets(tmp_path, monkeypatch) -> Path:
    """The shipped files and manifest in a scratch ASSET_DIR; returns the hard_mnist asset there."""
    shipped = assets.asset_path("hard_mnist", "quick", 0)
    monkeypatch.setattr(assets, "ASSET_DIR", tmp_path / "assets")
    shutil.copytree(shipped.parent, assets.ASSET_DIR)
    return assets.asset_path("hard_mnist", "quick", 0)


def test_stale_or_broken_asset_is_ignored(tmp_path, monkeypatch, caplog):
    path = _copy_assets(tmp_path, monkeypatch)
    blob = torch.load(path, weights_only=True)
    spec = json.loads(blob["spec"])
    spec["train"]["epochs"] += 1  # as if the training table changed since the asset was written
    assets.write_asset("hard_mnist", "quick", 0, spec, {"state_dict": blob["state_dict"], "record": blob["record"]})
    sums = assets.read_manifest()  # write_asset recorded the new checksum and kept the others
    assert sums[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(sums) == {assets.asset_path(*s).name for s in assets.SHIPPED}
    assert assets.read_asset("hard_mnist", "quick", 0)[0] == spec  # sound file ...
    with pytest.raises(XAIError, match="no trained black box"):  # ... but stale
        load_black_box("hard_mnist", "quick", store=ArtifactStore(tmp_path / "s1"), train_if_missing=False)
    assert "stale" in caplog.text

    path.write_bytes(b"garbage")  # checksum mismatch
    with pytest.raises(XAIError, match="no trained black box"):
        load_black_box("hard_mnist", "quick", store=ArtifactStore(tmp_path / "s2"), train_if_missing=False)
    assert "checksum mismatch" in caplog.text

    manifest = assets.manifest_path()  # garbage with a matching checksum: unreadable
    manifest.write_text(f"{hashlib.sha256(b'garbage').hexdigest()}  {path.name}\n")
    assert assets.read_asset("hard_mnist", "quick", 0) is None and "unreadable" in caplog.text


def test_corrupted_asset_is_detected(tmp_path, monkeypatch, caplog):
    """16 flipped bytes in the weights still unpickle; the manifest's checksum catches them."""
    path = _copy_assets(tmp_path, monkeypatch)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # torch alone does not notice
    assert assets.read_asset("hard_mnist", "quick", 0) is None and "checksum mismatch" in caplog.text
    with pytest.raises(XAIError, match="no trained black box"):
        load_black_box("hard_mnist", "quick", store=ArtifactStore(tmp_path / "s"), train_if_missing=False)

    assets.manifest_path().unlink()  # no manifest: nothing is trusted
    assert assets.read_asset("spurious_patch", "quick", 0) is None and "no checksum" in caplog.text
