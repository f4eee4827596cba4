"""The black boxes shipped in assets/ match the current code, and a fresh store starts from them."""
from __future__ import annotations

import json

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


def test_stale_or_broken_asset_is_ignored(tmp_path, monkeypatch):
    shipped = assets.asset_path("hard_mnist", "quick", 0)
    blob = torch.load(shipped, weights_only=True)
    spec = json.loads(blob["spec"])
    spec["train"]["epochs"] += 1  # as if the training table changed since the asset was written
    monkeypatch.setattr(assets, "ASSET_DIR", tmp_path / "assets")
    assets.ASSET_DIR.mkdir()
    torch.save({**blob, "spec": json.dumps(spec)}, assets.asset_path("hard_mnist", "quick", 0))
    with pytest.raises(XAIError, match="no trained black box"):
        load_black_box("hard_mnist", "quick", store=ArtifactStore(tmp_path / "s1"), train_if_missing=False)

    assets.asset_path("hard_mnist", "quick", 0).write_bytes(b"garbage")
    with pytest.raises(XAIError, match="no trained black box"):
        load_black_box("hard_mnist", "quick", store=ArtifactStore(tmp_path / "s2"), train_if_missing=False)
