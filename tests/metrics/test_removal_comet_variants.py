"""The COMET authors' metric variants (xai_core.metrics.comet_variants) on toy data whose answer is known: PxAP
pooled over images (their MaskEvaluator), the share-of-images IoU curve (their calculate_auc), and removal
fidelity fed straight to f_P."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.errors import InvalidInputError
from xai_core.methods.comet import SelectAndPredict
from xai_core.metrics import METRICS, EvalInputs, aggregate, headline, merge_batches
from xai_core.metrics.comet_variants import (
    POOLED_THRESHOLDS,
    fidelity_model,
    iou_above,
    iou_levels,
    iou_share_curve,
    pooled_contributions,
    pooled_histograms,
    pxap_from_histograms,
    pxap_pooled,
    unit_scores,
)

from .helpers import PixelModel, scores_with_rank


def _two_images() -> tuple[torch.Tensor, torch.Tensor]:
    """1×4 images, the ground truth at pixel 0 of each. Image A scores every pixel 0.97 (its own AP: 1/4);
    image B ranks its ground-truth pixel first (0.5 against 0.3; its own AP: 1)."""
    scores = torch.tensor([[[0.97, 0.97, 0.97, 0.97]], [[0.5, 0.3, 0.3, 0.3]]])
    gt = torch.tensor([[[True, False, False, False]], [[True, False, False, False]]])
    return scores, gt


class _AuthorsMaskEvaluator:
    """The authors' MaskEvaluator.accumulate / compute (evaluation_explain.py), in numpy, without the plotting."""

    def __init__(self, thresholds: list[float]) -> None:
        self.edges = np.append(thresholds, [1.0])
        self.true = np.zeros(len(thresholds))
        self.false = np.zeros(len(thresholds))

    def accumulate(self, scoremap: np.ndarray, gt: np.ndarray) -> None:
        self.true += np.histogram(scoremap[gt == 1], bins=self.edges)[0]
        self.false += np.histogram(scoremap[gt == 0], bins=self.edges)[0]

    def compute(self) -> float:
        tp = self.true[::-1].cumsum()
        fn = self.true.sum() - tp
        fp = self.false[::-1].cumsum()
        tp, fp, fn = np.insert(tp, 0, 1), np.insert(fp, 0, 0), np.insert(fn, 0, 10000)
        valid = (tp + fp) != 0
        with np.errstate(invalid="ignore", divide="ignore"):
            precision, recall = tp / (tp + fp), tp / (tp + fn)
        return float((precision[1:] * np.diff(recall))[valid[1:]].sum())


# -- pxap_pooled ---------------------------------------------------------------------------------
def test_pooled_pxap_is_one_curve_over_all_pixels_not_a_mean_of_per_image_aps():
    scores, gt = _two_images()
    per_image = [pxap_from_histograms(*pooled_histograms(scores[i:i + 1], gt[i:i + 1])) for i in range(2)]
    assert per_image == pytest.approx([0.25, 1.0])  # mean 0.625
    # pooled: at 0.95 A's four pixels (P 1/4, R 1/2); at 0.5 B's disc pixel joins (P 2/5, R 1)
    assert pxap_pooled(scores, gt) == pytest.approx(0.5 * 0.25 + 0.5 * 0.4)


def test_pooled_pxap_matches_the_authors_mask_evaluator():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(6, 12, 12, generator=g) ** 2
    gt = torch.rand(6, 12, 12, generator=g) < 0.2 + 0.5 * scores  # scores carry some signal
    theirs = _AuthorsMaskEvaluator([i / 20 for i in range(1, 20)])
    for s, m in zip(scores.numpy(), gt.numpy()):
        theirs.accumulate(s, m)
    # their curve starts at recall 1/10001 where ours starts at 0: at most 1e-4 apart
    assert pxap_pooled(scores, gt) == pytest.approx(theirs.compute(), abs=1e-4)


