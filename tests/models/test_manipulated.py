"""The manipulated black box (DiET §5.4, issue 26): its record says where its input gradients point (corner
mass, gradient IoU with the ground truth on held-out test images), it trains on until the gradient IoU
reaches the target or the cap, says whether it got there, and trains deterministically."""
from __future__ import annotations

import pytest
import torch

import xai_core.data as data_pkg
from xai_core.data.base import DatasetInfo, TensorImageDataset
from xai_core.metrics import iou
from xai_core.models import load_black_box
from xai_core.models import training
from xai_core.models.training import (MANIPULATION_CHECK, MANIPULATION_WEIGHT, ManipulationCheck, gradient_check,
                                      manipulation_verified, train_black_box)
from xai_core.store import ArtifactStore

INFO = DatasetInfo("boxes", "smoke", 28, 1, 4, ("0", "1", "2", "3"), (0.2,), (0.3,), True)
PLACES = [(10, 10), (10, 18), (18, 10), (18, 18)]  # class c: a bright 6×6 square here, away from the corner


def boxes(n: int, split: str, seed: int) -> TensorImageDataset:
    """Class c = a bright square at PLACES[c] over noise; its ground truth is the square."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    masks = torch.zeros(n, 28, 28, dtype=torch.bool)
    for i, c in enumerate(labels.tolist()):
        r, col = PLACES[c]
        x[i, :, r:r + 6, col:col + 6] = 1.0
        masks[i, r:r + 6, col:col + 6] = True
    return TensorImageDataset(INFO, split, (x * 255).round().to(torch.uint8), labels, masks)


TRAIN, TEST = boxes(64, "train", 0), boxes(48, "test", 1)
SETTINGS = dict(epochs=3, lr=3e-3, batch_size=16)


def test_gradient_check_measures_the_corner_and_the_iou_metric():
    """An honest model's gradients sit on the square; the manipulated one trains on past its 3 epochs until its
    gradient IoU is ≤ 0.05 (stopping at the first check that is) with its gradients moved to the corner. The IoU
    is the `iou` metric on the gradient method's map (max over channels of |∇x|) for the top-1, on the last
    test images."""
    honest, fair_record = train_black_box(TRAIN, TEST, "small_cnn", **SETTINGS)
    bent, record = train_black_box(TRAIN, TEST, "small_cnn", manipulation=MANIPULATION_WEIGHT,
                                   manipulation_check=ManipulationCheck(max_extra_epochs=8, images=40), **SETTINGS)
    check = record["manipulation_check"]
    ious = [h["gradient_iou"] for h in check["history"]]
    assert check["reached"] and check["extra_epochs"] >= 1 and ious[-1] <= 0.05 < min(ious[:-1])
    assert check["epochs_run"] == 3 + check["extra_epochs"] and manipulation_verified(record)[0]
    fair, bad = gradient_check(honest, TEST, 40), gradient_check(bent, TEST, 40)
    assert fair["images"] == bad["images"] == 40
    assert bad["corner_mass"] > fair["corner_mass"] + 0.3 and bad["gradient_iou"] < fair["gradient_iou"] - 0.2
    assert check["gradient_iou"] == pytest.approx(bad["gradient_iou"])
    assert check["corner_mass"] == pytest.approx(bad["corner_mass"])

    batch = TEST.batch(list(range(8, 48)))  # the last 40
    x = batch.x.requires_grad_(True)
    logits = honest(x)
    (grad,) = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), x)
    assert fair["gradient_iou"] == pytest.approx(float(iou(grad.abs().amax(1), batch.masks).mean()))
    assert not honest.training and "manipulation_check" not in fair_record


def test_stopping_rule_trains_on_until_the_target_or_the_cap():
    """Met target: no extra epoch, verified. Unreachable target: exactly the cap of extra epochs, each
    checked, not verified, with the reason."""
    _, met = train_black_box(TRAIN, TEST, "small_cnn", manipulation=MANIPULATION_WEIGHT,
                             manipulation_check=ManipulationCheck(target_iou=1.0, max_extra_epochs=3), **SETTINGS)
    check = met["manipulation_check"]
    assert check["reached"] and check["extra_epochs"] == 0 and check["epochs_run"] == 3 and len(check["history"]) == 1
    ok, reason = manipulation_verified(met)
    assert ok and "≤ 1.0" in reason

    _, missed = train_black_box(TRAIN, TEST, "small_cnn", manipulation=MANIPULATION_WEIGHT,
                                manipulation_check=ManipulationCheck(target_iou=-1.0, max_extra_epochs=1), **SETTINGS)
    check = missed["manipulation_check"]
    assert not check["reached"] and check["extra_epochs"] == 1 and check["epochs_run"] == 4
    assert [h["epoch"] for h in check["history"]] == [3, 4] and check["rule"]["target_iou"] == -1.0
    ok, reason = manipulation_verified(missed)
    assert not ok and "did not take" in reason

    assert manipulation_verified({"manipulation": 0.0})[0] is False
    assert "trained before the check" in manipulation_verified({"manipulation": 10.0})[1]
    no_gt = {"manipulation": 10.0, "manipulation_check": {**check, "gradient_iou": None}}
    assert "no ground-truth" in manipulation_verified(no_gt)[1]


def test_manipulated_training_is_deterministic():
    """Two runs (extra epochs included) give identical weights and identical checks."""
    rule = ManipulationCheck(target_iou=-1.0, max_extra_epochs=1, images=32)
    runs = [train_black_box(TRAIN, TEST, "small_cnn", manipulation=MANIPULATION_WEIGHT, manipulation_check=rule,
                            **SETTINGS) for _ in range(2)]
    (a, ra), (b, rb) = runs
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert ra["manipulation_check"]["history"] == rb["manipulation_check"]["history"]


def test_manipulated_cache_key_carries_the_rule_and_the_honest_key_is_unchanged(monkeypatch, tmp_path):
    config = training.train_config("boxes", "smoke")
    honest = training.black_box_spec({"d": 1}, "small_cnn", config, 0)
    assert honest["train"] == {"epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
                               "weight_decay": 0.0, "augment_shift": 0}  # the keys shipped assets were made with
    bent_config = training.TrainConfig(**{**honest["train"], "manipulation": 10.0})
    bent = training.black_box_spec({"d": 1}, "small_cnn", bent_config, 0)
    assert bent["train"]["manipulation_check"]["version"] == MANIPULATION_CHECK.version == 2

    rule = ManipulationCheck(max_extra_epochs=1, images=16)  # the default rule, smaller
    monkeypatch.setattr(training, "MANIPULATION_CHECK", rule)
    assert training.black_box_spec({"d": 1}, "small_cnn", bent_config, 0) != bent
    monkeypatch.setattr(data_pkg, "get_dataset", lambda name, split, preset="quick", store=None:
                        {"train": TRAIN, "test": TEST}[split], raising=False)
    monkeypatch.setattr(data_pkg, "dataset_info", lambda name, preset="quick": INFO, raising=False)
    _, record = load_black_box("boxes", "smoke", store=ArtifactStore(tmp_path), manipulated=True)
    check = record["manipulation_check"]
    assert check["rule"] == training.asdict(rule) and check["images"] == 16 and check["epochs_run"] <= 3
    assert manipulation_verified(record)[0] == check["reached"]
