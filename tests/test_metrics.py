"""Metrics: hand-computable models and maps, checked against the definitions in SPEC.md."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from xai_core.errors import InvalidInputError, XAIError
from xai_core.metrics import (
    DEFAULT_FRACTIONS,
    METRICS,
    EvalInputs,
    aggregate,
    aggregate_scalar,
    average_precision,
    default_blur_sigma,
    deletion,
    evaluate_metric,
    gaussian_blur,
    insertion,
    iou,
    merge_batches,
    normalised_auc,
    pixel_perturbation,
    pixel_ranks,
    pxap,
    step_counts,
    summary,
    top_fraction_mask,
    top_k_mask,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class PixelModel(nn.Module):
    """Two classes; logit of class 1 = gain·(x[c, i, j] − 0.5), class 0 = 0. Prediction: the pixel
    is brighter than 0.5. Softmax depends on that one pixel only."""

    def __init__(self, i: int = 0, j: int = 0, c: int = 0, gain: float = 1.0) -> None:
        super().__init__()
        self.i, self.j, self.c, self.gain = i, j, c, gain
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.gain * (x[:, self.c, self.i, self.j] - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], dim=1)


class MeanModel(nn.Module):
    """Logit of class 1 = gain·(mean of channel 0 − 0.5): a smooth function of every pixel."""

    def __init__(self, gain: float = 8.0) -> None:
        super().__init__()
        self.gain = gain
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.gain * (x[:, 0].mean((1, 2)) - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], dim=1)


def scores_with_rank(h: int, w: int, pixel: int, rank: int) -> torch.Tensor:
    """An H×W map (distinct values) where flat pixel ``pixel`` has rank ``rank`` (0 = top)."""
    ranks = torch.arange(h * w)
    ranks[pixel], ranks[rank] = rank, pixel
    return -ranks.float().view(h, w)


# -- ranking --------------------------------------------------------------------------------------
def test_top_fraction_keeps_exact_count_with_ties_and_is_deterministic():
    flat = torch.zeros(2, 10, 10)  # every score tied
    for p in (0.0, 0.01, 0.05, 0.1, 0.123, 0.2, 0.5, 0.999, 1.0):
        m = top_fraction_mask(flat, p)
        assert m.dtype == torch.bool and m.shape == (2, 10, 10)
        assert m.flatten(1).sum(1).tolist() == [math.ceil(round(p * 100, 9))] * 2
        assert torch.equal(m, top_fraction_mask(flat.clone(), p))
    # ties go to the lowest row-major index
    m = top_fraction_mask(torch.zeros(1, 3, 4), 0.25)
    assert m.flatten().nonzero().flatten().tolist() == [0, 1, 2]
    # 0.05·100 is 5.000000000000001 in floating point: still 5 pixels
    assert int(top_fraction_mask(torch.rand(1, 10, 10), 0.05).sum()) == 5


def test_top_k_mask_quantised_scores_and_per_image_k():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 4, (5, 8, 8), generator=g).float()  # heavy ties
    k = torch.tensor([0, 1, 17, 63, 64])
    m = top_k_mask(s, k)
    assert m.flatten(1).sum(1).tolist() == k.tolist()
    for b in range(5):  # every kept pixel scores at least as high as every dropped one
        if 0 < k[b] < 64:
            assert s[b][m[b]].min() >= s[b][~m[b]].max()
    assert torch.equal(top_k_mask(s, 10), top_k_mask(s, torch.full((5,), 10)))


def test_ranks_nan_last_and_permutation():
    s = torch.tensor([[[0.5, float("nan")], [0.9, 0.5]]])
    r = pixel_ranks(s)
    assert r.flatten().tolist() == [1, 3, 0, 2]
    assert sorted(pixel_ranks(torch.rand(3, 5, 7)).flatten(1)[1].tolist()) == list(range(35))
    with pytest.raises(InvalidInputError):
        top_fraction_mask(torch.rand(1, 4, 4), 1.5)


# -- localisation ---------------------------------------------------------------------------------
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


# -- pixel perturbation ---------------------------------------------------------------------------
def test_pixel_perturbation_hand_computed():
    h = w = 4  # 16 pixels; the model looks at pixel 0 only
    x = torch.full((4, 1, h, w), 0.3)
    x[[0, 1, 3], 0, 0, 0] = 0.9  # bright -> class 1
    labels = torch.tensor([1, 1, 0, 0])  # image 3 is misclassified
    ranks_of_pixel0 = [0, 5, 3, 15]
    scores = torch.stack([scores_with_rank(h, w, 0, r) for r in ranks_of_pixel0])
    fractions = (1.0, 0.5, 0.25, 0.1, 0.0625)  # keep 16, 8, 4, 2, 1 pixels
    model = PixelModel()
    r = pixel_perturbation(model, x, labels, scores, fractions, fill=(0.2,), batch_size=3)
    assert r.counts.tolist() == [16, 8, 4, 2, 1]
    expected_acc = torch.tensor(
        [
            [1, 1, 1, 1, 1],  # pixel 0 always kept
            [1, 1, 0, 0, 0],  # kept while 6+ pixels are kept
            [1, 1, 1, 1, 1],  # dark: class 0 whatever is kept
            [0, 1, 1, 1, 1],  # wrong while the bright pixel is there, right once filled
        ],
        dtype=torch.float32,
    )
    expected_agree = torch.tensor(
        [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float32
    )
    assert torch.equal(r.accuracy, expected_acc)
    assert torch.equal(r.agreement, expected_agree)
    # at fraction 1.0: the model's plain accuracy, and full agreement
    plain = (model(x).argmax(1) == labels).float()
    assert torch.equal(r.accuracy[:, 0], plain) and bool((r.agreement[:, 0] == 1).all())
    assert r.reference.tolist() == [1, 1, 0, 1]


def test_pixel_perturbation_fill_is_used_and_default_fractions():
    x = torch.full((2, 3, 5, 5), 0.9)
    scores = torch.stack([scores_with_rank(5, 5, 0, 24)] * 2)  # pixel 0 ranked last
    model = PixelModel(c=1)
    bright_fill = pixel_perturbation(model, x, torch.ones(2, dtype=torch.long), scores, fill=(0.0, 0.8, 0.0))
    dark_fill = pixel_perturbation(model, x, torch.ones(2, dtype=torch.long), scores, fill=(1.0, 0.1, 1.0))
    assert bright_fill.fractions.tolist() == list(DEFAULT_FRACTIONS)
    assert bool((bright_fill.accuracy == 1).all())  # channel 1 of the fill is bright
    assert dark_fill.accuracy[:, 0].tolist() == [1, 1] and bool((dark_fill.accuracy[:, 1:] == 0).all())


# -- deletion / insertion -------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [17, 5, 9])
def test_deletion_drops_exactly_when_the_pixel_goes(steps):
    h = w = 4
    pixel, rank = 6, 7  # pixel (1, 2) ranked 8th
    x = torch.full((1, 1, h, w), 0.3)
    x[0, 0, 1, 2] = 1.0
    model = PixelModel(i=1, j=2, gain=4.0)
    scores = scores_with_rank(h, w, pixel, rank)[None]
    r = deletion(model, x, torch.tensor([1]), scores, steps, fill=0.0, batch_size=4)
    counts = step_counts(steps, h * w)
    assert r.counts.tolist() == counts.tolist() and r.counts[0] == 0 and r.counts[-1] == 16
    p_on, p_off = torch.sigmoid(torch.tensor(4 * 0.5)), torch.sigmoid(torch.tensor(4 * -0.5))
    expected = torch.where(counts > rank, p_off, p_on)
    assert torch.allclose(r.probabilities[0], expected.float(), atol=1e-6)
    manual = np.trapezoid(expected.numpy(), (counts / 16).numpy())
    assert float(r.auc[0]) == pytest.approx(manual, abs=1e-6)


def test_normalised_auc_of_constant_and_linear_curves():
    x = torch.linspace(0, 1, 11)
    assert torch.allclose(normalised_auc(x, torch.full((3, 11), 0.7)), torch.full((3,), 0.7, dtype=torch.float64))
    xs = torch.tensor([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    assert float(normalised_auc(xs, torch.full((7,), 0.4))) == pytest.approx(0.4)
    assert float(normalised_auc(xs.flip(0), xs.flip(0))) == pytest.approx(0.505)  # unsorted x is sorted
    assert float(normalised_auc(x, x)) == pytest.approx(0.5)


def test_insertion_starts_blurred_and_ends_at_the_original():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(3, 2, 12, 12, generator=g)
    x[:, 0, 3:6, 3:6] = 1.0
    scores = torch.rand(3, 12, 12, generator=g)
    target = torch.tensor([1, 0, 1])
    model = MeanModel(gain=30.0)
    r = insertion(model, x, target, scores, steps=7, blur_sigma=2.0, batch_size=5)
    probs = lambda im: torch.softmax(model(im), 1)[torch.arange(3), target]  # noqa: E731
    with torch.no_grad():
        assert torch.allclose(r.probabilities[:, 0], probs(gaussian_blur(x, 2.0)), atol=1e-6)
        assert torch.allclose(r.probabilities[:, -1], probs(x), atol=1e-6)
    assert r.fractions[0] == 0 and r.fractions[-1] == 1 and r.probabilities.shape == (3, 7)
    assert torch.allclose(r.auc, normalised_auc(r.fractions, r.probabilities))


def test_gaussian_blur_properties():
    flat = torch.full((2, 3, 9, 9), 0.4)
    assert torch.allclose(gaussian_blur(flat, 3.0), flat, atol=1e-6)
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    b = gaussian_blur(x, 1.5)
    assert b[0, 0, 10, 10] < 1 and b.sum() == pytest.approx(1.0, abs=1e-5)  # mass kept away from edges
    assert torch.equal(b[0, 0], b[0, 0].T)
    assert torch.equal(gaussian_blur(x, 0.0), x)
    assert default_blur_sigma(224, 224) == pytest.approx(15.0)
    gaussian_blur(torch.rand(1, 1, 4, 4), 50.0)  # kernel capped to what reflect padding allows


def test_deletion_faithful_map_beats_reversed_map():
    g = torch.Generator().manual_seed(7)
    x = torch.rand(4, 1, 8, 8, generator=g) * 0.2
    x[:, 0, 2:4, 2:4] = 1.0
    model = MeanModel(gain=40.0)
    good = x[:, 0]
    target = torch.ones(4, dtype=torch.long)
    d_good = deletion(model, x, target, good, 9, fill=0.0)
    d_bad = deletion(model, x, target, -good, 9, fill=0.0)
    assert bool((d_good.auc < d_bad.auc).all())


def test_metrics_restore_training_mode_and_accept_any_fill_shape():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.Dropout(0.5)).train()
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    s = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(9))
    t = torch.tensor([0, 3])
    a = deletion(model, x, t, s, 5, fill=torch.tensor([0.1, 0.2, 0.3]))
    b = deletion(model, x, t, s, 5, fill=torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1).expand(3, 4, 4))
    assert torch.allclose(a.probabilities, b.probabilities)  # dropout off: deterministic
    assert model.training and model[2].training
    with pytest.raises(InvalidInputError):
        deletion(model, x, t, s, 5, fill=(0.1, 0.2))


@pytest.mark.parametrize("device", DEVICES)
def test_metrics_run_on_the_tensors_device(device):
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(10)).to(device)
    s = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(11)).to(device)
    model = PixelModel().to(device)
    r = deletion(model, x, torch.ones(3, dtype=torch.long, device=device), s, 5, fill=0.0)
    assert r.probabilities.device.type == device
    gt = s > 0.7
    assert iou(s, gt).device.type == device and pxap(s, gt).device.type == device


# -- registry -------------------------------------------------------------------------------------
def make_inputs(seed: int, masks: bool = True) -> EvalInputs:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 6, 6, generator=g)
    model = PixelModel()
    labels = model(x).argmax(1)
    return EvalInputs(
        model=model, black_box=model, x=x, labels=labels, target=labels,
        scores=torch.rand(3, 6, 6, generator=g), masks=(torch.rand(3, 6, 6, generator=g) < 0.3) if masks else None,
        fill=torch.tensor([0.2]),
    )


def test_registry_names_settings_and_aggregation():
    for name in ("iou", "pxap", "pixel_perturbation", "deletion", "insertion"):
        assert name in METRICS and METRICS.describe(name)
    pp, de, ins = METRICS.get("pixel_perturbation"), METRICS.get("deletion"), METRICS.get("insertion")
    assert pp.settings["fill"] == "dataset_mean" and pp.settings["score"] == "accuracy vs labels"
    assert "agreement with model" in pp.settings["agreement"]
    assert de.settings["score"] == ins.settings["score"] == "softmax probability of target"
    assert "steps" in de.settings and "blur_sigma" in ins.settings
    assert pp.describe(fill=torch.tensor([0.2]))["fill_value"] == pytest.approx([0.2])

    batches = [make_inputs(1), make_inputs(2)]
    for name in METRICS:
        metric = METRICS.get(name)
        over = {"steps": 5} if "steps" in metric.settings else {}
        result, per_image = evaluate_metric(name, batches, **over)
        json.dumps({name: result, "settings": metric.describe(fill=[0.2], **over)}, allow_nan=False)
        if name == "faithfulness_simplified":  # these inputs carry no binary selection: nothing to score
            assert result is None and per_image[metric.primary].isnan().all()
        elif metric.kind == "scalar":
            assert isinstance(result, float) and per_image[metric.primary].shape == (6,)
            assert summary(metric, per_image)["n"] <= 6
        elif name == "sanity":  # no reexplain in these inputs: NaN curves (tests/test_metrics_ib.py)
            assert result["n"] == 0 and result["auc"] is None and len(result["y"]) == len(result["x"])
        elif name == "sensitivity_n":  # a correlation; NaN where the one-pixel model ignores every set
            assert result["n"] <= 6 and -1.0 <= result["auc"] <= 1.0 and result["x"] == sorted(result["x"])
        else:
            assert {"x", "y", "auc", "std", "n"} <= set(result) and result["n"] == 6
            assert result["x"] == sorted(result["x"]) and len(result["y"]) == len(result["x"])
            assert 0.0 <= result["auc"] <= 1.0
    # pixel perturbation: agreement curve and AUC come along; at x = 1 agreement is 1
    res, _ = evaluate_metric("pixel_perturbation", batches)
    assert res["agreement"][-1] == 1.0 and "agreement_auc" in res and res["x"][-1] == 1.0
    # aggregate of a merged dict equals aggregate over the concatenated batches
    parts = [METRICS.get("iou")(b) for b in batches]
    assert aggregate(METRICS.get("iou"), merge_batches(parts)) == pytest.approx(
        float(torch.cat([p["iou"] for p in parts]).nanmean())
    )


def test_registry_errors():
    with pytest.raises(XAIError, match="ground-truth"):
        METRICS.get("iou")(make_inputs(3, masks=False))
    with pytest.raises(XAIError, match="no setting"):
        METRICS.get("deletion")(make_inputs(3), stepz=3)
    with pytest.raises(XAIError):
        METRICS.get("nope")
    with pytest.raises(XAIError):
        METRICS.get("deletion")(make_inputs(3), fill="median", steps=3)
    with pytest.raises(TypeError):  # defaults are read-only
        METRICS.get("deletion").settings["steps"] = 3


def test_registry_accepts_cli_style_string_overrides():
    inp = make_inputs(4)
    a = METRICS.get("deletion")(inp, steps="5", fill="0.2", batch_size="2")
    b = METRICS.get("deletion")(inp, steps=5, fill=[0.2])
    assert torch.allclose(a["probability"], b["probability"]) and a["probability"].shape == (3, 5)
    pp = METRICS.get("pixel_perturbation")(inp, fractions="1,0.5,0.1")
    assert pp["x"].tolist() == [1.0, 0.5, 0.1]
    ins = METRICS.get("insertion")(inp, steps="3", blur_sigma="1.5", blur_kernel="5")
    assert ins["probability"].shape == (3, 3)
    assert METRICS.get("pxap")(inp, thresholds="none")["pxap"].shape == (3,)


def test_mass_in_signal_by_hand():
    from xai_core.metrics import mass_in_signal

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
