"""IBA and InputIBA (docs/methods/input_iba.md): the bottleneck finds the pixels a model reads, the KL terms match
the paper's formulas, statistics are cached per model, and batching does not change the maps."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from .test_diet import INFO, patch_data
from xai_core.errors import XAIError
from xai_core.methods import METHODS
from xai_core.methods.bottleneck import bottleneck_layer, expands_at_layer, feature_kl, layer_output
from xai_core.methods.iba import IBA
from xai_core.methods.input_iba import InputIBA, input_kl

from xai_core.store import ArtifactStore


class PatchFeatureNet(nn.Module):
    """A 1×1-conv feature layer (identity at start), then a head that reads only the top-left 8×8
    of the features: class k = the patch's dominant channel k."""

    iba_layer = "features"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.features[0].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20.0 * (self.features(x)[:, :, :8, :8].mean((2, 3)) - 0.5)


def _explainer(cls, store, **config):
    explainer = cls(PatchFeatureNet().eval(), INFO, preset="smoke", **config)
    explainer.prepare(patch_data(64), store)
    return explainer


def _inside_share(maps: torch.Tensor) -> torch.Tensor:
    """Share of each map's (non-negative) mass inside the 8×8 patch the model reads (chance 0.25)."""
    m = maps.clamp_min(0)
    return m[:, :8, :8].sum((1, 2)) / m.sum((1, 2))


def test_kl_terms_match_the_papers_formulas():
    lam = torch.tensor([0.0, 0.3, 0.9])
    r = torch.tensor([1.5, -0.5, 2.0])
    expected = -torch.log(1 - lam) + ((1 - lam) ** 2 + (lam * r) ** 2) / 2 - 0.5  # KL(N(λr,(1−λ)²) ‖ N(0,1))
    assert torch.allclose(feature_kl(lam, r), expected)
    assert torch.allclose(feature_kl(torch.zeros(3), r), torch.zeros(3), atol=1e-6)  # all noise: no information
    # Proposition 3: with no prior (λ_G = 0) it is IBA's KL on the input; a prior that keeps the pixel costs nothing
    assert torch.allclose(input_kl(lam, torch.zeros(3), r), feature_kl(lam, r), atol=1e-6)
    assert torch.allclose(input_kl(lam, torch.ones(3), r), torch.zeros(3), atol=1e-6)
    assert (input_kl(lam[1:], torch.full((2,), 0.5), r[1:]) < feature_kl(lam[1:], r[1:])).all()


def test_iba_and_input_iba_find_the_patch_the_model_reads(tmp_path):
    store = ArtifactStore(tmp_path)
    data = patch_data(6, seed=1)
    x, y = data.batch(list(range(6))).x, data.batch(list(range(6))).y
    assert {"iba", "input_iba"} <= set(METHODS) and METHODS.get("input_iba").caps.kind == "per-instance" and not METHODS.get("iba").caps.trained
    iba = _explainer(IBA, store, steps=30).explain(x, y)
    assert iba.scores.shape == (6, 16, 16) and (_inside_share(iba.scores) > 0.7).all()  # chance: 0.25
    stages = []
    out = _explainer(InputIBA, store, steps=30, input_steps=20).explain(
        x, y, progress=lambda d, t, m="", **kw: stages.append(m.split(" ")[0]))
    assert {"1/3", "2/3", "3/3"} <= set(stages)  # the three stages report progress
    assert set(out.extras) == {"feature capacity (IBA, bits)", "input prior λ_G"}
    assert ((out.scores >= 0) & (out.scores <= 1)).all()
    share = _inside_share(out.scores)
    assert (share > 0.4).all() and share.mean() > 0.55, share
    assert (_inside_share(out.extras["input prior λ_G"]) > 0.6).all()  # the prior follows IBA's capacity


@pytest.mark.parametrize("cls", [IBA, InputIBA])
def test_an_image_gets_the_same_map_in_any_batch(tmp_path, cls):
    """Each image draws its noise from its own stream (seeded by its pixels), so the B
    optimisations of a batch are the one-at-a-time ones, up to float rounding."""
    settings = {"steps": 30, **({"input_steps": 20} if cls is InputIBA else {})}
    explainer = _explainer(cls, ArtifactStore(tmp_path), **settings)
    data = patch_data(4, seed=2)
    x, y = data.batch([0, 1, 2, 3]).x, data.batch([0, 1, 2, 3]).y
    together = explainer.explain(x, y).scores
    alone = torch.cat([explainer.explain(x[i:i + 1], y[i:i + 1]).scores for i in range(4)])
    reordered = explainer.explain(x.flip(0), y.flip(0)).scores.flip(0)
    scale = together.abs().max()
    assert torch.allclose(alone, together, atol=1e-3 * scale) and torch.allclose(reordered, together, atol=1e-3 * scale)
    other_seed = cls(PatchFeatureNet().eval(), INFO, preset="smoke", seed=1, **settings)
    other_seed.prepare(patch_data(64), ArtifactStore(tmp_path))
    assert not torch.allclose(other_seed.explain(x, y).scores, together)  # the method's seed still matters


