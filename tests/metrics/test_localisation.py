"""Localisation metrics (IoU, PxAP, mass in signal, EHR): hand-computed maps, scikit-learn, InputIBA's Appendix F."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from xai_core.metrics import METRICS, EvalInputs
from xai_core.metrics.base import aggregate_scalar
from xai_core.metrics.localisation import average_precision, ehr, iou, mass_in_signal, pxap

from .helpers import linear_model


def random_gt(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, h, w, generator=g) < 0.25


def test_iou_ground_truth_random_and_empty():
    gt = random_gt(400, 16, 16)
    assert torch.allclose(iou(gt.float(), gt), torch.ones(400, dtype=torch.float64))
    # a map whose top-n pixels are the GT, in any order of values, also scores 1
    noisy = gt.float() * 10 + torch.rand(400, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(iou(noisy, gt), torch.ones(400, dtype=torch.float64))
    # random map: E|top-n ∩ GT| = n·p, so IoU ≈ p/(2−p) with p = |GT|/N
    rnd = torch.rand(400, 16, 16, generator=torch.Generator().manual_seed(2))
    p = gt.flatten(1).float().mean(1)
    expected = float((p / (2 - p)).mean())
    assert abs(float(iou(rnd, gt).mean()) - expected) < 0.01
    # empty ground truth -> NaN, excluded from the mean
    gt2 = gt[:3].clone()
    gt2[1] = False
    v = iou(gt2.float(), gt2)
    assert math.isnan(v[1]) and v[0] == 1 and v[2] == 1
    assert aggregate_scalar(v) == (1.0, 0.0, 2)


def test_iou_hand_computed():
    gt = torch.tensor([[[1, 1, 0], [0, 0, 0]]], dtype=torch.bool)
    s = torch.tensor([[[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]]])  # top-2 = pixels 0 and 2: I = 1, U = 3
    assert float(iou(s, gt)) == pytest.approx(1 / 3)


def test_pxap_ground_truth_random_and_sklearn():
    gt = random_gt(200, 16, 16, seed=3)
    assert torch.allclose(pxap(gt.float(), gt), torch.ones(200, dtype=torch.float64))
    rnd = torch.rand(200, 16, 16, generator=torch.Generator().manual_seed(4))
    rate = float(gt.float().mean())
    assert abs(float(pxap(rnd, gt).mean()) - rate) < 0.02
    # equals scikit-learn on scores quantised to the 0.05 grid (min-max normalised first),
    # and on the raw scores with thresholds=None
    s, g = rnd[:20] * 3 - 1, gt[:20]
    ours, exact = pxap(s, g), pxap(s, g, thresholds=None)
    for b in range(20):
        x = s[b].flatten().double().numpy()
        x = (x - x.min()) / (x.max() - x.min())
        q = np.clip(np.floor(x * 20 + 1e-12), 0, 19)
        assert float(ours[b]) == pytest.approx(average_precision_score(g[b].flatten().numpy(), q), abs=1e-12)
        assert float(exact[b]) == pytest.approx(average_precision_score(g[b].flatten().numpy(), x), abs=1e-12)


def test_average_precision_with_ties_matches_sklearn():
    g = torch.Generator().manual_seed(5)
    s = torch.randint(0, 6, (10, 9, 9), generator=g).float()
    gt = torch.rand(10, 9, 9, generator=g) < 0.3
    ap = average_precision(s, gt)
    for b in range(10):
        assert float(ap[b]) == pytest.approx(
            average_precision_score(gt[b].flatten().numpy(), s[b].flatten().numpy()), abs=1e-12
        )


def test_pxap_includes_scores_below_first_threshold():
    s = torch.tensor([[[1.0, 0.6, 0.2, 0.0]]])
    gt = torch.tensor([[[True, False, True, False]]])
    # threshold 0.5: P = 1/2, R = 1/2; then -inf: P = 1/2, R = 1 -> 0.5 (dropping the rest: 0.25)
    assert float(pxap(s, gt, thresholds=[0.5])) == pytest.approx(0.5)
    empty = torch.zeros(1, 1, 4, dtype=torch.bool)
    assert math.isnan(float(pxap(s, empty)))


def test_mass_in_signal_by_hand():
    gt = torch.zeros(4, 4, 4, dtype=torch.bool)
    gt[:, :2, :2] = True  # a quarter of the image
    s = torch.zeros(4, 4, 4)
    s[0][gt[0]] = 1.0  # all mass on the signal
    s[1] = 1.0  # uniform: the area fraction
    s[2, 3, 3], s[2, 0, 0], s[2, 1, 1] = 3.0, 1.0, -5.0  # negative scores carry no mass
    s[3] = -1.0  # no positive mass at all
    out = mass_in_signal(s, gt)
    assert out[:3].tolist() == [1.0, 0.25, 0.25] and math.isnan(out[3])
    assert math.isnan(mass_in_signal(torch.ones(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))[0])
    assert METRICS.get("mass_in_signal").needs_ground_truth


# -- EHR ------------------------------------------------------------------------------------------
def appendix_f_maps() -> tuple[torch.Tensor, torch.Tensor]:
    """InputIBA Appendix F: the object covers a quarter of the image; maps (a), (b), (c)."""
    gt = torch.zeros(20, 20, dtype=torch.bool)
    gt[5:15, 5:15] = True
    a = gt.double()
    b = torch.where(gt, 1.0, 0.25).double()
    c = 0.25 * gt.double()
    return torch.stack([a, b, c]), gt.expand(3, -1, -1)


def test_ehr_appendix_f_ordering():
    maps, gt = appendix_f_maps()
    # default (clip < 0, divide by the max): (b)'s background heat costs it; (c) rescales onto (a)
    assert ehr(maps, gt).tolist() == pytest.approx([1.0, 0.4375, 1.0])
    # maps taken as they are: the paper's figure, (c) lower too
    assert ehr(maps, gt, normalisation="none").tolist() == pytest.approx([1.0, 0.4375, 0.25])
    # min-max normalisation maps both (b) and (c) onto (a): EHR cannot tell them apart then
    assert ehr(maps, gt, normalisation="minmax").tolist() == pytest.approx([1.0, 1.0, 1.0])
    rand = ehr(torch.rand(8, 20, 20, generator=torch.Generator().manual_seed(0)), gt[:1].expand(8, -1, -1))
    assert (rand < 0.4).all() and (rand > 0.1).all()  # about the GT's area share × the mean heat


def test_ehr_empty_ground_truth_no_heat_and_registry():
    maps, gt = appendix_f_maps()
    gt = gt.clone()
    gt[1] = False
    maps = maps.clone()
    maps[2] = -1.0  # no positive heat at all
    out = ehr(maps, gt)
    assert out[0] == pytest.approx(1.0) and math.isnan(out[1]) and out[2] == 0.0
    model = linear_model(1, 20, 20)
    inputs = EvalInputs(model=model, black_box=model, x=torch.rand(3, 1, 20, 20), labels=torch.zeros(3).long(),
                        target=torch.zeros(3).long(), scores=maps.float(), masks=gt, fill=torch.zeros(1))
    res = METRICS.get("ehr")(inputs, quantile_levels=21)
    assert res["ehr"][0] == pytest.approx(1.0) and math.isnan(res["ehr"][1])
    with pytest.raises(Exception, match="normalisation"):
        METRICS.get("ehr")(inputs, normalisation="median")
