"""The contract every registered method meets, checked automatically for each one (a method is
covered the day it is registered): what it declares (a paper card, label-free exactly when its map
ignores the class asked for, offered settings that exist), shapes, finite scores, the same map in any
batch, order and chunking, determinism per seed, and a one-line error where it cannot serve a
dataset or model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core.data.base import TensorImageDataset
from xai_core.errors import XAIError
from xai_core.methods import METHODS, Explanation
from xai_core.methods.base import Paper, create
from xai_core.store import ArtifactStore

N = 6  # images in the conftest fixture


def build(name: str, net: nn.Module, info, store: ArtifactStore, seed: int = 0):
    """The method on ``net`` at the smoke preset, prepared on a small training split if it needs one."""
    layer = {"layer": net.cam_layer} if METHODS.get(name).caps.takes_layer else {}
    explainer = create(name, net, info, preset="smoke", seed=seed, **layer)
    if explainer.caps.uses_train_split:
        explainer.prepare(train_split(info), store)
    return explainer


def train_split(info, n: int = 64) -> TensorImageDataset:
    """``n`` random images (DoRaR's background noise needs at least 50)."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(n, info.channels, info.image_size, info.image_size, generator=g) * 255).to(torch.uint8)
    masks = torch.rand(n, info.image_size, info.image_size, generator=g) > 0.7
    return TensorImageDataset(info, "train", x, torch.randint(0, info.num_classes, (n,), generator=g), masks)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float rounding of batched kernels (relative to the map's scale)."""
    return torch.allclose(a, b, atol=1e-4 * max(1.0, float(a.abs().max())), rtol=1e-3)


@pytest.mark.parametrize("name", METHODS.names())
def test_contract(name, tiny_net, tiny_info, images, store):
    check_contract(name, tiny_net, tiny_info, images, store)


@pytest.mark.parametrize("name", METHODS.names())
def test_a_method_describes_itself(name):
    check_declarations(name)


def check_declarations(name: str) -> None:
    """The About page's card, and Explore's settings naming fields of the method's config with a label."""
    cls = METHODS.get(name)
    assert isinstance(cls.paper, Paper) and cls.paper.title and cls.paper.summary
    fields = cls.Config.for_preset("quick").as_dict()
    for offered in cls.Config.offered():
        assert offered.name in fields and offered.label and offered.help
    assert set(cls.caps.sweeps) <= set(fields)
    if cls.caps.panel is not None:
        assert len(cls.caps.panel.inputs) == len(cls.caps.panel.captions)


@pytest.mark.parametrize("name", METHODS.names())
def test_what_a_method_cannot_serve_is_one_line(name, tiny_net, tiny_info, images, store):
    check_refusals(name, tiny_net, tiny_info, images, store)


def check_contract(name, tiny_net, tiny_info, images, store) -> None:
    """Shapes, finite scores, the same map in any batch, order and chunking, determinism per seed."""
    x, target, masks = images
    explainer = build(name, tiny_net, tiny_info, store)
    out = explainer.explain(x, target, masks)
    assert isinstance(out, Explanation) and out.scores.shape == (N, 12, 12) and out.scores.dtype == torch.float32
    assert torch.isfinite(out.scores).all()
    assert out.model is explainer.explained_model and isinstance(out.settings, dict)
    assert (out.selection is not None) == explainer.caps.selection
    if out.selection is not None:
        assert out.selection.shape == (N, 12, 12) and out.selection.dtype == torch.bool
    if explainer.caps.simplified:
        assert out.extras["simplified"].shape == x.shape
    assert all(v.shape[0] == N for v in out.extras.values())
    if not explainer.caps.signed:
        assert (out.scores >= 0).all()

    other = explainer.explain(x, (target + 1) % tiny_info.num_classes, masks).scores
    assert torch.equal(other, out.scores) == explainer.caps.label_free, (
        "declared label-free but the map changes with the class" if explainer.caps.label_free
        else "the map ignores the class asked for: declare label_free=True")

    order = torch.tensor([3, 0, 5, 1, 4, 2])
    shuffled = explainer.explain(x[order], target[order], masks[order]).scores
    assert close(shuffled, out.scores[order]), "the map depends on the order of the batch"
    alone = explainer.explain(x[4:5], target[4:5], masks[4:5]).scores
    assert close(alone[0], out.scores[4]), "the map depends on the other images of the batch"
    chunked = explainer.explain(x, target, masks, chunk=2)
    assert close(chunked.scores, out.scores), "chunking changes the map"
    again = build(name, tiny_net, tiny_info, store).explain(x, target, masks).scores
    assert torch.equal(again, out.scores), "not deterministic for a fixed seed"


def check_refusals(name, tiny_net, tiny_info, images, store) -> None:
    """Without ground truth, and on a model it cannot hook (a user model: ONNX / torch.export, no named
    layers), a method either works or says why in one line (never a stray AttributeError)."""
    x, target, _ = images
    explainer = build(name, tiny_net, tiny_info, store)
    if explainer.caps.needs_ground_truth:
        with pytest.raises(XAIError, match="ground-truth") as err:
            explainer.explain(x, target)
        assert "\n" not in str(err.value)

    class Opaque(nn.Module):  # what a loaded user model looks like to a method
        arch = "user:model.onnx"

        def __init__(self) -> None:
            super().__init__()
            self.inner = tiny_net

        def forward(self, x):
            return self.inner(x)

    try:
        explainer = create(name, Opaque().eval(), tiny_info, preset="smoke")
        if explainer.caps.uses_train_split:
            explainer.prepare(train_split(tiny_info), store)
        assert explainer.explain(x[:2], target[:2], images[2][:2]).scores.shape == (2, 12, 12)
    except XAIError as err:
        assert "\n" not in str(err) and len(str(err)) < 300
