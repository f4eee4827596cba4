"""a1a2's controls on toys where the right answer is known: the position control reads the class when (and only
when) the selection's layout encodes it; the random control sits near chance when one small unit holds the class;
each is deterministic per seed."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from xai_core import units
from xai_core.data.base import DatasetInfo, TensorImageDataset
from xai_core.metrics import METRICS, aggregate
from xai_core.metrics.base import EvalInputs
from xai_core.metrics.units import random_selection
from xai_core.methods.reconstruction import (
    GeneratorRecipe, PixelNoise, random_units, train_generators, train_position_generator,
)

INFO = DatasetInfo("toy_controls", "smoke", 8, 1, 2, ("dark", "bright"), (0.5,), (0.3,), False)
RECIPE = GeneratorRecipe(epochs=20, batch_size=50, lr=5e-3, converged=0.0)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny MLPs: one thread is several times faster than two on a loaded machine (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class CornerModel(nn.Module):
    """Logit of class 1 = 12·(mean of the top-left side×side pixels − 0.5)."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 12.0 * (x[:, 0, :self.side, :self.side].mean((1, 2)) - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], 1)


def corner_split(n: int, side: int, seed: int) -> TensorImageDataset:
    """8×8 uniform noise; the top-left side×side pixels dark (class 0) or bright (class 1)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, :side, :side] = 0.15 + 0.7 * labels.view(-1, 1, 1, 1).float() + 0.1 * torch.rand(n, 1, side, side,
                                                                                           generator=g)
    return TensorImageDataset(INFO, "train", (x.clamp(0, 1) * 255).round().to(torch.uint8), labels)


class ToyFitter:
    """The fitter Protocol on a toy split: the method's units are ``select(labels)`` (B → B×g×g bool)."""

    default_seeds = 1

    def __init__(self, data: TensorImageDataset, model: nn.Module, select) -> None:
        self.data, self.model, self.select = data, model.eval(), select
        self.noise = PixelNoise.from_dataset(data, len(data))
        self.calls: list[str] = []

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        return self.data.batch(idx.tolist()).x

    def fit(self, size, n_e, seed, *, epochs=None, train_images=None):
        self.calls.append("fit")
        keep = units.to_pixels(self.select(self.data.labels), size)
        return train_generators(self.model, self.images, keep, self.noise, _recipe(epochs), seed=seed, device=CPU)

    def fit_position(self, size, n_e, seed, *, epochs=None, train_images=None):
        self.calls.append("position")
        keep = units.to_pixels(self.select(self.data.labels), size)
        return train_position_generator(self.model, self.images, keep, self.noise, _recipe(epochs), seed=seed,
                                        device=CPU)

    def fit_random(self, size, n_e, seed, *, epochs=None, train_images=None):
        self.calls.append("random")
        picked = random_units(len(self.data), 8 // size, n_e, torch.Generator().manual_seed(seed + 99))
        return train_generators(self.model, self.images, units.to_pixels(picked, size), self.noise, _recipe(epochs),
                                seed=seed, device=CPU)


def _recipe(epochs: int | None) -> GeneratorRecipe:
    return RECIPE if epochs is None else replace(RECIPE, epochs=epochs)


def _unit(labels: torch.Tensor, where: torch.Tensor, grid: int) -> torch.Tensor:
    """B×grid×grid bool with one unit per image: unit index ``where[b]`` (row-major)."""
    out = torch.zeros(len(labels), grid * grid, dtype=torch.bool)
    out[torch.arange(len(labels)), where] = True
    return out.view(-1, grid, grid)


def _run(side: int, size: int, select, **settings) -> dict[str, float]:
    model = CornerModel(side)
    fitter = ToyFitter(corner_split(400, side, 0), model, select)
    test = corner_split(200, side, 1)
    x = test.batch(list(range(200))).x
    scores = units.to_pixels(select(test.labels).float(), size)  # the "method's" map: its unit scores 1
    y = model(x).argmax(1)
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=y, target=y, scores=scores, masks=None,
                        fill=torch.tensor([0.5]), reconstruction=fitter)
    out = METRICS.get("a1a2")(inputs, units=size, n_e=1, **settings)
    return aggregate(METRICS.get("a1a2"), out)


