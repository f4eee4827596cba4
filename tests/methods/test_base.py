"""The Explainer interface: registry, declared capabilities, typed configs, chunking."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from xai_core.errors import UnknownNameError, XAIError
from xai_core.methods import METHODS
from xai_core.methods.base import Capabilities, Explanation, concat, create
from xai_core.methods.diet import DiETConfig
from xai_core.methods.smoothgrad import SmoothGradConfig

POST_HOC = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradcam", "fullgrad"]


def test_registry_lists_every_method_in_design_order():
    names = METHODS.names()
    assert names[:2] == ["ground_truth", "random"]
    for n in POST_HOC:
        assert n in names
    with pytest.raises(UnknownNameError, match="unknown method 'nope'"):
        METHODS.get("nope")


def test_capabilities_say_what_each_method_is():
    caps = {n: METHODS.get(n).caps for n in METHODS}
    assert {n for n, c in caps.items() if c.kind == "reference"} == {"ground_truth", "random"}
    assert {n for n, c in caps.items() if c.trained} == {"diet", "dorar", "comet", "comet_td", "meed", "l2x"}
    assert not caps["iba"].trained and caps["iba"].prepares and caps["iba"].uses_train_split  # statistics, not training
    assert caps["iba"].kind == caps["input_iba"].kind == "per-instance" and caps["iba"].takes_layer
    assert caps["diet"].selection and caps["diet"].simplified and not caps["diet"].rerunnable
    assert caps["dorar"].selection and not caps["dorar"].simplified and caps["dorar"].sweeps["n_e"] == (4, 8, 12, 24)
    assert dict(caps["diet"].sweeps)["u"] == (1, 2, 4, 8, 16)
    assert caps["ground_truth"].needs_ground_truth and caps["integrated_gradients"].signed
    assert dict(caps["meed"].ablations["w/o AIL"]) == {"ail": False} and not caps["l2x"].ablations  # MEED's Table 2
    assert all(c.kind == "post-hoc" and c.rerunnable for n, c in caps.items() if n in POST_HOC)
    with pytest.raises(TypeError):
        caps["diet"].sweeps["u"] = ()  # declared once, read-only
    assert Capabilities().needs == "the black box only"


def test_config_merges_preset_defaults_and_refuses_unknown_keys():
    assert SmoothGradConfig.for_preset("quick").samples == 16
    assert SmoothGradConfig.for_preset("paper").samples == 50
    assert SmoothGradConfig.for_preset("paper", samples=3).samples == 3  # the caller's value wins
    with pytest.raises(XAIError, match="smoothgrad has no setting 'sample'; its settings: noise_std, samples"):
        SmoothGradConfig.for_preset("quick", "smoothgrad", sample=3)
    assert DiETConfig.for_preset("quick", test_fill_sigma=0).test_fill_sigma == 0.0  # an int for a float field
    with pytest.raises(dataclasses.FrozenInstanceError):
        SmoothGradConfig().samples = 2  # explainers are shared: settings cannot change under a session


def test_cache_key_leaves_out_test_time_settings():
    base = DiETConfig.for_preset("smoke")
    assert base.cache_key() == base.replace(test_steps=7, test_lr=1.0, test_fill_sigma=0.05).cache_key()
    assert base.cache_key() != base.replace(u=2).cache_key()
    assert "test_steps" in base.as_dict() and "test_steps" not in base.cache_key()


def test_an_unknown_setting_is_one_line_before_any_work(tiny_net, tiny_info):
    with pytest.raises(XAIError) as err:
        create("gradient", tiny_net, tiny_info, steps=3)
    assert "gradient has no setting 'steps'" in str(err.value) and "\n" not in str(err.value)


def test_explanations_of_chunks_concatenate():
    parts = [Explanation(torch.zeros(2, 4, 4), selection=torch.ones(2, 4, 4, dtype=torch.bool),
                         extras={"e": torch.zeros(2, 3)}),
             Explanation(torch.ones(1, 4, 4), selection=torch.zeros(1, 4, 4, dtype=torch.bool),
                         extras={"e": torch.ones(1, 3)})]
    out = concat(parts)
    assert out.scores.shape == (3, 4, 4) and out.selection[:2].all() and not out.selection[2].any()
    assert out.extras["e"][:, 0].tolist() == [0.0, 0.0, 1.0]


def test_expanding_methods_bound_the_values_per_pass(tiny_net, tiny_info):
    """IG and SmoothGrad run the model on steps / samples copies of each image: at 224 px the
    chunk shrinks so that one pass stays near PASS_VALUES input values."""
    from xai_core.chunks import PASS_VALUES

    big = dataclasses.replace(tiny_info, image_size=224)
    x = torch.zeros(1, 3, 224, 224).expand(200, -1, -1, -1)
    ig = create("integrated_gradients", tiny_net, big)
    sg = create("smoothgrad", tiny_net, big)
    plain = create("gradient", tiny_net, big)
    per_image = 3 * 224 * 224
    assert ig.chunk_size(x) == max(1, PASS_VALUES["cpu"] // (per_image * 32))
    assert sg.chunk_size(x) == max(1, PASS_VALUES["cpu"] // (per_image * 16))
    assert plain.chunk_size(x) == -(-200 // round(200 / (PASS_VALUES["cpu"] // per_image)))  # balanced passes
    assert plain.chunk_size(x[:8]) == 8  # a small batch is not split into a full pass and a remainder
    small = create("gradient", tiny_net, tiny_info)
    assert small.chunk_size(torch.zeros(1, 3, 12, 12).expand(512, -1, -1, -1)) == small.max_chunk  # capped
