"""The class explained: evaluations explain the black box's top-1 by default (as all five papers do) and
the label on request; test maps, the training maps behind a1a2 / fs_fu and the JSON agree, and the
command under a page's result says which."""
from __future__ import annotations

import shlex

import pytest
import torch

from xai_core import cli, services
from xai_core.errors import XAIError
from xai_core.models import predict
from xai_core.services import evaluation, shards
from xai_core.services.context import LABEL, TOP1, explained_class, explaining, targets_for
from xai_core.services.training_maps import TrainingMaps

N = 12


@pytest.fixture(scope="module")
def ctx():
    return services.load_context("hard_mnist", "smoke", device="cpu")


@pytest.fixture(scope="module")
def truth(ctx):
    """(labels, top-1) of the first N test images; the smoke black box gets most of them wrong."""
    batch = ctx.test.batch(list(range(N)))
    labels, top1 = batch.y, predict(ctx.black_box, batch.x).argmax(1)
    assert (labels != top1).any(), "the toy needs images whose label is not the black box's top-1"
    return labels, top1


def _record(monkeypatch, explainer) -> list[torch.Tensor]:
    """The targets ``explainer`` is asked to explain, in call order."""
    seen: list[torch.Tensor] = []
    explain = explainer.explain

    def recording(x, target, masks=None, **kw):
        seen.append(target.detach().cpu().clone())
        return explain(x, target, masks, **kw)

    monkeypatch.setattr(explainer, "explain", recording)
    return seen


def test_targets_for_chooses_top1_or_the_label(tiny_net):
    x = torch.rand(6, 3, 12, 12)
    top1 = tiny_net(x).argmax(1)
    labels = (top1 + 1) % 4  # every label differs from the prediction
    labels[0] = -1  # unknown label: both choices explain the prediction
    assert torch.equal(targets_for(tiny_net, x, labels, TOP1), top1)
    assert torch.equal(targets_for(tiny_net, x, labels, LABEL), torch.where(labels >= 0, labels, top1))
    with pytest.raises(XAIError, match="the class explained is one of top1, label, not 'pred'"):
        targets_for(tiny_net, x, labels, "pred")


def test_evaluation_explains_the_top1_by_default_and_the_label_on_request(ctx, truth, monkeypatch):
    labels, top1 = truth
    seen = _record(monkeypatch, ctx.explainer("gradient"))
    default = services.evaluate(ctx, ["gradient"], ["deletion"], N, batch_size=5)
    assert torch.equal(torch.cat(seen), top1) and default["settings"]["target"] == "top1"
    seen.clear()
    label = services.evaluate(ctx, ["gradient"], ["deletion"], N, batch_size=5, target="label")
    assert torch.equal(torch.cat(seen), labels) and label["settings"]["target"] == "label"
    # deletion scores the softmax of the class explained: the two runs measure different things
    assert default["results"]["gradient"]["deletion"]["auc"] != label["results"]["gradient"]["deletion"]["auc"]
    with pytest.raises(XAIError, match="the class explained"):
        services.evaluate(ctx, ["gradient"], ["deletion"], N, target="prediction")


def test_ablations_pass_the_class_explained_on(ctx, truth, monkeypatch):
    labels, _ = truth
    seen = _record(monkeypatch, ctx.explainer("gradient"))
    result = services.resolution_ablation(ctx, ["gradient"], "deletion", [1, 2], N, target="label")
    assert all(torch.equal(t, labels) for t in seen) and len(seen) == 2
    assert {run["settings"]["target"] for run in result["runs"].values()} == {"label"}


def test_shards_carry_the_class_explained_to_the_metrics_training_maps(ctx, monkeypatch):
    """Inside a shard's metrics the class explained is the shard's, so the training maps of a1a2's
    generators and fs_fu's approximators explain what the test maps explain."""
    seen: dict[str, object] = {}

    class Probe:
        @staticmethod
        def get(name):
            def metric(inputs, **_):
                seen["class"] = explained_class()
                seen["fitter"] = inputs.approximators.maps.target
                seen["generators"] = inputs.reconstruction.maps.target
                return {"v": torch.zeros(len(inputs.x))}
            return metric

    monkeypatch.setattr(shards, "METRICS", Probe)
    for target in ("label", "top1"):
        plan = evaluation.plan_shards(ctx, ["gradient"], ["iou"], 4, target=target)
        assert plan[0].target == target
        shards.run_shard(plan[0], ctx)
        assert seen == {"class": target, "fitter": target, "generators": target}
    assert explained_class() == TOP1  # the block ends with the shard


def test_training_maps_explain_the_class_and_key_on_it(ctx, monkeypatch):
    explainer = ctx.explainer("gradient")
    train = TrainingMaps(ctx, explainer).train.batch(list(range(8)))
    top1 = predict(ctx.black_box, train.x).argmax(1)
    assert (top1 != train.y).any()
    seen = _record(monkeypatch, explainer)
    with explaining("label"):
        by_label = TrainingMaps(ctx, explainer)
    by_top1 = TrainingMaps(ctx, explainer)  # outside any block: the papers' top-1
    assert (by_label.target, by_top1.target, TrainingMaps(ctx, explainer, target="label").target) == (
        "label", "top1", "label")
    assert "target" not in by_label.spec  # maps of the label keep the store key they had before
    assert by_top1.spec == {**by_label.spec, "target": "top1"}
    a, b = by_top1.unit_scores(1, 8), by_label.unit_scores(1, 8)
    assert torch.equal(seen[0], top1) and torch.equal(seen[1], train.y)
    assert not torch.equal(a, b)  # cached apart: the label's maps are not served for top-1
    seen.clear()
    assert torch.equal(TrainingMaps(ctx, explainer).unit_scores(1, 8), a) and not seen  # from the store


def test_the_command_names_the_label_only_when_chosen():
    base = dict(seed=0, json_path="e.json")
    default = services.evaluate_command("hard_mnist", "quick", ["gradient"], ["deletion"], 10, **base)
    label = services.evaluate_command("hard_mnist", "quick", ["gradient"], ["deletion"], 10, target="label", **base)
    assert "--target" not in default and label == default.replace("--num-images", "--target label --num-images")
    for command, target in ((default, "top1"), (label, "label")):
        assert cli.build_parser().parse_args(shlex.split(command)[3:]).target == target
    torchrun = services.torchrun_command("hard_mnist", "quick", ["gradient"], ["deletion"], 10, target="label", **base)
    assert "--target label" in torchrun
    with pytest.raises(XAIError, match="the class explained"):
        services.evaluate_command("hard_mnist", "quick", ["gradient"], ["deletion"], 10, target="top-1", **base)
