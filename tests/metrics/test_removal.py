"""COMET's evaluation metrics (xai_core.metrics.removal): fidelity under removal of the top pixels,
the IoU curve over thresholds, and robustness (PxAP clean / noisy / other background), a group metric."""
from __future__ import annotations

import math

import pytest
import torch

from xai_core.errors import InvalidInputError
from xai_core.metrics import (
    METRICS,
    EvalInputs,
    aggregate,
    aggregate_group,
    fidelity_removal,
    headline,
    iou_curve,
    merge_batches,
    normalised_auc,
    pxap,
    remove_at_random,
    robustness,
    summary,
)

from .helpers import DEVICES, PixelModel, scores_with_rank


def _pixel_batch(device: str = "cpu") -> tuple[PixelModel, torch.Tensor]:
    """10×10 images whose pixel (0, 0) is bright (class 1); PixelModel reads that pixel only."""
    x = torch.full((1, 1, 10, 10), 0.3, device=device)
    x[0, 0, 0, 0] = 1.0
    return PixelModel().to(device), x


# -- fidelity_removal ----------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_removing_the_one_pixel_the_model_reads_drops_accuracy_at_once(device):
    model, x = _pixel_batch(device)
    labels = torch.tensor([1], device=device)
    first = scores_with_rank(10, 10, pixel=0, rank=0)[None].to(device)
    last = scores_with_rank(10, 10, pixel=0, rank=99)[None].to(device)
    assert fidelity_removal(model, x, labels, first, fill=0.0).tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert fidelity_removal(model, x, labels, last, fill=0.0).tolist() == [[1.0, 1.0, 1.0, 1.0]]
    # ties as in .ranking: a constant map removes the lowest row-major indices first, pixel (0, 0) among them
    assert fidelity_removal(model, x, labels, torch.zeros(1, 10, 10, device=device), fill=0.0)[0, 1] == 0.0
    # the fill matters: a bright fill keeps the prediction
    assert fidelity_removal(model, x, labels, first, fill=0.9).tolist() == [[1.0] * 4]


def test_fidelity_removal_is_the_same_whatever_the_chunking():
    g = torch.Generator().manual_seed(0)
    x, scores = torch.rand(5, 1, 10, 10, generator=g), torch.rand(5, 10, 10, generator=g)
    model = PixelModel(3, 4)
    labels = model(x).argmax(1)
    a = fidelity_removal(model, x, labels, scores, (0.0, 0.3, 0.6, 1.0), fill=0.5, batch_size=1)
    b = fidelity_removal(model, x, labels, scores, (0.0, 0.3, 0.6, 1.0), fill=0.5)
    assert torch.equal(a, b) and a.shape == (5, 4) and (a[:, 0] == 1).all()


def test_registered_fidelity_scores_the_explained_model_against_labels_or_the_target():
    model, x = _pixel_batch()
    black_box = PixelModel(5, 5)  # reads another pixel: removing (0, 0) does not move it
    first = scores_with_rank(10, 10, 0, 0)[None]
    inputs = EvalInputs(model=model, black_box=black_box, x=x, labels=torch.tensor([-1]), target=torch.tensor([1]),
                        scores=first, masks=None, fill=torch.tensor([0.0]))
    metric = METRICS.get("fidelity_removal")
    out = metric(inputs)
    assert out["x"].tolist() == [0.0, 0.05, 0.1, 0.2]
    assert out["accuracy"].tolist() == [[1.0, 0.0, 0.0, 0.0]]  # the label is unknown (-1): the target counts
    assert metric(inputs, model="black_box")["accuracy"].tolist() == [[0.0] * 4]  # black box: pixel (5, 5) is dark
    result = aggregate(metric, out)
    assert result["x"] == [0.0, 0.05, 0.1, 0.2] and result["y"] == [1.0, 0.0, 0.0, 0.0] and result["n"] == 1
    assert result["auc"] == pytest.approx(0.125)  # mean height over [0, 0.2]: the first segment only
    assert metric.higher_is_better is False and metric.kind == "curve" and not metric.needs_ground_truth
    assert "COMET" in metric.description and "Table 5" in metric.description
    assert metric.describe(fill=[0.2])["fill_value"] == [pytest.approx(0.2)]


