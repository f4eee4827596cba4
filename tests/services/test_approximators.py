"""The fs_fu protocol's approximators: trained once per explainer, k and seed (store entries),
deterministic for a seed, max-pooled unit maps, and fs_fu / sen through services.evaluate with
MEED's k wired from the method or the dataset."""
from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from xai_core import services, units
from xai_core.services import approximators, shards
from xai_core.services.approximators import ApproximatorFitter, train_approximators
from xai_core.store import ArtifactStore

SMALL = {"epochs": 1, "train_images": 48}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return services.load_context("mnist38", "smoke", device="cpu",
                                 store=ArtifactStore(tmp_path_factory.mktemp("fs_fu")))


def _entries(ctx, kind: str) -> set[str]:
    return {p.name for p in (ctx.store.root / kind).glob("*.pt")} if (ctx.store.root / kind).exists() else set()


def _states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_trains_once_then_loads_from_the_store_and_rebuilds_a_corrupt_entry(ctx, monkeypatch):
    explainer = ctx.explainer("gradient")
    calls = []
    real = approximators.train_approximators

    def counting(*args, **kwargs):
        calls.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(approximators, "train_approximators", counting)
    first = ApproximatorFitter(ctx, explainer).fit(1, 25, 0, **SMALL)
    assert calls == [0] and len(_entries(ctx, "approximators")) == 1
    for net in (first.selected, first.unselected):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        assert type(net) is type(ctx.black_box)  # the black box's architecture
    assert set(first.history) == {"loss_selected", "loss_unselected", "agreement_selected", "agreement_unselected"}
    assert all(len(v) == 1 for v in first.history.values())
    assert all(p.grad is None for p in ctx.black_box.parameters())  # the shared black box is left as it was

    again = ApproximatorFitter(ctx, explainer).fit(1, 25, 0, **SMALL)  # a new fitter (a new shard): loaded
    assert calls == [0] and _states_equal(first.selected, again.selected)
    assert _states_equal(first.unselected, again.unselected) and again.history == first.history

    (entry,) = (ctx.store.root / "approximators").glob("*.pt")
    entry.write_bytes(b"not a checkpoint")  # the store rebuilds a corrupt entry
    rebuilt = ApproximatorFitter(ctx, explainer).fit(1, 25, 0, **SMALL)
    assert calls == [0, 0] and _states_equal(first.selected, rebuilt.selected)  # and the seed makes it the same

    ApproximatorFitter(ctx, explainer).fit(1, 10, 0, **SMALL)  # another k: trained apart, same maps
    assert calls == [0, 0, 0] and len(_entries(ctx, "approximators")) == 2 and len(_entries(ctx, "unit_scores")) == 1


def test_unit_scores_are_max_pooled_and_single_pixels_share_the_a1a2_entry(ctx):
    explainer = ctx.explainer("gradient")
    fitter = ApproximatorFitter(ctx, explainer)
    before = _entries(ctx, "unit_scores")
    pixels = services.GeneratorFitter(ctx, explainer).maps.unit_scores(1, 16)  # a1a2's maps (mean pooling)
    added = _entries(ctx, "unit_scores") - before
    assert torch.equal(fitter.maps.unit_scores(1, 16, "max"), pixels) and _entries(ctx, "unit_scores") - before == added
    pooled = fitter.maps.unit_scores(4, 16, "max")
    assert pooled.shape == (16, 7, 7) and torch.equal(pooled, units.pool(pixels, 4, "max"))
    assert not torch.equal(pooled, units.pool(pixels, 4))  # not the a1a2 mean


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_training_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    black_box = Toy().eval()
    x = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    keep = torch.rand(40, 4, 4, generator=torch.Generator().manual_seed(2)) > 0.5
    images = lambda idx: x[idx]  # noqa: E731
    state = torch.get_rng_state()
    a_s, a_u, history = train_approximators(black_box, images, keep, epochs=2, seed=3, batch_size=16)
    assert torch.equal(torch.get_rng_state(), state)
    b_s, b_u, again = train_approximators(black_box, images, keep, epochs=2, seed=3, batch_size=16)
    assert _states_equal(a_s, b_s) and _states_equal(a_u, b_u) and history == again
    assert len(history["loss_selected"]) == 2 and not a_s.training
    c_s, _, _ = train_approximators(black_box, images, keep, epochs=2, seed=4, batch_size=16)
    assert not _states_equal(a_s, c_s)
    assert not _states_equal(a_s, black_box)  # re-initialised, then trained: not the black box's weights


def test_fs_fu_and_sen_through_evaluate_with_the_dataset_k(ctx, monkeypatch):
    asked = []
    real = ApproximatorFitter.fit

    def recording(self, unit, k, seed, **kwargs):
        asked.append((unit, k, seed))
        return real(self, unit, k, seed, **kwargs)

    monkeypatch.setattr(ApproximatorFitter, "fit", recording)
    out = services.evaluate(ctx, ["gradient"], ["fs_fu", "sen"], 6, batch_size=3,
                            metric_settings={"fs_fu": SMALL, "sen": {"samples": 2}})
    assert asked == [(1, 25, 0), (1, 25, 0)]  # mnist38: the paper's k = 25 pixels, one fit for both shards
    fs_fu, sen = out["results"]["gradient"]["fs_fu"], out["results"]["gradient"]["sen"]
    assert {"fs_m", "fu_m", "fs_a", "fu_a"} <= set(fs_fu) and fs_fu["n"] == 6
    assert all(0.0 <= fs_fu[k] <= 1.0 for k in ("fs_m", "fu_m", "fs_a", "fu_a"))
    assert sen is not None and sen >= 0.0
    assert out["settings"]["metrics"]["fs_fu"]["k"].startswith("the method's own k")
    assert out["settings"]["metrics"]["sen"]["samples"] == 2


def test_explanation_k_is_the_methods_own_where_set_else_the_datasets(ctx):
    with_k = types.SimpleNamespace(config=types.SimpleNamespace(k=7))
    unset = types.SimpleNamespace(config=types.SimpleNamespace(k=None))
    assert shards.explanation_k(ctx, with_k) == 7
    assert shards.explanation_k(ctx, unset) == shards.explanation_k(ctx, ctx.explainer("gradient")) == 25
