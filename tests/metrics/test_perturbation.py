"""Perturbation metrics (pixel perturbation, deletion, insertion): hand-computable models and maps,
checked against the definitions in docs/methods/protocols.md; chunking never changes the numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.chunks import PASS_VALUES
from xai_core.errors import InvalidInputError
from xai_core.imaging import gaussian_blur
from xai_core.metrics.base import normalised_auc
from xai_core.metrics.localisation import iou, pxap
from xai_core.metrics.perturbation import (
    DEFAULT_FRACTIONS, default_blur_sigma, deletion, insertion, pixel_perturbation, step_counts,
)
from xai_core.chunks import CPU_MAX_ITEMS
from xai_core.metrics.perturbing import images_per_pass
from xai_core.metrics.sensitivity import sensitivity_n

from .helpers import DEVICES, MeanModel, PixelModel, scores_with_rank


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


# -- chunking ---------------------------------------------------------------------------------------
def _curves(model: nn.Module, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, bs: int | None) -> list[torch.Tensor]:
    pp = pixel_perturbation(model, x, t, s, (1.0, 0.3, 0.05), fill=0.2, batch_size=bs)
    return [deletion(model, x, t, s, 7, fill=torch.linspace(0.1, 0.5, x.shape[1]), batch_size=bs).probabilities,
            insertion(model, x, t, s, 6, 1.0, batch_size=bs).probabilities,
            pp.predictions, pp.reference,
            sensitivity_n(model, x, t, s, counts=[3, 20], masks_per_n=6, fill=0.3, batch_size=bs).correlation]


@pytest.mark.parametrize("device", DEVICES)
def test_results_do_not_depend_on_the_chunk_size(device):
    """The metric's own arithmetic is per image: with a model whose per-image output does not depend
    on its batch (one pixel, a mean), batch sizes 1, 3 and auto give bit-identical tensors."""
    g = torch.Generator().manual_seed(12)
    x, s = torch.rand(5, 2, 7, 6, generator=g).to(device), torch.randn(5, 7, 6, generator=g).to(device)
    t = torch.tensor([1, 0, 1, 1, 0], device=device)
    for model in (PixelModel(i=3, j=2, gain=5.0).to(device), MeanModel(gain=20.0).to(device)):
        ref = _curves(model, x, t, s, None)
        for bs in (1, 3):
            for a, b in zip(ref, _curves(model, x, t, s, bs)):
                assert a.dtype == b.dtype and torch.equal(a.nan_to_num(-7.0), b.nan_to_num(-7.0))


def test_chunk_size_only_moves_float_rounding_of_a_conv_net(tiny_net):
    """Convolutions pick kernels by batch size: a real network's outputs move only in the last bits
    (sensitivity-n correlates logit drops of a few pixels, which magnifies them)."""
    g = torch.Generator().manual_seed(13)
    x, s = torch.rand(4, 3, 12, 12, generator=g), torch.randn(4, 12, 12, generator=g)
    t = torch.tensor([0, 1, 2, 3])
    ref = _curves(tiny_net, x, t, s, None)
    for bs in (1, 3):
        for a, b, atol in zip(ref, _curves(tiny_net, x, t, s, bs), (1e-6, 1e-6, 0, 0, 1e-3)):
            assert torch.allclose(a.double(), b.double(), rtol=0, atol=atol)


def test_auto_batch_size_is_sized_by_input_values_and_capped_on_cpu():
    assert images_per_pass(None, torch.zeros(2, 3, 224, 224)) == PASS_VALUES["cpu"] // (3 * 224 * 224)
    assert images_per_pass(None, torch.zeros(1, 1, 28, 28)) == CPU_MAX_ITEMS < PASS_VALUES["cpu"] // 784
    assert images_per_pass(5, torch.zeros(1, 1, 28, 28)) == 5 and images_per_pass(0, torch.zeros(1, 1, 2, 2)) == 1
    if torch.cuda.is_available():  # no image cap on CUDA
        assert images_per_pass(None, torch.zeros(1, 1, 28, 28, device="cuda")) == PASS_VALUES["cuda"] // 784
