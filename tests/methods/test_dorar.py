"""DoRaR: the paper's selector, the relaxed top-k, training that finds the informative unit, its
outputs (unit probabilities, hard top-n_e, reconstructions) and one-line refusals before training."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from xai_core.data.base import DatasetInfo
from xai_core.errors import InvalidInputError
from xai_core.methods import create
from xai_core.methods.dorar import Selector, relaxed_top_k
from xai_core.methods.reconstruction import RECONSTRUCTIONS
from xai_core.store import ArtifactStore

from .toy_units import INFO, QuadrantModel, toy_split

MNIST = DatasetInfo("mnist", "quick", 28, 1, 10, tuple("0123456789"), (0.13,), (0.3,), False)


def test_the_paper_selector_at_28_px():
    sel = Selector(1, 28, 4)
    convs = [m for m in sel.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 16, (5, 5)), (16, 32, (5, 5)),
                                                                               (32, 1, (1, 1))]
    assert sum(isinstance(m, nn.MaxPool2d) for m in sel.modules()) == 2
    assert sel(torch.rand(2, 1, 28, 28)).shape == (2, 49)
    assert Selector(3, 64, 8)(torch.rand(2, 3, 64, 64)).shape == (2, 64)  # pooled onto the 8×8 grid
    assert Selector(1, 28, 1)(torch.rand(1, 1, 28, 28)).shape == (1, 784)  # single pixels


def test_relaxed_top_k_keeps_at_most_k_units_and_passes_gradients():
    """k draws summed: mass only on the likely units; a unit drawn twice leaves another undrawn."""
    logits = torch.full((64, 49), -10.0)
    logits[:, :4] = 10.0
    logits.requires_grad_(True)
    m = relaxed_top_k(logits, 4, 0.7, 10.0, torch.Generator().manual_seed(0))
    assert m.shape == (64, 49) and 0 <= m.min() and m.max() <= 1
    assert m[:, 4:].max() < 0.01 and (m[:, :4].sum(1) <= 4.0).all() and (m[:, :4].sum(1) >= 0.99).all()
    assert m[:, :4].mean() > 0.6  # most of the 4 likely units drawn at least once
    m.sum().backward()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize("overrides, message", [({"n_e": 50}, "n_e must be 1–49"), ({"units": 5}, "does not divide"),
                                                ({"generator": "gan"}, "generator must be")])
def test_bad_settings_are_one_line_at_construction(overrides, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        create("dorar", nn.Linear(1, 1), MNIST, **overrides)
    assert "\n" not in str(err.value)


def test_a_split_too_small_for_the_noise_fails_before_training(tmp_path):
    store = ArtifactStore(tmp_path)
    dorar = create("dorar", QuadrantModel(), INFO, preset="smoke", units=4, n_e=1)
    with pytest.raises(InvalidInputError, match="needs at least 50"):
        dorar.prepare(toy_split(30), store)
    assert not list(tmp_path.rglob("*.pt"))  # nothing trained, nothing saved


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """DoRaR fitted on the toy task: 8×8 images, 4-px units (a 2×2 grid), n_e = 1."""
    dorar = create("dorar", QuadrantModel(), INFO, preset="smoke", units=4, n_e=1, epochs=30, batch_size=50,
                   lr=3e-3, train_images=None)
    history = []
    dorar.prepare(toy_split(300), ArtifactStore(tmp_path_factory.mktemp("dorar")),
                  lambda step, total, msg="", **losses: history.append(losses))
    return dorar, history


def test_training_finds_the_unit_that_holds_the_class(trained):
    dorar, history = trained
    losses = [h for h in history if "selector_loss" in h]
    assert len(losses) == 30 and {"l1", "l2", "l3", "l4", "loss", "eta_s"} <= set(losses[0])
    # G2 sees only noise: l4 ends near chance, ln 2 / ln 10 = 0.30 in base-10 logs (natural logs: 0.69)
    assert losses[-1]["l4"] < 0.5 * math.log(2) / math.log(10) + 0.2
    test = toy_split(100, seed=1)
    batch = test.batch(list(range(100)))
    out = dorar.explain(batch.x, batch.y)
    assert out.selection[:, :4, :4].all(1).all(1).float().mean() > 0.9  # the top-left unit, nearly always
    assert out.selection.flatten(1).sum(1).eq(16).all()  # exactly n_e = 1 unit of 16 pixels
    assert torch.allclose(out.scores[:, ::4, ::4].sum((1, 2)), torch.ones(100), atol=1e-5)  # unit probabilities
    model = QuadrantModel()
    r1, r2 = (out.extras[k] for k in RECONSTRUCTIONS)
    assert r1.shape == batch.x.shape and r2.shape == batch.x.shape
    a1 = (model(r1).argmax(1) == batch.y).float().mean()
    a2 = (model(r2).argmax(1) == batch.y).float().mean()
    assert a1 > 0.9 and a2 < 0.75, (a1, a2)


def test_settings_name_alpha_noise_and_units(trained):
    s = trained[0].settings()
    assert "ln 10" in s["targets"] and trained[0].version == 2  # l3, l4 = CE / ln 10 (the authors' code)
    assert s["alpha"] == 0.25 and s["unit_grid"].startswith("2×2") and "empirical distribution" in s["noise"]
    assert s["generators"] == "mlp" and s["beta"] == 1.0 and s["tau"] == 0.7


def test_quick_preset_on_large_images_scales_down_only_what_the_caller_did_not_choose():
    """Above 1,024 values per image the quick preset trains 20 epochs on 2,000 images; a caller's own
    epochs=50 (equal to the quick default) is kept, not taken for "not set"."""
    large = DatasetInfo("parts", "quick", 64, 3, 6, tuple("abcdef"), (0.5,) * 3, (0.25,) * 3, True)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 6))
    assert (create("dorar", net, large).config.epochs, create("dorar", net, large).config.train_images) == (20, 2000)
    chosen = create("dorar", net, large, epochs=50).config
    assert (chosen.epochs, chosen.train_images) == (50, 2000)
    assert create("dorar", net, MNIST).config.epochs == 50  # small images: the preset as it is