# -- iou_curve -----------------------------------------------------------------------------------
def _square(b: int = 1) -> torch.Tensor:
    gt = torch.zeros(b, 8, 8, dtype=torch.bool)
    gt[:, 2:5, 3:6] = True  # 9 of 64 pixels
    return gt


def test_a_map_equal_to_the_ground_truth_scores_one_but_at_t_zero():
    gt = _square()
    curve = iou_curve(gt.float() * 3.0 - 1.0, gt)  # any affine copy: min-max normalised first
    p = 9 / 64
    assert curve.shape == (1, 21) and curve[0, 0].item() == pytest.approx(p) and (curve[0, 1:] == 1.0).all()
    auc = normalised_auc(torch.linspace(0, 1, 21), curve)
    assert auc.item() == pytest.approx(1 - 0.05 * (1 - p) / 2)
    assert auc.item() > 0.95


def test_a_random_map_scores_lower_and_a_constant_map_as_documented():
    gt = _square(4)
    random_map = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(1))
    x = torch.linspace(0, 1, 21)
    perfect = normalised_auc(x, iou_curve(gt.float(), gt))
    assert (normalised_auc(x, iou_curve(random_map, gt)) < perfect - 0.3).all()
    constant = iou_curve(torch.full((1, 8, 8), 0.7), gt[:1])
    assert constant[0, 0].item() == pytest.approx(9 / 64) and (constant[0, 1:] == 0).all()
    assert "constant_map" in METRICS.get("iou_curve").notes


def test_iou_curve_empty_ground_truth_is_nan_and_shapes_are_checked():
    gt = _square(2)
    gt[1] = False
    curve = iou_curve(torch.rand(2, 8, 8), gt, thresholds=(0.0, 0.5))
    assert curve.shape == (2, 2) and not curve[0].isnan().any() and curve[1].isnan().all()
    with pytest.raises(InvalidInputError):
        iou_curve(torch.rand(2, 8, 8), gt[:, :4])
    with pytest.raises(InvalidInputError):
        iou_curve(torch.rand(2, 8, 8), gt, thresholds=())


def test_registered_iou_curve_aggregates_to_the_mean_height():
    gt = _square(2)
    inputs = EvalInputs(model=PixelModel(), black_box=PixelModel(), x=torch.rand(2, 1, 8, 8),
                        labels=torch.tensor([0, 1]), target=torch.tensor([0, 1]), scores=gt.float(), masks=gt,
                        fill=torch.tensor([0.0]))
    metric = METRICS.get("iou_curve")
    result = aggregate(metric, metric(inputs))
    assert result["x"][0] == 0.0 and result["x"][-1] == 1.0 and len(result["x"]) == 21
    assert result["auc"] == pytest.approx(1 - 0.05 * (1 - 9 / 64) / 2) and result["n"] == 2
    assert metric.needs_ground_truth and metric.higher_is_better and "Table 3" in metric.description


# -- robustness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_random_removal_is_per_image_whatever_the_batch(device):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 3, 8, 8, generator=g).to(device)
    fill = torch.tensor([0.1, 0.2, 0.3], device=device)
    out, removed = remove_at_random(x, 0.2, fill=fill, seed=0)
    assert removed.shape == (3, 8, 8) and (removed.flatten(1).sum(1) == 13).all()  # ceil(0.2 * 64)
    assert torch.equal(out, torch.where(removed[:, None], fill.view(1, 3, 1, 1), x))  # every channel filled
    again, removed_again = remove_at_random(x[[2, 0]], 0.2, fill=fill, seed=0)  # other batch, other order
    assert torch.equal(again, out[[2, 0]]) and torch.equal(removed_again, removed[[2, 0]])
    alone, _ = remove_at_random(x[1:2], 0.2, fill=fill, seed=0)
    assert torch.equal(alone[0], out[1])
    _, other_seed = remove_at_random(x, 0.2, fill=fill, seed=1)
    assert not torch.equal(other_seed, removed)
    assert (remove_at_random(x, 0.0, fill=fill)[1].sum() == 0).item()


def _robustness_inputs(explain_again=None, other_split=None) -> EvalInputs:
    g = torch.Generator().manual_seed(3)
    gt = _square(3)
    return EvalInputs(model=PixelModel(), black_box=PixelModel(), x=torch.rand(3, 1, 8, 8, generator=g),
                      labels=torch.tensor([0, 1, 1]), target=torch.tensor([0, 1, 1]),
                      scores=torch.rand(3, 8, 8, generator=g), masks=gt, fill=torch.tensor([0.5]),
                      explain_again=explain_again, other_split=other_split)


