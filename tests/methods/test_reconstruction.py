"""DoRaR's remove-and-reconstruct parts: empirical per-pixel noise, generators, their training."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_core.errors import InvalidInputError
from xai_core.methods.reconstruction import (
    CE_SCALE, ConvGenerator, GeneratorRecipe, MLPGenerator, PixelNoise, Reconstructor, layout, losses, make_generator,
    removed, train_generators,
)

from .toy_units import QuadrantModel, toy_split


def test_noise_draws_each_pixel_from_its_own_training_values():
    data = toy_split(60)
    noise = PixelNoise.from_dataset(data, 1000)
    assert len(noise) == 60 and noise.bank.dtype == torch.uint8
    drawn = noise.sample(200, torch.Generator().manual_seed(0), "cpu")
    bank = noise.bank.float() / 255
    # every value is one that pixel (and channel) takes in some training image
    assert ((drawn[:, None] - bank[None]).abs() < 1e-6).any(1).all()
    # not a constant fill: the quadrant keeps its two modes (dark and bright), the rest varies
    assert drawn[:, 0, 0, 0].min() < 0.3 and drawn[:, 0, 0, 0].max() > 0.7
    assert drawn[:, 0, 6, 6].std() > 0.2
    u = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise.draw(u), noise.draw(u))


def test_too_few_training_images_for_the_noise_is_one_line():
    with pytest.raises(InvalidInputError, match="needs at least 50") as err:
        PixelNoise.from_dataset(toy_split(20), 1000)
    assert "\n" not in str(err.value)


def test_removed_keeps_the_mask_and_fills_the_rest():
    x, e = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    keep = torch.zeros(1, 4, 4)
    keep[0, :2] = 1
    out = removed(x, keep, e)
    assert out[:, :, :2].eq(1).all() and out[:, :, 2:].eq(0).all()


def test_generators_by_image_size():
    assert isinstance(make_generator("auto", 1, 28), MLPGenerator)  # the paper's, D = 784
    assert isinstance(make_generator("auto", 3, 64), ConvGenerator)
    for g, shape in ((make_generator("mlp", 1, 28), (2, 1, 28, 28)), (make_generator("conv", 3, 30), (2, 3, 30, 30))):
        out = g(torch.rand(shape))
        assert out.shape == shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(InvalidInputError, match="generator must be one of"):
        make_generator("gan", 1, 28)


def test_reconstructor_gives_an_image_the_same_output_in_any_batch():
    torch.manual_seed(0)
    noise = PixelNoise.from_dataset(toy_split(60), 100)
    rec = Reconstructor(make_generator("mlp", 1, 8), make_generator("mlp", 1, 8), noise, seed=3)
    x, keep = torch.rand(4, 1, 8, 8), torch.rand(4, 8, 8) > 0.5
    r1, r2 = rec(x, keep)
    a1, a2 = rec(x[2:3], keep[2:3])
    assert torch.allclose(r1[2:3], a1, atol=1e-6) and torch.allclose(r2[2:3], a2, atol=1e-6)


def test_generators_learn_from_the_informative_unit_only():
    """G1 sees the quadrant that holds the class, G2 only the rest: a1 high, a2 at chance."""
    data, model = toy_split(400), QuadrantModel().eval()
    keep = torch.zeros(400, 8, 8, dtype=torch.bool)
    keep[:, :4, :4] = True
    recipe = GeneratorRecipe(epochs=25, batch_size=50, lr=5e-3, converged=0.0)
    fitted = train_generators(model, lambda idx: data.batch(idx.tolist()).x, keep, PixelNoise.from_dataset(data, 400),
                              recipe, seed=0, device=torch.device("cpu"))
    assert len(fitted.history) == 25 and fitted.history[-1]["g1_loss"] < fitted.history[0]["g1_loss"]
    assert model.anchor.grad is None  # trained against a frozen view: no gradients left on the shared model
    test = toy_split(200, seed=1)
    x, y = test.batch(list(range(200))).x, test.labels
    r1, r2 = fitted(x, keep[:200])
    a1 = (model(r1).argmax(1) == y).float().mean()
    a2 = (model(r2).argmax(1) == y).float().mean()
    assert a1 > 0.95 and 0.3 < a2 < 0.7, (a1, a2)


class Uniform(nn.Module):
    """Ten equal logits whatever the image: cross-entropy ln 10 against any class."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 10) + self.anchor


def test_the_prediction_loss_is_cross_entropy_in_base_10_logs():
    """As the authors' code: CE / ln 10 (a uniform guess over 10 classes costs exactly 1)."""
    x, out = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    rec, pred = losses(Uniform(), out, x, torch.tensor([0, 3, 5, 9]))
    assert CE_SCALE == pytest.approx(2.302585093) and pred.item() == pytest.approx(1.0)
    assert rec.item() == pytest.approx((x - out).abs().mean().item())
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    y = torch.tensor([1, 2, 3, 4])
    assert losses(net, out, x, y)[1].item() == pytest.approx(F.cross_entropy(net(out), y).item() / math.log(10))


def test_the_stopping_rule_reads_the_scaled_loss():
    """β = 0 and a black box that is always uniform: every epoch's loss is CE / ln 10 = 1.000 per generator, so
    the relative change is 0 and training stops after the second epoch."""
    data = toy_split(60)
    fitted = train_generators(Uniform(), lambda idx: data.batch(idx.tolist()).x, torch.rand(60, 8, 8) > 0.5,
                              PixelNoise.from_dataset(data, 60), GeneratorRecipe(epochs=10, beta=0.0), seed=0,
                              device=torch.device("cpu"))
    assert [h["epoch"] for h in fitted.history] == [1, 2]
    assert all(h["g1_loss"] == pytest.approx(1.0) and h["g2_loss"] == pytest.approx(1.0) for h in fitted.history)


def test_the_layout_is_the_mask_alone():
    keep = torch.zeros(2, 4, 4, dtype=torch.bool)
    keep[0, :2, :2] = True
    image = layout(keep, 3)
    assert image.shape == (2, 3, 4, 4) and image.sum() == 12 and image[0, :, :2, :2].eq(1).all()
