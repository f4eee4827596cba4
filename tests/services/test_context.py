"""The context every service works on: typed model choices, loading, specs, explainers."""
from __future__ import annotations

import pickle

import pytest

from xai_core import services
from xai_core.data import dataset_info
from xai_core.errors import XAIError
from xai_core.services import ModelChoice


def test_model_choices_are_typed_hashable_values_with_labels():
    choices = services.model_choices(dataset_info("hard_mnist", "smoke"))
    assert choices[0] == ModelChoice("default", "cnn_light") and choices[-1] == ModelChoice("user")
    assert ModelChoice("arch", "small_cnn") in choices and ModelChoice("manipulated", "cnn_light") in choices
    assert [c.label for c in choices][:1] == ["cnn_light (default black box)"]
    assert ModelChoice("arch", "small_cnn").label == "small_cnn"
    assert ModelChoice("manipulated", "cnn_light").label == "cnn_light, manipulated gradients"
    assert ModelChoice("user").label == "your model (ONNX / torch.export)"
    assert ModelChoice("user", path="/store/user_models/ab.onnx").label == "your model (ab.onnx)"
    assert len({ModelChoice("arch", "small_cnn"), ModelChoice("arch", "small_cnn")}) == 1
    assert pickle.loads(pickle.dumps(choices[1])) == choices[1]
    natural = services.model_choices(dataset_info("natural", "smoke"))
    assert [c.kind for c in natural] == ["default", "user"]  # a pretrained model has no trained alternatives
    with pytest.raises(XAIError, match="unknown model kind"):
        ModelChoice("other")
    with pytest.raises(XAIError, match="names its architecture"):
        ModelChoice("arch")


def test_context_of_a_choice_and_its_spec():
    ctx = services.load_context("hard_mnist", "smoke", model=ModelChoice("default", "cnn_light"))
    assert ctx.record["arch"] == "cnn_light" and ctx.model == ModelChoice("default", "cnn_light")
    spec = ctx.spec
    assert spec == services.ContextSpec("hard_mnist", "smoke", 0, "cpu", ModelChoice("default", "cnn_light"))
    again = pickle.loads(pickle.dumps(spec)).load()
    assert again.record["arch"] == "cnn_light" and again.spec == spec
    with pytest.raises(XAIError, match="no model file"):
        services.load_context("hard_mnist", "smoke", model=ModelChoice("user"))


def test_explainers_are_built_once_per_context_and_settings():
    ctx = services.load_context("hard_mnist", "smoke")
    assert not ctx.has_explainer("iba", steps=2)
    iba = ctx.explainer("iba", steps=2)
    assert ctx.has_explainer("iba", steps=2) and ctx.explainer("iba", steps=2) is iba
    assert ctx.explainer("iba") is not iba and iba.config.steps == 2
    fresh = services.build_explainer(ctx, "iba", prepare=False)
    assert fresh.stats is None and iba.stats is not None  # prepare=False only instantiates
    with pytest.raises(XAIError, match="has no setting 'nope'"):
        ctx.explainer("gradient", nope=1)


def test_layer_configs_and_layer_checks():
    assert services.layer_configs(["gradient", "iba", "input_iba"], "net.features.1") == {
        "iba": {"layer": "net.features.1"}, "input_iba": {"layer": "net.features.1"}}
    assert services.layer_configs(["iba"], "") == {} and services.layer_configs(["iba"], None) == {}
    info = dataset_info("hard_mnist", "smoke")
    assert services.check_layer(info, "net.features.1") == "net.features.1"
    with pytest.raises(XAIError, match="no layer 'net.nope'"):
        services.check_layer(info, "net.nope")
