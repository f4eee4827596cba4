"""Baselines against known properties: Gradient = autograd, IG completeness, reference methods."""
from __future__ import annotations

import pytest
import torch

from xai_core.errors import UnknownNameError, XAIError
from xai_core.methods import METHODS
from xai_core.methods.base import Explainer, run_chunked

POST_HOC = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradcam", "fullgrad"]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 12, 12, generator=g)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    masks = torch.rand(6, 12, 12, generator=g) > 0.7
    return x, target, masks


def make(name, net, info, **kw):
    return METHODS.get(name)(net, info, preset="quick", **kw)


def _input_grad(net, x, target):
    x = x.clone().requires_grad_(True)
    net(x).gather(1, target.view(-1, 1)).sum().backward()
    return x.grad


def test_registry_lists_every_method_in_design_order():
    names = METHODS.names()
    assert names[:2] == ["ground_truth", "random"]
    for n in POST_HOC:
        assert n in names
    with pytest.raises(UnknownNameError, match="unknown method 'nope'"):
        METHODS.get("nope")


@pytest.mark.parametrize("name", POST_HOC + ["random", "ground_truth"])
def test_shapes_finite_and_settings(name, tiny_net, tiny_info, batch):
    x, target, masks = batch
    expl = make(name, tiny_net, tiny_info).explain(x, target, masks)
    assert expl.scores.shape == (6, 12, 12)
    assert torch.isfinite(expl.scores).all()
    assert isinstance(expl.settings, dict)
    assert expl.model is tiny_net


def test_gradient_equals_autograd(tiny_net, tiny_info, batch):
    x, target, _ = batch
    expected = _input_grad(tiny_net, x, target).abs().amax(1)
    got = make("gradient", tiny_net, tiny_info).explain(x, target).scores
    torch.testing.assert_close(got, expected)


def test_input_x_gradient_is_x_times_grad(tiny_net, tiny_info, batch):
    x, target, _ = batch
    expected = (x * _input_grad(tiny_net, x, target)).sum(1)
    torch.testing.assert_close(make("input_x_gradient", tiny_net, tiny_info).explain(x, target).scores, expected)


def test_integrated_gradients_completeness(tiny_net, tiny_info, batch):
    """Σ IG = f(x)_t − f(baseline)_t, baseline = the dataset mean colour."""
    x, target, _ = batch
    x = (x + 1) / 2  # brighter than the baseline, so the output difference is far from zero
    scores = make("integrated_gradients", tiny_net, tiny_info, steps=64).explain(x, target).scores
    baseline = torch.full_like(x, 0.5)
    with torch.no_grad():
        diff = (tiny_net(x) - tiny_net(baseline)).gather(1, target.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(scores.sum((1, 2)), diff, atol=1e-3, rtol=1e-2)
    assert diff.abs().min() > 1e-2  # the property is not trivially 0 = 0


def test_smoothgrad_is_seeded_noise_average(tiny_net, tiny_info, batch):
    x, target, _ = batch
    torch.manual_seed(0)
    a = make("smoothgrad", tiny_net, tiny_info).explain(x, target).scores
    plain = make("gradient", tiny_net, tiny_info).explain(x, target).scores
    assert not torch.allclose(a, plain)  # noise changes it
    assert torch.corrcoef(torch.stack([a.flatten(), plain.flatten()]))[0, 1] > 0.3  # but it is still a gradient map


def test_gradcam_is_nonnegative_and_follows_evidence(tiny_info):
    """A model whose class-0 logit is the mean brightness of the top-left quadrant: CAM lights up there."""

    class Split(torch.nn.Module):
        """Two feature channels: brightness inside / outside the top-left quadrant."""

        def forward(self, x):
            q = torch.zeros_like(x[:, :1])
            q[..., :6, :6] = 1
            b = x.mean(1, keepdim=True)
            return torch.cat([b * q, b * (1 - q)], 1)

    class Quadrant(torch.nn.Module):
        cam_layer = "split"

        def __init__(self):
            super().__init__()
            self.split = Split()

        def forward(self, x):
            return self.split(x).mean((2, 3))

    x = torch.rand(2, 3, 12, 12)
    cam = make("gradcam", Quadrant().eval(), tiny_info).explain(x, torch.tensor([0, 0])).scores
    assert (cam >= 0).all()
    assert cam[:, :5, :5].mean() > 5 * cam[:, 7:, 7:].mean()


def test_fullgrad_without_biases_is_normalised_input_gradient(tiny_info):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 12 * 12, 4, bias=False)).eval()
    x, t = torch.rand(3, 3, 12, 12), torch.tensor([0, 1, 2])
    ig = (x * _input_grad(net, x, t)).abs()
    flat = ig.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    expected = ((ig - lo) / (hi - lo)).sum(1)
    torch.testing.assert_close(make("fullgrad", net, tiny_info).explain(x, t).scores, expected)


