"""The a1a2 protocol through services.evaluate: generators trained once per explainer, n_e and seed
(store entries), the same numbers however the images are sharded, unit settings reaching methods
and metrics."""
from __future__ import annotations

import pytest

from xai_core import services
from xai_core.store import ArtifactStore


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return services.load_context("mnist", "smoke", device="cpu", store=ArtifactStore(tmp_path_factory.mktemp("a1a2")))


def _entries(ctx, kind: str) -> set[str]:
    return {p.name for p in (ctx.store.root / kind).glob("*.pt")} if (ctx.store.root / kind).exists() else set()


def test_a1a2_trains_generators_once_per_seed_and_reuses_them(ctx):
    settings = {"a1a2": {"seeds": 2, "n_e": 8, "epochs": 2}}
    first = services.evaluate(ctx, ["gradient"], ["a1a2"], 12, metric_settings=settings)
    value = first["results"]["gradient"]["a1a2"]
    assert value["seeds"] == 2 and value["n"] == 12 and len(value["a1_seeds"]) == 2
    for key in ("a1", "a2", "a1_position", "a1_random", "a2_random"):  # the controls beside a1/a2, by default
        assert 0.0 <= value[key] <= 1.0 and len(value[f"{key}_seeds"]) == 2
    described = first["settings"]["metrics"]["a1a2"]
    assert described["n_e"] == 8 and described["seeds"] == 2 and "empirical distribution" in described["noise"]
    assert described["controls"] is True and "ln 10" in described["generators"]
    assert all(p.grad is None for p in ctx.black_box.parameters())  # the shared black box is left as it was
    generators, maps = _entries(ctx, "generators"), _entries(ctx, "unit_scores")
    assert len(generators) == 6 and len(maps) == 1  # per seed: G1/G2, the position G, the random G1/G2
    sharded = services.evaluate(ctx, ["gradient"], ["a1a2"], 12, batch_size=5, metric_settings=settings)
    assert sharded["results"] == first["results"]  # cached generators, noise and random units seeded per image
    assert _entries(ctx, "generators") == generators
    other = services.evaluate(ctx, ["random"], ["a1a2"], 12, metric_settings=settings)["results"]["random"]["a1a2"]
    assert len(_entries(ctx, "generators")) == 10  # its own pair and position G; the random control is shared
    assert other["a1_random_seeds"] == value["a1_random_seeds"] and other["a2_random"] == value["a2_random"]
    off = {"a1a2": {**settings["a1a2"], "n_e": 4, "controls": False}}
    value = services.evaluate(ctx, ["gradient"], ["a1a2"], 4, metric_settings=off)["results"]["gradient"]["a1a2"]
    assert "a1_position" not in value and "a1_random" not in value
    assert len(_entries(ctx, "generators")) == 12 and len(_entries(ctx, "unit_scores")) == 2  # same n_e-free maps


def test_unit_settings_reach_methods_and_metrics_that_have_them():
    configs, metric_settings = services.unit_configs(["gradient", "dorar"], ["iou", "a1a2", "hit_rate"], 2, 12)
    assert configs == {"dorar": {"units": 2, "n_e": 12}}
    assert metric_settings == {"a1a2": {"units": 2, "n_e": 12}, "hit_rate": {"units": 2, "n_e": 12}}
    assert services.unit_configs(["dorar"], ["a1a2"]) == ({}, {})
