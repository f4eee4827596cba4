"""DoRaR's remove-and-reconstruct parts: empirical per-pixel noise, generators, their training."""
from __future__ import annotations

import pytest
import torch

from xai_core.errors import InvalidInputError
from xai_core.methods.reconstruction import (
    ConvGenerator, GeneratorRecipe, MLPGenerator, PixelNoise, Reconstructor, make_generator, removed, train_generators,
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
