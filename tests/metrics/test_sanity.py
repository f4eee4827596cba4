"""Cascading parameter randomisation (sanity check): layer order, seeding, SSIM curves."""
from __future__ import annotations

import pytest
import torch

from xai_core.metrics import METRICS, EvalInputs
from xai_core.metrics.sanity import cascade, cascade_counts, parametrised_layers, sanity_check, ssim_maps

from .helpers import DEVICES, gradient_map


def test_layers_counts_and_cascade_order(tiny_net):
    names = [n for n, _ in parametrised_layers(tiny_net)]
    assert names == ["features.0", "features.1", "features.3", "head"]
    assert [n for n, _ in parametrised_layers(tiny_net, include_norm=False)] == ["features.0", "features.3", "head"]
    assert cascade_counts(4, 6) == [0, 1, 2, 3, 4] and cascade_counts(16, 6) == [0, 1, 5, 8, 12, 16]
    assert cascade_counts(4, 2) == [0, 4]
    before = {k: v.clone() for k, v in tiny_net.state_dict().items()}
    rng = torch.get_rng_state()
    states = {k: {n: v.clone() for n, v in m.state_dict().items()} for k, m in cascade(tiny_net, [0, 1, 2])}
    assert torch.equal(torch.get_rng_state(), rng)  # global RNG untouched
    assert all(torch.equal(v, tiny_net.state_dict()[k]) for k, v in before.items())  # original untouched
    assert all(torch.equal(states[0][k], v) for k, v in before.items())
    changed = lambda k: {n.rsplit(".", 1)[0] for n, v in states[k].items() if not torch.equal(v, before[n])}  # noqa: E731
    assert changed(1) == {"head"}
    assert changed(2) == {"head", "features.3"}
    direct = dict(cascade(tiny_net, [2]))[2].state_dict()  # the same weights, however the steps are spread
    assert all(torch.equal(direct[n], v) for n, v in states[2].items())


def test_sanity_model_independent_map_keeps_ssim_one_gradient_drops(tiny_net):
    x = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2])
    bright = sanity_check(tiny_net, x.mean(1), lambda m: x.mean(1))
    assert bright.fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert torch.allclose(bright.ssim, torch.ones_like(bright.ssim))
    grad = sanity_check(tiny_net, gradient_map(tiny_net, x, target), lambda m: gradient_map(m, x, target))
    assert grad.ssim[:, 0].tolist() == pytest.approx([1.0] * 3)
    assert (grad.ssim[:, -1] < 0.9).all() and grad.layers == ["features.0", "features.1", "features.3", "head"]
    assert ssim_maps(x.mean(1), -x.mean(1)).tolist() == pytest.approx([1.0] * 3)  # |s| by default
    assert (ssim_maps(x.mean(1), -x.mean(1), absolute=False) < 0).all()


def test_sanity_without_reexplain_is_nan_and_registry(tiny_net):
    x = torch.rand(2, 3, 12, 12)
    target = torch.tensor([0, 1])
    inputs = EvalInputs(model=tiny_net, black_box=tiny_net, x=x, labels=target, target=target,
                        scores=gradient_map(tiny_net, x, target), masks=None, fill=torch.full((3,), 0.5))
    metric = METRICS.get("sanity")
    out = metric(inputs)
    assert out["ssim"].isnan().all() and out["x"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    inputs.reexplain = lambda m: gradient_map(m, x, target)
    out = metric(inputs, steps=3, include_norm=False)
    assert out["x"].tolist() == pytest.approx([0.0, 1 / 3, 1.0]) and out["ssim"][:, 0].tolist() == pytest.approx([1.0, 1.0])
    assert not metric.higher_is_better and metric.kind == "curve"


@pytest.mark.parametrize("device", DEVICES)
def test_metrics_run_on_the_models_device(tiny_net, device):
    model = tiny_net.to(device)
    x = torch.rand(2, 3, 12, 12, device=device)
    target = torch.tensor([0, 1], device=device)
    scores = gradient_map(model, x, target)
    rng = torch.cuda.get_rng_state() if device == "cuda" else None
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=target, target=target, scores=scores,
                        masks=scores > scores.median(), fill=torch.full((3,), 0.5, device=device),
                        reexplain=lambda m: gradient_map(m, x, target))
    out = METRICS.get("sanity")(inputs, steps=3)
    assert torch.isfinite(out["ssim"]).all() and out["ssim"][:, 0].tolist() == pytest.approx([1.0, 1.0])
    if rng is not None:
        assert torch.equal(torch.cuda.get_rng_state(), rng)  # the cascade's seeding is forked away
    sens = METRICS.get("sensitivity_n")(inputs, masks_per_n=8, counts=[4, 16])
    assert sens["correlation"].shape == (2, 2) and sens["x"].tolist() == [4 / 144, 16 / 144]
    assert METRICS.get("ehr")(inputs)["ehr"].shape == (2,)
