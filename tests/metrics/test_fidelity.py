"""MEED's metrics by hand: fs_fu (agreement on the top-k features only / on the rest, max-pooled
units, zero fill, approximators from EvalInputs) and sen (max-sensitivity, the max over samples)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core.errors import InvalidInputError, XAIError
from xai_core.metrics import METRICS, aggregate, max_sensitivity, selected_features, uniform_noise
from xai_core.metrics.base import EvalInputs


class CornerModel(nn.Module):
    """Two classes decided by the 2×2 top-left pixels only: class 1 when their mean > 0.5, else
    class 0 (a zero-filled corner reads as class 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 8 * (x[:, 0, :2, :2].mean((1, 2)) - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], 1)


def _inputs(scores: torch.Tensor, x: torch.Tensor, *, k=None, approximators=None, explain_again=None) -> EvalInputs:
    model = CornerModel()
    labels = model(x).argmax(1)
    return EvalInputs(model=model, black_box=model, x=x, labels=labels, target=labels, scores=scores, masks=None,
                      fill=torch.tensor([0.5]), k=k, approximators=approximators, explain_again=explain_again)


def _corner_images(b: int = 4, h: int = 8) -> torch.Tensor:
    x = torch.full((b, 1, h, h), 0.9)  # class 1 everywhere: a zero corner flips it to class 0
    return x


def _corner_first(b: int, h: int) -> torch.Tensor:
    """Maps ranking the 2×2 corner first (distinct scores, the rest after)."""
    s = -torch.arange(h * h, dtype=torch.float32).view(h, h)
    s[:2, :2] = 100 + torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    return s.expand(b, h, h).clone()


def test_fs_fu_of_a_map_on_the_decisive_pixels_and_of_its_reverse():
    x = _corner_images()
    good = _corner_first(4, 8)
    metric = METRICS.get("fs_fu")
    out = metric(_inputs(good, x), k=4, approximators=False)
    assert set(out) == {"fs_m", "fu_m"}  # no approximators: only the black box's scores
    assert out["fs_m"].tolist() == [1.0] * 4 and out["fu_m"].tolist() == [0.0] * 4
    bad = metric(_inputs(-good, x), k=4, approximators=False)  # the corner ranked last: kept in x_U
    assert bad["fs_m"].tolist() == [0.0] * 4 and bad["fu_m"].tolist() == [1.0] * 4
    value = aggregate(metric, out)
    assert value["fs_m"] == 1.0 and value["fu_m"] == 0.0 and value["n"] == 4 and value["fs_m_std"] == 0.0


def test_fs_fu_takes_k_from_the_parameter_then_the_inputs_then_ten_percent():
    x = _corner_images(2)
    good = _corner_first(2, 8)
    metric = METRICS.get("fs_fu")
    assert metric(_inputs(good, x, k=4), approximators=False)["fs_m"].tolist() == [1.0, 1.0]
    # k = 1 from the inputs keeps one corner pixel (0.9 of 4 → mean 0.225): not enough for class 1
    assert metric(_inputs(good, x, k=1), approximators=False)["fs_m"].tolist() == [0.0, 0.0]
    assert metric(_inputs(good, x, k=1), k=4, approximators=False)["fs_m"].tolist() == [1.0, 1.0]
    # no k anywhere: 10 % of 64 pixels = 6 features, the corner among them
    assert metric(_inputs(good, x), approximators=False)["fs_m"].tolist() == [1.0, 1.0]


def test_fs_fu_k_beyond_the_units_is_one_line():
    with pytest.raises(InvalidInputError, match=r"k = 65 features asked, but a 8-px image has 64 units") as err:
        METRICS.get("fs_fu")(_inputs(torch.rand(2, 8, 8), _corner_images(2)), k=65, approximators=False)
    assert "\n" not in str(err.value)


def test_selection_max_pools_whole_4x4_blocks_on_a_64_px_image():
    scores = torch.zeros(1, 64, 64)
    scores[0, 5, 9] = 1.0  # one hot pixel in block (1, 2): the max picks the whole block
    scores[0, 40:44, 20:24] = 0.5  # a uniformly warm block (10, 5): a larger mean would not win under max
    keep = selected_features(scores, 4, 2)
    assert keep.sum() == 32
    assert keep[0, 4:8, 8:12].all() and keep[0, 40:44, 20:24].all()
    x = torch.rand(1, 1, 64, 64)
    inp = EvalInputs(model=CornerModel(), black_box=CornerModel(), x=x, labels=torch.zeros(1, dtype=torch.long),
                     target=torch.zeros(1, dtype=torch.long), scores=scores, masks=None, fill=torch.tensor([0.5]))
    out = METRICS.get("fs_fu")(inp, k=2, approximators=False)  # 64 px: 4×4 units, 256 of them
    assert set(out) == {"fs_m", "fu_m"}
    with pytest.raises(InvalidInputError, match="256 units of 4×4 px"):
        METRICS.get("fs_fu")(inp, k=257, approximators=False)


