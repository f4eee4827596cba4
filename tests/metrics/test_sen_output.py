"""sen's explained output: methods re-run on the model explain the target's softmax probability (the MEED
paper's baselines, App. B.2) by default, the logit on request; trained methods are left as they are; the
softmax is seen only inside the metric's own context, never by another thread using the same model."""
from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from xai_core.errors import InvalidInputError
from xai_core.metrics import METRICS, EvalInputs
from xai_core.metrics.fidelity import softmax_output, uniform_noise


def _linear() -> nn.Module:
    """Two-class logits linear in the 1×4×4 image: the gradient of a logit is the same everywhere."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.linspace(-1, 1, 32).view(2, 16))
        model[1].bias.zero_()
    return model.eval()


def _gradient(model: nn.Module, target: torch.Tensor):
    """A gradient method: ∂ model(x)[t] / ∂x (channels summed), B×H×W."""
    def explain(images: torch.Tensor) -> torch.Tensor:
        images = images.detach().requires_grad_(True)
        grad, = torch.autograd.grad(model(images).gather(1, target[:, None]).sum(), images)
        return grad.sum(1)
    return explain


def _inputs(model: nn.Module, x: torch.Tensor, target: torch.Tensor, rerunnable: bool = True) -> EvalInputs:
    return EvalInputs(model=model, black_box=model, x=x, labels=target, target=target, scores=torch.zeros(len(x), 4, 4),
                      masks=None, fill=torch.tensor([0.5]), explain_again=_gradient(model, target),
                      reexplain=(lambda m: torch.zeros(len(x), 4, 4)) if rerunnable else None)


def test_sen_explains_the_softmax_probability_by_default_and_the_logit_on_request():
    model, x = _linear(), torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 0])
    sen = METRICS.get("sen")
    assert sen.parameters["output"] == "softmax" and sen.parameters["normalise"] is True
    # the logit's gradient is W[t] wherever x is: no sensitivity at all
    assert sen(_inputs(model, x, target), output="logit")["sen"].tolist() == [0.0, 0.0, 0.0]
    # p_t's gradient is p_t(1 − p_t)(W_t − W_other): the map keeps its direction and scales with p_t(1 − p_t),
    # so SEN = max_s |q(x + δ_s) − q(x)| / q(x), q = p_t(1 − p_t), over the metric's own noise draws
    noisy = x[:, None] + uniform_noise(x, 0.2, 10, 0)  # B×S×C×H×W
    with torch.no_grad():
        def q(images: torch.Tensor) -> torch.Tensor:
            p = torch.softmax(model(images), 1).gather(1, target.repeat_interleave(len(images) // 3)[:, None])[:, 0]
            return p * (1 - p)
        base, moved = q(x), q(noisy.flatten(0, 1)).view(3, 10)
    expected = ((moved - base[:, None]).abs() / base[:, None]).amax(1)
    out = sen(_inputs(model, x, target))["sen"]
    assert (out > 0.01).all() and torch.allclose(out, expected, rtol=1e-4)
    with pytest.raises(InvalidInputError, match="output must be one of"):
        sen(_inputs(model, x, target), output="probability")


def test_trained_methods_are_left_as_they_explain():
    model, x = _linear(), torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([1, 0])
    # no reexplain: a method that cannot be re-run on another model (MEED reads f_b's probabilities itself)
    assert METRICS.get("sen")(_inputs(model, x, target, rerunnable=False))["sen"].tolist() == [0.0, 0.0]
    assert not model._forward_hooks  # nothing left on the model


def test_the_softmax_is_seen_only_in_the_metrics_own_context():
    model, x = _linear(), torch.rand(2, 1, 4, 4)
    with torch.no_grad():
        logits = model(x)
        seen: list[torch.Tensor] = []
        with softmax_output(model):
            inside = model(x)
            other = threading.Thread(target=lambda: seen.append(model(x)))  # another session on the shared model
            other.start()
            other.join()
            with softmax_output(model):  # nested: applied once, not twice
                nested = model(x)
        after = model(x)
    assert torch.allclose(inside, torch.softmax(logits, 1)) and torch.allclose(nested, inside)
    assert torch.equal(seen[0], logits) and torch.equal(after, logits) and not model._forward_hooks