def test_feature_statistics_are_cached_per_model(tmp_path):
    store = ArtifactStore(tmp_path)
    first = _explainer(IBA, store)
    assert first.stats is not None and first.stats.images == 64 and first.stats.mean.shape == (3, 16, 16)
    assert len(list((tmp_path / "feature_stats").glob("*.pt"))) == 1
    _explainer(IBA, store)  # same weights: loaded
    assert len(list((tmp_path / "feature_stats").glob("*.pt"))) == 1
    other = PatchFeatureNet()
    with torch.no_grad():
        other.features[0].bias.fill_(0.1)
    IBA(other.eval(), INFO, preset="smoke").prepare(patch_data(64), store)  # new weights: new statistics
    assert len(list((tmp_path / "feature_stats").glob("*.pt"))) == 2


def test_bottleneck_layer_errors_are_clear():
    with pytest.raises(XAIError, match="named layers"):
        bottleneck_layer(nn.Linear(2, 2), None)
    with pytest.raises(XAIError, match="no layer 'nope'"):
        bottleneck_layer(PatchFeatureNet(), "nope")
    assert bottleneck_layer(PatchFeatureNet(), None)[0] == "features"


def test_batch_expands_at_a_chain_layer_but_not_inside_a_skip_connection():
    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Conv2d(3, 3, 3, padding=1)
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head((x + self.inner(x)).mean((2, 3)))  # x skips around `inner`

    x = torch.rand(2, 3, 8, 8)
    net = PatchFeatureNet().eval()
    assert expands_at_layer(net, net.features, x)
    skip = Skip().eval()
    assert not expands_at_layer(skip, skip.inner, x)
    assert layer_output(net, net.features, x).shape == (2, 3, 8, 8)


def test_bottleneck_layer_is_chosen_by_name_from_services_and_cli(tmp_path, capsys):
    from xai_core import services
    from xai_core.cli import main

    ctx = services.load_context("hard_mnist", "smoke")
    layers, default = services.bottleneck_layers(ctx)
    assert default in layers and "net.features.1" in layers and "net" not in layers  # feature maps only
    assert services.layer_configs(["gradient", "iba"], "net.features.1") == {"iba": {"layer": "net.features.1"}}
    _, out = services.explain_indices(ctx, ["iba"], [0], configs=services.layer_configs(["iba"], "net.features.1"))
    assert out["iba"].settings["layer"] == "net.features.1" and ctx.explainer("iba").settings()["layer"] == default
    assert "top-1" in out["iba"].settings["target"]  # evaluations explain the black box's top-1 (issue 26)
    assert main(["explain", "--dataset", "hard_mnist", "--preset", "smoke", "--index", "0", "--methods", "iba",
                 "--layer", "net.nope", "--out", str(tmp_path)]) == 2
    assert "no layer 'net.nope'" in capsys.readouterr().err
    # a layer that exists but outputs logits, not a feature map: one line listing the ones that can
    assert main(["evaluate", "--dataset", "hard_mnist", "--preset", "smoke", "--methods", "iba", "--metrics", "iou",
                 "--n", "2", "--layer", "net", "--json", str(tmp_path / "e.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot hold a bottleneck" in err and default in err and err.count("\n") == 1


def test_batched_critics_are_independent_per_image():
    """B critics in one module (grouped convolutions, batched matmuls) = B separate small critics."""
    import torch.nn.functional as F

    from xai_core.methods.noise import ImageNoise
    from xai_core.methods.input_prior import BatchedCritic

    critic = BatchedCritic(ImageNoise(torch.rand(2, 3, 4, 4), seed=0), 3, (8, 8), 4)
    f = torch.randn(5, 2, 3, 8, 8)
    out = critic(f)
    assert out.shape == (5, 2)
    for b in range(2):
        h = f[:, b]
        for weight, stride in zip(critic.convs, critic.strides):
            h = F.leaky_relu(F.conv2d(h, weight[b * 4:(b + 1) * 4], stride=stride, padding=1), 0.2)
        h = F.leaky_relu(h.flatten(1) @ critic.fc1[b], 0.2)
        assert torch.allclose((h @ critic.fc2[b])[:, 0], out[:, b], atol=1e-5)
    critic.clip_(0.01)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())