class FakeApproximators:
    """Records what fs_fu asks for; A'_S always says class 1 (agrees), A'_U reads the corner."""

    def __init__(self) -> None:
        self.calls = []

    def fit(self, unit, k, seed, *, epochs, train_images):
        self.calls.append((unit, k, seed, epochs, train_images))
        always_one = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        with torch.no_grad():
            always_one[1].weight.zero_()
            always_one[1].bias.copy_(torch.tensor([0.0, 1.0]))
        return type("Fitted", (), {"selected": always_one, "unselected": CornerModel()})()


def test_fs_fu_scores_the_approximators_the_fitter_trains_and_needs_one():
    x = _corner_images(3)
    fitter = FakeApproximators()
    metric = METRICS.get("fs_fu")
    out = metric(_inputs(_corner_first(3, 8), x, k=5, approximators=fitter), seed=2, epochs=3)
    assert fitter.calls == [(1, 5, 2, 3, None)]
    assert out["fs_a"].tolist() == [1.0] * 3 and out["fu_a"].tolist() == [0.0] * 3
    assert out["fs_m"].tolist() == [1.0] * 3 and out["fu_m"].tolist() == [0.0] * 3
    with pytest.raises(XAIError, match="fs_fu trains approximators on the training split"):
        metric(_inputs(_corner_first(3, 8), x, k=5))


def test_fs_fu_settings_name_fill_directions_and_training():
    metric = METRICS.get("fs_fu")
    described = metric.describe()
    assert metric.kind == "group" and metric.primary == "fs_m" and not metric.needs_ground_truth
    assert "zero in pixel space" in described["fill"] and "maximum" in described["units_rule"]
    assert "Adadelta" in described["approximator_training"] and "batch 128" in described["approximator_training"]
    assert described["k"].startswith("the method's own k")
    for key, better in (("fs_m", "higher"), ("fs_a", "higher"), ("fu_m", "lower"), ("fu_a", "lower")):
        assert f"({better} is better)" in metric.notes[key]  # figures.higher_is_better reads these


# -- sen -----------------------------------------------------------------------------------------
def _channel_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(1)


def _by_hand(x: torch.Tensor, radius: float, samples: int, seed: int) -> torch.Tensor:
    """B×samples: ||mean_c δ_s|| / ||mean_c x|| for the explanation E(x) = mean over channels."""
    noise = uniform_noise(x, radius, samples, seed)  # B×S×C×H×W
    return noise.mean(2).flatten(2).norm(dim=2) / x.mean(1).flatten(1).norm(dim=1, keepdim=True)


def test_sen_is_zero_for_an_explanation_that_ignores_the_input():
    x = torch.rand(3, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    constant = lambda images: torch.ones(images.shape[0], 6, 6)  # noqa: E731
    out = METRICS.get("sen")(_inputs(torch.zeros(3, 6, 6), x, explain_again=constant))
    assert out["sen"].tolist() == [0.0, 0.0, 0.0]


def test_sen_is_the_max_over_the_same_noise_samples_not_the_last():
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    per_sample = _by_hand(x, 0.2, 10, 0)
    assert (per_sample.argmax(1) != 9).any()  # the last sample is not every image's max: max ≠ last
    out = METRICS.get("sen")(_inputs(torch.zeros(4, 6, 6), x, explain_again=_channel_mean))["sen"]
    assert torch.allclose(out, per_sample.max(1).values, rtol=1e-5)
    assert not torch.allclose(out, per_sample[:, -1], rtol=1e-5)
    # normalise=False (a diagnostic, not the papers' form): the same maximum times the norm of the map of x
    raw = METRICS.get("sen")(_inputs(x.mean(1), x, explain_again=_channel_mean), normalise=False)["sen"]
    assert torch.allclose(raw, per_sample.max(1).values * x.mean(1).flatten(1).norm(dim=1), rtol=1e-5)
    # other radius, samples and seed: the same rule
    out = max_sensitivity(_channel_mean, x, radius=0.05, samples=3, seed=7)
    assert torch.allclose(out, _by_hand(x, 0.05, 3, 7).max(1).values, rtol=1e-5)


def test_sen_noise_is_per_image_whatever_the_batch():
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    whole = max_sensitivity(_channel_mean, x)
    parts = torch.cat([max_sensitivity(_channel_mean, x[:1]), max_sensitivity(_channel_mean, x[1:])])
    assert torch.allclose(whole, parts)


def test_sen_explains_b_images_per_call_and_needs_explain_again():
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    sizes = []

    def explain(images):
        sizes.append(images.shape[0])
        assert torch.is_grad_enabled()  # gradient methods get autograd inside Captum's no_grad
        return images.mean(1)

    max_sensitivity(explain, x, samples=4)
    assert sizes == [2] * 5  # x, then one call per sample, each with the batch's own images (targets line up)
    metric = METRICS.get("sen")
    assert metric.kind == "scalar" and metric.higher_is_better is False
    assert "not clamped" in metric.notes["noise"] and "normalised" in metric.notes["score"]
    with pytest.raises(XAIError, match="sen re-explains"):
        metric(_inputs(torch.zeros(2, 6, 6), x))