def test_fullgrad_uses_bias_gradients(tiny_net, tiny_info, batch):
    x, target, _ = batch
    full = make("fullgrad", tiny_net, tiny_info).explain(x, target).scores
    assert (full >= 0).all()
    ig = (x * _input_grad(tiny_net, x, target)).abs()
    assert full.amax() > 1.5 * ig.sum(1).div(ig.flatten(1).amax(1).view(-1, 1, 1)).amax()  # more than the input term


def test_ground_truth_needs_masks(tiny_net, tiny_info, batch):
    x, target, masks = batch
    assert torch.equal(make("ground_truth", tiny_net, tiny_info).explain(x, target, masks).scores, masks.float())
    with pytest.raises(XAIError, match="ground-truth"):
        make("ground_truth", tiny_net, tiny_info).explain(x, target)


def test_random_is_per_image_deterministic(tiny_net, tiny_info, batch):
    x, target, _ = batch
    rnd = make("random", tiny_net, tiny_info)
    full = rnd.explain(x, target).scores
    assert torch.equal(rnd.explain(x[3:4], target[3:4]).scores[0], full[3])  # independent of batch composition
    assert not torch.equal(full[0], full[1])
    assert abs(full.mean().item() - 0.5) < 0.05
    assert not torch.equal(make("random", tiny_net, tiny_info, seed=1).explain(x, target).scores, full)


@pytest.mark.parametrize("name", ["gradient", "integrated_gradients", "gradcam", "fullgrad"])
def test_chunking_does_not_change_results(name, tiny_net, tiny_info, batch):
    x, target, _ = batch
    whole = make(name, tiny_net, tiny_info).explain(x, target).scores
    small = make(name, tiny_net, tiny_info)
    small.batch_size = 4
    torch.testing.assert_close(small.explain(x, target).scores, whole, atol=1e-5, rtol=1e-4)


def test_out_of_memory_halves_the_chunk(tiny_net, tiny_info):
    owner = Explainer(tiny_net, tiny_info)
    owner.batch_size = 8
    seen = []

    def fn(i, j):
        if j - i > 2:
            raise torch.OutOfMemoryError("simulated")
        seen.append((i, j))
        return torch.arange(i, j)

    assert torch.equal(run_chunked(fn, 7, owner), torch.arange(7))
    assert owner.batch_size == 2 and seen[0] == (0, 2)


def test_expanding_methods_bound_the_values_per_pass(tiny_net, tiny_info):
    """IG and SmoothGrad run the model on steps / samples copies of each image: at 224 px the
    chunk shrinks so that one pass stays near PASS_VALUES (2^24) input values."""
    import dataclasses

    from xai_core.methods.captum_base import PASS_VALUES

    big = dataclasses.replace(tiny_info, image_size=224)
    ig = METHODS.get("integrated_gradients")(tiny_net, big, preset="quick")
    sg = METHODS.get("smoothgrad")(tiny_net, big, preset="quick")
    per_image = 3 * 224 * 224
    assert ig.batch_size == PASS_VALUES // (per_image * 32) == 3 and sg.batch_size == PASS_VALUES // (per_image * 16)
    assert METHODS.get("integrated_gradients")(tiny_net, tiny_info, preset="quick").batch_size == 64  # small images
