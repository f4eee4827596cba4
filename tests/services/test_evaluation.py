"""Evaluation as shards: planned as data, run anywhere, reduced into exactly evaluate()'s JSON."""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import pickle

import pytest
import torch

from xai_core import services
from xai_core.errors import XAIError
from xai_core.metrics import METRICS as REGISTERED_METRICS
from xai_core.metrics import EvaluationResult, FitsApproximators, FitsGenerators
from xai_core.services import evaluation, shards

METHODS, METRICS = ["gradient", "random", "iba"], ["iou", "deletion", "faithfulness", "sanity"]


@pytest.fixture(scope="module")
def ctx():
    return services.load_context("hard_mnist", "smoke", device="cpu")


def _same(a, b, path="") -> None:
    """Equal JSON up to float rounding; explaining times (ms_per_image) differ run to run."""
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            if k != "ms_per_image":
                _same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_a_shard_is_data_and_pickles(ctx):
    plan = evaluation.plan_shards(ctx, ["gradient", "iba"], ["iou"], 10, batch_size=4,
                                  configs=services.layer_configs(["iba"], "net.features.1"))
    assert [(s.label, s.indices) for s in plan] == [
        ("gradient", (0, 1, 2, 3)), ("gradient", (4, 5, 6, 7)), ("gradient", (8, 9)),
        ("iba", (0, 1, 2, 3)), ("iba", (4, 5, 6, 7)), ("iba", (8, 9))]
    shard = plan[-1]
    assert shard.context == ctx.spec and shard.config == (("layer", "net.features.1"),) and shard.block == 1
    assert pickle.loads(pickle.dumps(shard)) == shard
    result = shards.run_shard(plan[0], ctx)
    back = pickle.loads(pickle.dumps(result))
    assert back.shard == plan[0] and torch.equal(back.per_image["iou"]["iou"], result.per_image["iou"]["iou"])
    assert result.per_image["iou"]["iou"].shape == (4,) and result.per_image["iou"]["iou"].device.type == "cpu"


def test_shards_run_one_by_one_in_reverse_reduce_to_evaluate(ctx):
    direct = services.evaluate(ctx, METHODS, METRICS, 8, batch_size=3)
    plan = evaluation.plan_shards(ctx, METHODS, METRICS, 8, batch_size=3)
    assert len(plan) == 3 * 3
    results = [shards.run_shard(s, ctx) for s in reversed(plan)]
    _same(direct, evaluation.reduce_shards(ctx, plan, results))
    assert set(direct["ms_per_image"]) == set(METHODS) and direct["n"] == 8
    typed = EvaluationResult.from_json(direct)  # the JSON is the typed result's, read back unchanged
    assert json.dumps(typed.to_json()) == json.dumps(direct)
    assert typed.metrics("curve") == ["deletion", "sanity"] and typed.metrics("scalar") == ["iou", "faithfulness"]
    assert set(direct["spread"]["gradient"]) == {"iou", "faithfulness"}  # scalar metrics only
    for label in METHODS:  # every mean with its interval, around it
        iou, deletion = direct["spread"][label]["iou"], direct["results"][label]["deletion"]
        assert iou["ci95"][0] <= iou["mean"] <= iou["ci95"][1]
        assert deletion["auc_ci95"][0] <= deletion["auc"] <= deletion["auc_ci95"][1]
    assert direct["settings"]["intervals"]["level"] == 0.95
    with pytest.raises(XAIError, match="no result for the shard of iba"):
        evaluation.reduce_shards(ctx, plan, results[1:])


def test_a_shard_runs_from_its_spec_alone(ctx):
    plan = evaluation.plan_shards(ctx, ["iba", "random"], ["iou", "sanity"], 4)
    for shard in plan:
        here, alone = shards.run_shard(shard, ctx), shards.run_shard(shard)
        assert here.settings == alone.settings
        for metric, values in here.per_image.items():
            for key, value in values.items():
                assert torch.allclose(value, alone.per_image[metric][key], equal_nan=True), (metric, key)
    other = services.ContextSpec("hard_mnist", "smoke", 1, "cpu")
    with pytest.raises(ValueError, match="run on a context"):
        shards.run_shard(services.Shard(other, "random", "random", (), ("iou",), (0,)), ctx)


