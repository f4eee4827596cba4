"""MEED and L2X: the Gumbel-softmax top-k, the fading prior, the sliced Wasserstein adversary, the settings each
dataset resolves to,
one-line refusals before training, training that finds the class-carrying pixels, and the outputs
(z, the top-k selection, the zero-filled inputs and the black box's predictions on them)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xai_core.data.base import DatasetInfo
from xai_core.errors import XAIError
from xai_core.methods import create
from xai_core.methods.meed import (MEED, X_SELECTED, X_UNSELECTED, ExplainerNet, L2X, faded_prior, gumbel_top_k,
                                   sliced_wasserstein, swd_directions)
from xai_core.models.nets import SmallCNN
from xai_core.store import ArtifactStore

from .toy_units import INFO, QuadrantModel, toy_split


def info(name: str, classes: int = 2, size: int = 28, channels: int = 1) -> DatasetInfo:
    return DatasetInfo(name, "quick", size, channels, classes, tuple(map(str, range(classes))), (0.5,) * channels,
                       (0.3,) * channels, False)


def test_gumbel_top_k_is_the_max_of_k_softmax_samples():
    log_z = F.log_softmax(torch.randn(4, 50), -1)
    v = gumbel_top_k(log_z, 5, 0.5, torch.Generator().manual_seed(0))
    assert v.shape == (4, 50) and (v >= 0).all() and (v <= 1).all()
    assert (v.sum(1) <= 5 + 1e-5).all() and (v.sum(1) >= 1 - 1e-5).all()  # k samples, each summing to 1
    # the same noise by hand: the element-wise max of the k softmax samples (not of the noisy logits)
    u = torch.rand(5, 4, 50, generator=torch.Generator().manual_seed(0)).clamp_(1e-10, 1 - 1e-7)
    assert torch.allclose(v, F.softmax((log_z[None] - torch.log(-torch.log(u))) / 0.5, -1).amax(0))
    # a peaked distribution puts every sample on its peak
    peaked = F.log_softmax(torch.tensor([[20.0] + [0.0] * 9]), -1)
    assert gumbel_top_k(peaked, 3, 0.5, torch.Generator().manual_seed(1))[0, 0] > 0.99


def test_the_prior_fades_with_the_epochs():
    log_z, log_r = F.log_softmax(torch.randn(3, 20), -1), F.log_softmax(torch.randn(3, 20), -1)
    first = faded_prior(log_z, log_r, 1)
    expected = (log_z.exp() * log_r.exp()).sqrt()
    assert torch.allclose(first.exp(), expected / expected.sum(1, keepdim=True), atol=1e-6)
    assert torch.allclose(faded_prior(log_z, log_r, 1).exp().sum(1), torch.ones(3))
    gaps = [float((faded_prior(log_z, log_r, m).exp() - log_z.exp()).abs().sum()) for m in (1, 5, 50)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.1 * gaps[0]


def test_swd_directions_are_unit_vectors_drawn_from_the_generator():
    fan = swd_directions(2, 128, torch.Generator().manual_seed(0))
    assert fan.shape == (128, 2) and torch.allclose(fan.norm(dim=1), torch.ones(128))
    # two classes: an evenly spaced fan (the authors' form), turned by a random angle
    step = torch.atan2(fan[1:, 1], fan[1:, 0]) - torch.atan2(fan[:-1, 1], fan[:-1, 0])
    assert torch.allclose(torch.remainder(step, 2 * torch.pi), torch.full((127,), 2 * torch.pi / 128), atol=1e-5)
    assert torch.equal(fan, swd_directions(2, 128, torch.Generator().manual_seed(0)))  # seeded: the same draw
    assert not torch.allclose(fan, swd_directions(2, 128, torch.Generator().manual_seed(1)))
    many = swd_directions(10, 64, torch.Generator().manual_seed(0))
    assert many.shape == (64, 10) and torch.allclose(many.norm(dim=1), torch.ones(64))
    assert torch.equal(many, swd_directions(10, 64, torch.Generator().manual_seed(0)))


def test_sliced_wasserstein_is_zero_for_the_same_sample_and_shrinks_as_two_gaussians_meet():
    g = torch.Generator().manual_seed(0)
    theta = swd_directions(2, 128, g)
    p = torch.randn(512, 2, generator=g)
    assert float(sliced_wasserstein(p, p, theta)) == 0.0
    assert float(sliced_wasserstein(p, p[torch.randperm(512, generator=g)], theta)) == 0.0  # a distance of batches
    q = torch.randn(512, 2, generator=g)
    gaps = [float(sliced_wasserstein(p, q + shift, theta)) for shift in (4.0, 2.0, 1.0, 0.5)]
    assert all(a > b > 0 for a, b in zip(gaps, gaps[1:]))
    # 1-D check by hand: a shift by c along θ = e_1 moves every sorted projection by c
    e1 = torch.tensor([[1.0, 0.0]])
    assert torch.isclose(sliced_wasserstein(p, p + torch.tensor([3.0, -7.0]), e1), torch.tensor(3.0))
    # the same seed, the same value (the directions come from the generator)
    draw = lambda seed: sliced_wasserstein(p, q, swd_directions(2, 128, torch.Generator().manual_seed(seed)))  # noqa
    assert torch.equal(draw(3), draw(3))


@pytest.mark.parametrize("dataset, classes, k, adversary, lu", [
    ("mnist38", 2, 25, "flip", 1e-3), ("fashion_pullover_shirt", 2, 64, "swd", 1.0),
    ("mnist", 10, 78, "swd", 1e-3), ("hard_mnist", 10, 78, "swd", 1.0),
])
def test_each_dataset_resolves_the_papers_settings(dataset, classes, k, adversary, lu):
    c = create("meed", SmallCNN(1, classes), info(dataset, classes)).config
    assert (c.k, c.adversary, c.lu_weight, c.le_weight, c.swd_projections) == (k, adversary, lu, 0.0, 128)
    assert create("meed", SmallCNN(3, 2), info("imagefolder:x", 2, 64, 3)).config.swd_projections == 256  # ImageNet


def test_the_swd_default_changed_meeds_cache_keys_and_only_swd_fits_carry_its_projections():
    assert MEED.version == 2 and L2X.version == 1  # old cached MEED fits stop matching; L2X trains as before
    swd = create("meed", SmallCNN(1, 2), info("fashion_pullover_shirt")).config.cache_key()
    flip = create("meed", SmallCNN(1, 2), info("mnist38")).config.cache_key()
    assert swd["swd_projections"] == 128 and "swd_projections" not in flip
    l2x = create("l2x", SmallCNN(1, 2), info("fashion_pullover_shirt")).config.cache_key()
    assert "swd_projections" not in l2x and l2x["adversary"] == "flip"  # unused without AIL: L2X's key as before


def test_larger_images_use_4x4_max_pooled_units_and_the_unet():
    method = create("meed", SmallCNN(3, 10), info("imagefolder:x", 10, 64, 3))
    assert method.unit == 4 and method.config.k == round(0.1 * 16 ** 2) and method.config.le_weight == 1e-3
    net = ExplainerNet(3, 10, 64, 4, True, (0.5,) * 3, (0.3,) * 3)
    logits = net(torch.rand(2, 3, 64, 64), torch.softmax(torch.randn(2, 10), 1))
    assert logits.shape == (2, 16 * 16) and type(net.body).__name__ == "SmallUNet"


def test_feedback_is_an_input_plane_that_changes_the_scores():
    net = ExplainerNet(1, 2, 28, 1, True, (0.5,), (0.3,))
    x = torch.rand(1, 28, 28)[None]
    a, b = net(x, torch.tensor([[1.0, 0.0]])), net(x, torch.tensor([[0.0, 1.0]]))
    assert a.shape == (1, 784) and not torch.allclose(a, b)
    assert ExplainerNet(1, 2, 28, 1, False, (0.5,), (0.3,)).plane is None


@pytest.mark.parametrize("overrides, dataset, classes, message", [
    ({"k": 785}, "mnist38", 2, "k = 785 features asked"),
    ({"top_k": 0}, "mnist38", 2, "k must be 1–784"),
    ({"adversary": "flip"}, "mnist", 10, "needs a binary task"),
    ({"adversary": "wasserstein"}, "mnist38", 2, "adversary must be one of"),
    ({"swd_projections": 0}, "fashion_pullover_shirt", 2, "swd_projections must be at least 1"),
])
def test_bad_settings_are_one_line_before_training(overrides, dataset, classes, message):
    with pytest.raises(XAIError, match=message) as err:
        create("meed", SmallCNN(1, classes), info(dataset, classes), **overrides)
    assert "\n" not in str(err.value)


def test_l2x_is_meed_without_its_three_components():
    l2x = create("l2x", SmallCNN(1, 2), info("mnist38")).config
    assert (l2x.feedback, l2x.ail, l2x.prior) == (False, False, False) and l2x.k == 25
    meed = create("meed", SmallCNN(1, 2), info("mnist38"))
    assert set(meed.caps.ablations) == {"w/o output", "w/o AIL", "w/o prior"}
    assert meed.caps.ablations["w/o AIL"] == {"ail": False}


def fit(name: str, store_dir, **overrides):
    """The method fitted on the toy task (8×8 images, the class in the top-left 4×4 quadrant), k = 16."""
    settings = {"k": 16, "epochs": 15, "batch_size": 50, "train_images": None, "lu_weight": 0.1, **overrides}
    method = create(name, QuadrantModel(), INFO, preset="smoke", **settings)
    history = []
    method.prepare(toy_split(300), ArtifactStore(store_dir), lambda step, total, msg="", **kw: history.append(kw))
    return method, history


@pytest.fixture(scope="module")
def meed(tmp_path_factory):
    return fit("meed", tmp_path_factory.mktemp("meed"))


def test_training_selects_the_pixels_that_hold_the_class(meed):
    method, history = meed
    epochs = [h for h in history if "fs_m" in h]
    assert len(epochs) == 15 and {"L_s", "L_u", "L_adv", "A_s_accuracy", "A_u_accuracy"} <= set(epochs[0])
    assert epochs[-1]["fs_m"] >= 0.95
    batch = toy_split(100, seed=1).batch(list(range(100)))
    out = method.explain(batch.x, batch.y)
    hit = (out.selection & batch.masks).flatten(1).sum(1).float() / 16
    # a bright quadrant is the evidence of class 1: its 16 pixels are the selection. (For class 0 a zero-filled
    # quadrant reads as dark whatever is selected: any selection explains it, so only class 1 is checked.)
    assert hit[batch.y == 1].mean() > 0.9
    assert torch.allclose(out.scores.flatten(1).sum(1), torch.ones(100), atol=1e-4)  # z sums to 1 over the units


def test_outputs_are_z_its_top_k_and_the_zero_filled_inputs(meed):
    method, _ = meed
    batch = toy_split(10, seed=2).batch(list(range(10)))
    out = method.explain(batch.x, batch.y)
    assert (out.selection.flatten(1).sum(1) == 16).all()
    keep = out.selection[:, None].float()
    assert torch.equal(out.extras[X_SELECTED], batch.x * keep)
    assert torch.equal(out.extras[X_UNSELECTED], batch.x * (1 - keep))
    with torch.no_grad():
        assert torch.allclose(out.extras["f_b(x_selected)_probs"], torch.softmax(method.model(batch.x * keep), 1))
    assert out.model is method.model  # MEED explains the black box itself
    fewer = method.config.replace(top_k=4)
    method.config = fewer  # the k picker: a test-time setting, no refit
    assert (method.explain(batch.x, batch.y).selection.flatten(1).sum(1) == 4).all()
    assert "top_k" not in fewer.cache_key()


def test_the_prior_favours_high_gradient_x_input_and_its_mae_term_is_optional(tmp_path):
    """r = |∇f·x| normalised: on the toy black box all its mass is in the quadrant it reads (the reference
    code's inverted sign would favour the other pixels); L_e is trained and reported only when λ_e > 0."""
    method = create("meed", QuadrantModel(), INFO, preset="smoke", k=16)
    batch = toy_split(20, seed=3).batch(list(range(20)))
    r = method._prior(QuadrantModel(), batch.x, torch.ones(20, dtype=torch.long)).exp().view(20, 8, 8)
    assert torch.allclose(r.sum((1, 2)), torch.ones(20)) and (r[:, :4, :4].sum((1, 2)) > 0.99).all()
    flat = method._prior(QuadrantModel(), batch.x, torch.zeros(20, dtype=torch.long)).exp()  # class 0: constant logit
    assert torch.allclose(flat, torch.full_like(flat, 1 / 64))  # no gradient: a uniform prior
    _, pulled = fit("meed", tmp_path / "a", epochs=1, le_weight=1.0)
    _, plain = fit("meed", tmp_path / "b", epochs=1)  # the toy's 8 px: λ_e = 0, the paper's value up to 32 px
    assert "L_e" in pulled[-2] and "L_e" not in plain[-2]


def test_the_swd_adversary_trains_deterministically_and_finds_the_class_pixels(tmp_path):
    """adversary=swd: A_u is trained on SW(f_b(x), A_u) and E on −SW (L_adv = −L_u up to the directions drawn);
    two fits with one seed give the same history; the selection still finds the class-carrying quadrant."""
    method, history = fit("meed", tmp_path / "a", adversary="swd")
    _, again = fit("meed", tmp_path / "b", adversary="swd", epochs=2)
    epochs = [h for h in history if "fs_m" in h]
    assert method.config.adversary == "swd" and all(e["L_adv"] <= 0 <= e["L_u"] for e in epochs)
    timeless = lambda hs: [{k: v for k, v in h.items() if k != "eta_s"} for h in hs if "fs_m" in h]  # noqa: E731
    assert timeless(again) == timeless(epochs[:2])  # seeded directions and Gumbel noise
    assert epochs[-1]["fs_m"] >= 0.95
    batch = toy_split(100, seed=1).batch(list(range(100)))
    hit = (method.explain(batch.x, batch.y).selection & batch.masks).flatten(1).sum(1).float() / 16
    assert hit[batch.y == 1].mean() > 0.9
    assert "sliced Wasserstein" in method.settings()["objective"]
