"""InputIBA's evaluation metrics: sensitivity-n, EHR and the cascading-randomisation sanity check."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from xai_core import services
from xai_core.metrics import (
    METRICS,
    EvalInputs,
    cascade,
    cascade_counts,
    ehr,
    parametrised_layers,
    sanity_check,
    sensitivity_counts,
    sensitivity_n,
    ssim_maps,
)


# -- sensitivity-n --------------------------------------------------------------------------------
def linear_model(c: int = 3, h: int = 8, w: int = 8, classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, classes)).eval()


def input_times_weight(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The exact additive attribution of a linear model with a zero fill, summed over channels."""
    w = model[1].weight.detach()[target].view(x.shape)
    return (x * w).sum(1)


def test_sensitivity_counts_are_rounded_unique_and_clipped():
    assert sensitivity_counts(100, (0.001, 0.01, 0.014, 0.5, 2.0)) == [1, 50, 100]
    assert sensitivity_counts(784)[0] == 8 and sensitivity_counts(784)[-1] == 627 and len(sensitivity_counts(784)) == 8
    assert sensitivity_counts(100, counts=[5, 5, 500, 0]) == [1, 5, 100]


def test_sensitivity_n_is_one_for_an_exact_additive_map_and_low_for_a_random_one():
    model = linear_model()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 8, 8, generator=g)
    target = torch.tensor([0, 1, 3])
    exact = sensitivity_n(model, x, target, input_times_weight(model, x, target), fill=0.0, masks_per_n=40,
                          batch_size=37)
    assert exact.counts.tolist() == sensitivity_counts(64) and exact.correlation.shape == (3, len(exact.counts))
    assert torch.allclose(exact.fractions, exact.counts.double() / 64)
    # n = 64 (80 % rounds to 51, not all pixels) – every set differs, so r is defined everywhere
    assert torch.isfinite(exact.correlation).all() and (exact.correlation > 0.9999).all()
    rand = sensitivity_n(model, x, target, torch.rand(3, 8, 8, generator=g), fill=0.0, masks_per_n=40)
    assert rand.correlation.nanmean().abs() < 0.3
    # deterministic, and the same sets whatever the batch: image 1 alone scores as in the batch
    again = sensitivity_n(model, x[1:2], target[1:2], input_times_weight(model, x, target)[1:2], fill=0.0,
                          masks_per_n=40)
    assert torch.allclose(again.correlation[0], exact.correlation[1])


def test_sensitivity_n_constant_map_is_nan_and_registry_runs():
    model = linear_model()
    x = torch.rand(2, 3, 8, 8)
    target = torch.tensor([0, 2])
    flat = sensitivity_n(model, x, target, torch.ones(2, 8, 8), fill=0.0, masks_per_n=10)
    assert flat.correlation.isnan().all()
    inputs = EvalInputs(model=model, black_box=model, x=x, labels=target, target=target,
                        scores=input_times_weight(model, x, target), masks=None, fill=torch.zeros(3))
    out = METRICS.get("sensitivity_n")(inputs, masks_per_n="20", counts="1,8,32")
    assert out["x"].tolist() == [1 / 64, 8 / 64, 32 / 64] and (out["correlation"] > 0.9999).all()
    metric = METRICS.get("sensitivity_n")
    assert metric.kind == "curve" and metric.higher_is_better and "627" in metric.settings["n"]


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
    res = METRICS.get("ehr")(inputs, quantile_levels="21")
    assert res["ehr"][0] == pytest.approx(1.0) and math.isnan(res["ehr"][1])
    with pytest.raises(Exception, match="normalisation"):
        METRICS.get("ehr")(inputs, normalisation="median")


# -- sanity check ---------------------------------------------------------------------------------
def gradient_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    model.eval()
    out = model(x).gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(out, x)
    return grad.abs().sum(1)


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
    out = metric(inputs, steps="3", include_norm="false")
    assert out["x"].tolist() == pytest.approx([0.0, 1 / 3, 1.0]) and out["ssim"][:, 0].tolist() == pytest.approx([1.0, 1.0])
    assert not metric.higher_is_better and metric.kind == "curve"


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
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


# -- through services.evaluate --------------------------------------------------------------------
def test_evaluate_runs_sanity_and_sensitivity_on_smoke(monkeypatch):
    sens = METRICS.get("sensitivity_n")  # 20 sets per n instead of 100: the same path, 5x fewer forwards
    monkeypatch.setitem(METRICS._items, "sensitivity_n",
                        dataclasses.replace(sens, settings={**sens.settings, "masks_per_n": 20}))
    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    res = services.evaluate(ctx, ["gradient"], ["sanity", "sensitivity_n", "ehr"], 4)
    r = res["results"]["gradient"]
    for name in ("sanity", "sensitivity_n"):
        assert r[name]["n"] == 4 and all(v is not None and math.isfinite(v) for v in r[name]["y"])
        assert math.isfinite(r[name]["auc"])
    assert r["sanity"]["x"][0] == 0.0 and r["sanity"]["x"][-1] == 1.0 and r["sanity"]["y"][0] == pytest.approx(1.0)
    assert 0.0 <= r["ehr"] <= 1.0 and "quantile_levels" in res["settings"]["metrics"]["ehr"]
    assert res["settings"]["metrics"]["sensitivity_n"]["masks_per_n"] == 20
    # a prepared explainer under a label that is not a method name cannot be re-run: NaN curves
    custom = services.evaluate(ctx, ["custom gradient"], ["sanity"], 2,
                               explainers={"custom gradient": ctx.explainer("gradient")})
    assert custom["results"]["custom gradient"]["sanity"]["n"] == 0