def test_sanity_reexplains_post_hoc_methods_with_their_settings_and_not_trained_ones(ctx, monkeypatch):
    built = []
    real = shards.build_explainer

    def spy(ctx, method, progress=None, **kwargs):
        built.append((method, kwargs.get("layer"), kwargs.get("model") is not None))
        return real(ctx, method, **kwargs)

    monkeypatch.setattr(shards, "build_explainer", spy)
    out = services.evaluate(ctx, ["iba", "diet", "custom gradient"], ["sanity"], 2,
                            configs=services.layer_configs(["iba"], "net.features.1"),
                            variants={"custom gradient": ("gradient", {})})
    randomised = {(m, layer) for m, layer, on_model in built if on_model}
    assert randomised == {("iba", "net.features.1"), ("gradient", None)}  # never diet: it would train again
    sanity = {m: r["sanity"] for m, r in out["results"].items()}
    assert sanity["iba"]["n"] == 2 and sanity["custom gradient"]["n"] == 2
    assert all(math.isfinite(v) for v in sanity["custom gradient"]["y"])
    assert sanity["diet"]["n"] == 0 and all(v is None for v in sanity["diet"]["y"]) and sanity["diet"]["auc"] is None


def test_block_coarsens_the_maps_before_scoring(ctx):
    plain = services.evaluate(ctx, ["gradient"], ["iou"], 6)["results"]["gradient"]["iou"]
    (shard,) = evaluation.plan_shards(ctx, ["gradient"], ["iou"], 6, block=8)
    assert shard.block == 8
    coarse = services.evaluate(ctx, ["gradient"], ["iou"], 6, block=8)["results"]["gradient"]["iou"]
    assert coarse != pytest.approx(plain)


def test_variants_label_a_method_with_other_settings(ctx):
    out = services.evaluate(ctx, ["iba (steps = 2)"], ["iou"], 2, variants={"iba (steps = 2)": ("iba", {"steps": 2})})
    assert out["settings"]["methods"]["iba (steps = 2)"]["steps"] == 2
    assert ctx.has_explainer("iba", steps=2)  # the local backend reuses the context's explainers


@pytest.mark.parametrize("methods, metrics, n, message", [
    (["nope"], ["iou"], 2, "unknown method 'nope'"),
    (["gradient"], ["nope"], 2, "unknown metric 'nope'"),
    (["gradient"], ["iou"], 0, r"--num-images \(--n\) must be at least 1"),
    ([], ["iou"], 2, "nothing to evaluate"),
])
def test_bad_plans_are_one_line(ctx, methods, metrics, n, message):
    with pytest.raises(XAIError, match=message):
        evaluation.plan_shards(ctx, methods, metrics, n)


def test_evaluate_runs_sanity_and_sensitivity_on_smoke(monkeypatch):
    sens = REGISTERED_METRICS.get("sensitivity_n")  # 20 sets per n instead of 100: the same path, 5x fewer forwards
    monkeypatch.setitem(REGISTERED_METRICS._items, "sensitivity_n",
                        dataclasses.replace(sens, parameters={**sens.parameters, "masks_per_n": 20}))
    ctx = services.load_context("hard_mnist", "smoke", device="cpu")
    res = services.evaluate(ctx, ["gradient"], ["sanity", "sensitivity_n", "ehr"], 4)
    r = res["results"]["gradient"]
    for name in ("sanity", "sensitivity_n"):
        assert r[name]["n"] == 4 and all(v is not None and math.isfinite(v) for v in r[name]["y"])
        assert math.isfinite(r[name]["auc"])
    assert r["sanity"]["x"][0] == 0.0 and r["sanity"]["x"][-1] == 1.0 and r["sanity"]["y"][0] == pytest.approx(1.0)
    assert 0.0 <= r["ehr"] <= 1.0 and "quantile_levels" in res["settings"]["metrics"]["ehr"]
    assert res["settings"]["metrics"]["sensitivity_n"]["masks_per_n"] == 20
    # a variant (a label naming a method and its settings) is data, so sanity re-runs it too
    custom = services.evaluate(ctx, ["custom gradient"], ["sanity"], 2, variants={"custom gradient": ("gradient", {})})
    assert custom["results"]["custom gradient"]["sanity"]["n"] == 2