def test_pooled_pxap_drops_scores_below_the_first_threshold_like_the_authors():
    gt = torch.tensor([[[True, True, False, False]]])
    # half the ground truth scores 0.01 (no bin): recall still reaches 1 on the pixels that count
    assert pxap_pooled(torch.tensor([[[0.99, 0.01, 0.5, 0.01]]]), gt) == pytest.approx(1.0)
    assert pooled_histograms(torch.tensor([[[0.99, 0.01, 0.5, 1.0]]]), gt)[0].sum() == 1  # 1.0: the last bin
    assert math.isnan(pxap_pooled(torch.zeros(1, 1, 4), gt))  # no pixel in any bin


def test_contributions_average_to_the_batch_pooled_pxap_and_register_as_a_scalar():
    scores, gt = _two_images()
    contributions = pooled_contributions(*pooled_histograms(scores, gt))
    assert contributions.mean().item() == pytest.approx(0.325)
    assert contributions.tolist() == pytest.approx([2 * 0.5 * 0.25, 2 * 0.5 * 0.4])
    metric = METRICS.get("pxap_pooled")
    inputs = EvalInputs(model=nn.Identity(), black_box=nn.Identity(), x=torch.zeros(2, 1, 1, 4),
                        labels=torch.zeros(2, dtype=torch.long), target=torch.zeros(2, dtype=torch.long),
                        scores=scores, masks=gt, fill=torch.tensor([0.0]))
    # a method's own mask (it defines a selection) is scored raw; any other map min-max normalised first
    assert aggregate(metric, merge_batches([metric(inputs, scale="raw")])) == pytest.approx(0.325)
    own = EvalInputs(**{**inputs.__dict__, "selection": scores >= 0.5})
    assert aggregate(metric, merge_batches([metric(own)])) == pytest.approx(0.325)
    assert metric(inputs)["pxap_pooled"].tolist() == metric(inputs, scale="minmax")["pxap_pooled"].tolist()
    shifted = EvalInputs(**{**own.__dict__, "scores": torch.stack([scores[0] * 3 - 1, scores[1] * 3 - 1])})
    assert metric(shifted)["pxap_pooled"].tolist() == metric(inputs, scale="minmax")["pxap_pooled"].tolist()


def test_unit_scores_keeps_masks_in_the_unit_interval_and_min_maxes_the_others():
    s = torch.tensor([[[0.2, 0.4]], [[-1.0, 3.0]]])
    assert unit_scores(s, mask_scores=True).flatten().tolist() == pytest.approx([0.2, 0.4, 0.0, 1.0])
    assert unit_scores(s).flatten().tolist() == pytest.approx([0.0, 1.0, 0.0, 1.0])  # not a mask: min-max
    assert unit_scores(s[:1], "minmax").flatten().tolist() == pytest.approx([0.0, 1.0])
    with pytest.raises(InvalidInputError):
        unit_scores(s, "raw")
    with pytest.raises(InvalidInputError):
        pooled_histograms(s[:1], torch.ones(1, 1, 2, dtype=torch.bool), thresholds=(0.5, 0.2))


# -- iou_share_curve -----------------------------------------------------------------------------
def test_iou_above_binarises_at_s_greater_than_0_9():
    gt = torch.tensor([[[True, True, False, False]]])
    assert iou_above(torch.tensor([[[0.95, 0.91, 0.9, 0.2]]]), gt).tolist() == [1.0]  # 0.9 itself is out
    assert iou_above(torch.tensor([[[0.95, 0.2, 0.92, 0.2]]]), gt).tolist() == [pytest.approx(1 / 3)]
    assert math.isnan(iou_above(torch.ones(1, 1, 4), torch.zeros(1, 1, 4, dtype=torch.bool)).item())


def test_share_curve_is_calculate_auc_on_known_ious():
    ious = torch.tensor([0.2, 0.6, 1.0, math.nan])
    levels = iou_levels(0.05)
    curve = iou_share_curve(ious, levels)
    assert torch.isnan(curve[3]).all()
    x = levels.numpy()
    theirs = [np.mean([iou >= th for iou in (0.2, 0.6, 1.0)]) for th in x]  # calculate_auc(step=0.05)
    metric = METRICS.get("iou_share_curve")
    result = aggregate(metric, {"x": levels, "share": curve, "iou": ious.view(-1, 1).expand(-1, len(x))})
    assert result["y"] == pytest.approx(theirs)
    assert result["auc"] == pytest.approx(float(np.trapezoid(theirs, x)))
    assert result["iou_auc"] == pytest.approx(0.6)  # the mean IoU: the limit of the authors' fine step
    fine = aggregate(metric, {"x": iou_levels(1e-4), "share": iou_share_curve(ious[:3], iou_levels(1e-4))})
    assert fine["auc"] == pytest.approx(0.6, abs=1e-4)