def test_the_position_control_reads_a_class_encoded_in_where_the_unit_is():
    """Class 1 keeps the bottom-right quadrant, class 0 the bottom-left: both pure noise, so G1 (kept pixels,
    noise elsewhere) cannot tell them apart, but the layout alone gives the class."""
    result = _run(4, 4, lambda labels: _unit(labels, 2 + labels, 2))
    assert result["a1_position"] > 0.95, result
    assert result["a1"] < 0.7, result  # the per-pixel noise hides the layout from G1 here
    assert result["seeds"] == 1 and {"a1_random", "a2_random"} <= set(result)


def test_the_position_control_is_near_chance_when_the_layout_is_the_same_for_every_class():
    """Every image keeps the informative quadrant: a1 high, the layout (always unit 0) says nothing."""
    result = _run(4, 4, lambda labels: _unit(labels, torch.zeros_like(labels), 2))
    assert result["a1"] > 0.95, result
    assert 0.3 < result["a1_position"] < 0.7, result


def test_the_random_control_is_near_chance_when_one_small_unit_holds_the_class():
    """The class in the top-left 2×2 unit of 16: the method that keeps it reaches a1 ≈ 1, random units ≈ ½
    (1/16 of them hit it), and their complements keep the class (a2_random high)."""
    result = _run(2, 2, lambda labels: _unit(labels, torch.zeros_like(labels), 4))
    assert result["a1"] > 0.95, result
    assert 0.35 < result["a1_random"] < 0.65, result
    assert result["a2_random"] > 0.85, result


def test_controls_off_trains_only_the_method_pair():
    model = CornerModel(4)
    fitter = ToyFitter(corner_split(60, 4, 0), model, lambda labels: _unit(labels, torch.zeros_like(labels), 2))
    x = corner_split(8, 4, 1).batch(list(range(8))).x
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=model(x).argmax(1), target=model(x).argmax(1),
                        scores=torch.rand(8, 8, 8), masks=None, fill=torch.tensor([0.5]), reconstruction=fitter)
    out = METRICS.get("a1a2")(inputs, units=4, n_e=1, epochs=1, controls=False)
    assert set(out) == {"a1", "a2"} and fitter.calls == ["fit"]
    out = METRICS.get("a1a2")(inputs, units=4, n_e=1, epochs=1)
    assert list(out) == ["a1", "a2", "a1_position", "a1_random", "a2_random"]
    assert fitter.calls == ["fit", "fit", "position", "random"] and out["a1_position"].shape == (8, 1)


def test_random_selection_is_per_image_and_per_seed():
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    first = random_selection(x, 2, 3, seed=0)
    assert first.shape == (6, 8, 8) and units.pool(first.float(), 2).flatten(1).gt(0).sum(1).eq(3).all()
    assert torch.equal(random_selection(x[2:4], 2, 3, seed=0), first[2:4])  # the same in any batch
    assert torch.equal(random_selection(x, 2, 3, seed=0), first)
    assert not torch.equal(random_selection(x, 2, 3, seed=1), first)
    picked = random_units(500, 4, 2, torch.Generator().manual_seed(0))
    assert picked.flatten(1).sum(1).eq(2).all() and torch.equal(picked, random_units(500, 4, 2,
                                                                                      torch.Generator().manual_seed(0)))
    assert picked.float().mean(0).min() > 0.05  # every unit gets drawn (2/16 on average)


def test_the_position_generator_is_deterministic_per_seed():
    data, model = corner_split(100, 4, 0), CornerModel(4).eval()
    keep = units.to_pixels(_unit(data.labels, 2 + data.labels, 2), 4)
    noise = PixelNoise.from_dataset(data, 100)
    recipe = GeneratorRecipe(epochs=2, batch_size=50)

    def fitted(seed: int):
        return train_position_generator(model, lambda idx: data.batch(idx.tolist()).x, keep, noise, recipe,
                                        seed=seed, device=CPU)

    a, b, c = fitted(0), fitted(0), fitted(1)
    assert a.history == b.history and a.history != c.history and set(a.history[0]) == {"epoch", "g_loss"}
    assert torch.equal(a(keep[:5]), b(keep[:5])) and not torch.equal(a(keep[:5]), c(keep[:5]))
    assert model.anchor.grad is None