def test_metrics_needing_ground_truth_are_n_a_where_the_dataset_has_none(ctx):
    bare = dataclasses.replace(ctx, info=services.without_ground_truth(ctx.info))  # hard_mnist, masks hidden
    plan = evaluation.plan_shards(bare, ["gradient"], ["iou", "deletion"], 3)
    assert {s.metrics for s in plan} == {("deletion",)}  # left out of the shards
    out = services.evaluate(bare, ["gradient"], ["iou", "deletion"], 3,
                            metric_settings={"deletion": {"steps": 5, "fill": [0.0, 0.0, 0.0]}})
    described = out["settings"]["metrics"]["deletion"]
    assert described["steps"] == 5 and described["fill"] == [0.0] * 3 and "fill_value" not in described
    r = out["results"]["gradient"]
    assert list(r) == ["iou", "deletion"] and r["iou"] is None and 0.0 <= r["deletion"]["auc"] <= 1.0
    assert out["settings"]["not_applicable"] == {"iou": "hard_mnist has no ground-truth masks"}
    assert set(out["settings"]["metrics"]) == {"iou", "deletion"} and set(out["spread"]["gradient"]) == set()
    typed = EvaluationResult.from_json(out)
    assert typed.results["gradient"]["iou"] is None and json.dumps(typed.to_json()) == json.dumps(out)
    with pytest.raises(XAIError, match="metric 'iou' needs ground-truth masks, which hard_mnist does not have"):
        evaluation.plan_shards(bare, ["gradient"], ["iou", "pxap"], 3)  # none applies: one line, as before
    assert services.evaluate(ctx, ["random"], ["iou"], 2)["settings"]["not_applicable"] == {}


def test_robustness_runs_end_to_end_and_loads_the_background_split_only_for_it(ctx, monkeypatch):
    asked = []
    real = ctx.split
    monkeypatch.setattr(ctx, "split", lambda name: asked.append(name) or real(name))
    services.evaluate(ctx, ["gradient"], ["iou", "deletion"], 2, metric_settings={"deletion": {"steps": 3}})
    assert asked == []  # no metric asked for another split
    out = services.evaluate(ctx, ["gradient"], ["robustness"], 4, batch_size=2)
    assert asked == ["test_background"] * 2  # once per shard (the split itself loads once per context)
    r = out["results"]["gradient"]["robustness"]
    assert r["n"] == r["pxap_noisy_n"] == r["pxap_clean_n"] == 4
    assert 0.0 <= r["pxap_clean"] <= 1.0 and 0.0 <= r["pxap_noisy"] <= 1.0 and r["pxap_noisy"] != r["pxap_clean"]
    if "test_background" in ctx.info.splits:  # being added to hard_mnist: either way is fine here
        assert 0.0 <= r["pxap_background"] <= 1.0 and r["pxap_background_n"] == 4
    else:
        assert r["pxap_background"] is None and r["pxap_background_n"] == 0
        assert "no such split" in out["settings"]["metrics"]["robustness"]["pxap_background"]
    assert out["spread"]["gradient"]["robustness"] == {"mean": r["pxap_noisy"], "std": r["pxap_noisy_std"], "n": 4,
                                                       "ci95": r["pxap_noisy_ci95"]}
    whole = services.evaluate(ctx, ["gradient"], ["robustness"], 4)["results"]["gradient"]["robustness"]
    for key in ("pxap_clean", "pxap_noisy", "pxap_background"):  # the random removal is per image, not per batch
        assert whole[key] == pytest.approx(r[key])


def test_the_trained_helpers_fit_what_the_metrics_call(ctx):
    """a1a2 and fs_fu see services' fitters only through the Protocols the metrics declare."""
    explainer = ctx.explainer("gradient")
    assert isinstance(services.GeneratorFitter(ctx, explainer), FitsGenerators)
    assert isinstance(services.ApproximatorFitter(ctx, explainer), FitsApproximators)
    for fitter, protocol in ((services.GeneratorFitter, FitsGenerators),
                             (services.ApproximatorFitter, FitsApproximators)):
        assert list(inspect.signature(fitter.fit).parameters) == list(inspect.signature(protocol.fit).parameters)


def test_intervals_are_the_bootstrap_of_the_per_image_values(ctx):
    """The reduced interval is the bootstrap of exactly the per-image values the shards measured."""
    from xai_core.metrics.results import bootstrap_ci95

    plan = evaluation.plan_shards(ctx, ["gradient"], ["iou"], 6, batch_size=4)
    results = [shards.run_shard(s, ctx) for s in plan]
    out = evaluation.reduce_shards(ctx, plan, results)
    per_image = torch.cat([r.per_image["iou"]["iou"] for r in results])
    assert out["spread"]["gradient"]["iou"]["ci95"] == list(bootstrap_ci95(per_image))
    assert out == evaluation.reduce_shards(ctx, plan, results[::-1])  # deterministic, whatever the order