def test_robustness_scores_the_reexplained_noisy_image_and_nan_without_a_background_split():
    seen, asked = [], []
    inputs = _robustness_inputs()

    def explain_again(images):
        seen.append(images.clone())
        return inputs.masks.float()  # a perfect map whatever the image

    def other_split(split):
        asked.append(split)
        return None  # the dataset has no such split

    inputs.explain_again, inputs.other_split = explain_again, other_split
    metric = METRICS.get("robustness")
    per_image = metric(inputs)
    assert list(per_image) == ["pxap_clean", "pxap_noisy", "pxap_background"]
    assert torch.allclose(per_image["pxap_clean"], pxap(inputs.scores, inputs.masks))
    assert (per_image["pxap_noisy"] == 1.0).all() and per_image["pxap_background"].isnan().all()
    assert asked == ["test_background"] and len(seen) == 1
    assert torch.equal(seen[0], remove_at_random(inputs.x, 0.2, fill=[0.5], seed=0)[0])  # the noisy copies
    result = aggregate(metric, per_image)
    assert result["pxap_noisy"] == pytest.approx(1.0) and result["pxap_noisy_std"] == 0.0 and result["n"] == 3
    assert result["pxap_background"] is None and result["pxap_background_std"] is None
    assert result["pxap_background_n"] == 0 and result["pxap_clean_n"] == 3
    assert headline(metric, result) == pytest.approx(1.0)
    assert summary(metric, per_image) == {"mean": pytest.approx(1.0), "std": 0.0, "n": 3}
    assert metric.kind == "group" and metric.primary == "pxap_noisy" and "Table 6" in metric.description
    assert "test_background" in metric.notes["pxap_background"] and metric.parameters["fraction"] == 0.2


def test_robustness_explains_the_other_split_and_loads_it_only_when_it_can_be_explained():
    inputs = _robustness_inputs()
    background = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    seen = []

    def explain_again(images):
        seen.append(images)
        return torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(len(seen)))

    inputs.explain_again, inputs.other_split = explain_again, lambda split: background
    out = METRICS.get("robustness")(inputs, fraction=0.5, seed=7)
    assert torch.equal(seen[1], background) and torch.equal(seen[0], remove_at_random(inputs.x, 0.5, fill=[0.5],
                                                                                        seed=7)[0])
    expected = pxap(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2)), inputs.masks)
    assert torch.allclose(out["pxap_background"], expected)

    def never(split):
        raise AssertionError("the split was loaded with nothing to explain it")

    alone = METRICS.get("robustness")(_robustness_inputs(explain_again=None, other_split=never))
    assert not alone["pxap_clean"].isnan().any() and alone["pxap_noisy"].isnan().all()
    assert alone["pxap_background"].isnan().all()


def test_robustness_with_empty_ground_truth_and_pure_function():
    gt = _square(2)
    gt[0] = False
    out = robustness(torch.rand(2, 8, 8), gt, torch.rand(2, 1, 8, 8), lambda images: gt.float(), fill=0.0)
    assert out["pxap_clean"][0].isnan() and out["pxap_noisy"][0].isnan() and out["pxap_noisy"][1] == 1.0
    assert out["pxap_background"].isnan().all()


def test_group_kind_aggregates_mean_std_and_counts_per_key():
    parts = [{"a": torch.tensor([1.0, math.nan]), "b": torch.tensor([0.5, 1.0])},
             {"a": torch.tensor([3.0]), "b": torch.tensor([math.nan])}]
    merged = merge_batches(parts)
    out = aggregate_group(merged, "b")
    assert out["a"] == pytest.approx(2.0) and out["a_std"] == pytest.approx(math.sqrt(2.0)) and out["a_n"] == 2
    assert out["b"] == pytest.approx(0.75) and out["b_std"] == pytest.approx(math.sqrt(0.125)) and out["b_n"] == 2
    assert out["n"] == 2
    empty = aggregate_group({"a": torch.tensor([math.nan]), "b": torch.tensor([0.2])}, "a")
    assert empty["a"] is None and empty["a_std"] is None and empty["n"] == 0 and empty["b_std"] == 0.0