def test_registered_share_curve_scores_raw_maps_and_normalises_others():
    gt = torch.tensor([[[True, True, False, False]], [[True, False, False, False]]])
    scores = torch.tensor([[[0.95, 0.93, 0.1, 0.0]], [[5.0, 4.0, 0.0, 0.0]]])  # B: min-max → 1, 0.8, 0, 0
    inputs = EvalInputs(model=nn.Identity(), black_box=nn.Identity(), x=torch.zeros(2, 1, 1, 4),
                        labels=torch.zeros(2, dtype=torch.long), target=torch.zeros(2, dtype=torch.long),
                        scores=scores, masks=gt, fill=torch.tensor([0.0]), selection=scores > 0.5)
    out = METRICS.get("iou_share_curve")(inputs)
    assert out["iou"][:, 0].tolist() == [1.0, 1.0]
    # a post-hoc map in [0, 0.12] (no selection) is min-max normalised, not read as a mask that never passes 0.9
    small = EvalInputs(**{**inputs.__dict__, "scores": scores * 0.1, "selection": None})
    assert METRICS.get("iou_share_curve")(small)["iou"][:, 0].tolist() == [1.0, 1.0]
    assert METRICS.get("iou_share_curve")(small, scale="raw")["iou"][:, 0].tolist() == [0.0, 0.0]
    assert out["share"].shape == (2, 101) and out["share"][:, -1].tolist() == [1.0, 1.0]


# -- fidelity_removal_fp -------------------------------------------------------------------------
class _SelectNothing(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, :1])


def test_fidelity_feeds_the_masked_image_straight_to_the_predictor():
    """A selector that keeps nothing and a bright fill q: the pipeline f_P(S⊙x + (1−S)⊙q) always sees a
    bright pixel (0, 0), so re-running the selector hides the removal; f_P itself sees it."""
    x = torch.full((1, 1, 10, 10), 0.3)
    x[0, 0, 0, 0] = 1.0
    pipeline = SelectAndPredict(_SelectNothing(), PixelModel(), fill=(1.0,))
    assert fidelity_model(pipeline, nn.Identity()) is pipeline.predictor
    black_box = PixelModel(5, 5)  # reads a dark pixel: never class 1
    first = scores_with_rank(10, 10, 0, 0)[None]
    inputs = EvalInputs(model=pipeline, black_box=black_box, x=x, labels=torch.tensor([1]),
                        target=torch.tensor([1]), scores=first, masks=None, fill=torch.tensor([0.0]))
    ours = METRICS.get("fidelity_removal")(inputs)["accuracy"]
    theirs = METRICS.get("fidelity_removal_fp")(inputs)
    assert ours.tolist() == [[1.0] * 4]  # the selector hides the removal
    assert theirs["x"].tolist() == [0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
    assert theirs["accuracy"].tolist() == [[1.0] + [0.0] * 7]  # ceil(0.25 % of 100) = 1 pixel: gone at once
    # a method without a predictor: the black box is scored, not the explained model
    plain = EvalInputs(**{**inputs.__dict__, "model": PixelModel()})
    assert fidelity_model(plain.model, black_box) is black_box
    assert METRICS.get("fidelity_removal_fp")(plain)["accuracy"].tolist() == [[0.0] * 8]
    metric = METRICS.get("fidelity_removal_fp")
    assert headline(metric, aggregate(metric, theirs)) == pytest.approx(0.0025 / 2 / 0.2)  # 1st segment


def test_pooled_thresholds_are_the_authors_confidence_list():
    assert POOLED_THRESHOLDS == tuple(i / 20 for i in range(1, 20))
