"""FullGrad (Srinivas & Fleuret 2019). Captum has no FullGrad, so it is written here following the
authors' reference implementation: |∇x·x| plus, for every conv/batch-norm layer, |∇z ⊙ b| (the
bias-gradient), each min-max normalised per image, summed over channels and upsampled bilinearly."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import XAIError
from ..models.user_model import is_user_model
from ..models.views import borrowed_view
from .base import Explainer, Explanation, Paper, register
from .config import MethodConfig


def _effective_bias(module: nn.Module) -> torch.Tensor | None:
    """The bias a layer adds to its output (batch-norm in eval: β − μ·γ/√(σ²+ε))."""
    if isinstance(module, nn.Conv2d):
        return module.bias
    if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
        gamma = module.weight if module.weight is not None else torch.ones_like(module.running_mean)
        beta = module.bias if module.bias is not None else torch.zeros_like(module.running_mean)
        return beta - module.running_mean * gamma / torch.sqrt(module.running_var + module.eps)
    return None


def _postprocess(t: torch.Tensor) -> torch.Tensor:
    """abs, then min-max to [0, 1] per image over all of C×H×W (as in the reference code)."""
    t = t.abs()
    flat = t.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    return (t - lo) / (hi - lo).clamp_min(1e-12)


@register
class FullGrad(Explainer):
    """Input-gradient plus all conv/BN bias-gradients, normalised and summed (FullGrad)."""

    name = "fullgrad"
    paper = Paper(
        "FullGrad",
        "Srinivas & Fleuret, NeurIPS 2019.",
        "Input gradients plus the bias gradients of every layer, aggregated over the network.")

    def _resolve(self, config: MethodConfig) -> MethodConfig:
        if is_user_model(self.model):
            raise XAIError("fullgrad needs the model's Python layers to hook; user models (ONNX, torch.export, "
                           "TorchScript) are not supported")
        return config

    def settings(self):
        return {"layers": "all Conv2d with bias and BatchNorm2d", "upsample": "bilinear"}

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        biases: list[torch.Tensor] = []
        outputs: list[torch.Tensor] = []

        def record(module: nn.Module, _inputs, out: torch.Tensor) -> None:
            biases.append(_effective_bias(module).detach())
            outputs.append(out)

        x = x.clone().requires_grad_(True)
        with borrowed_view(self.model) as view:  # the hooks stay on this thread's view, for this call only
            handles = [m.register_forward_hook(record) for m in view.modules() if _effective_bias(m) is not None]
            try:
                with torch.enable_grad():
                    logits = view(x)
                    selected = logits.gather(1, target.view(-1, 1)).sum()
                    grads = torch.autograd.grad(selected, [x, *outputs], allow_unused=True)
            finally:
                for handle in handles:
                    handle.remove()
        cam = _postprocess(grads[0] * x).sum(1)
        size = x.shape[-2:]
        for bias, g in zip(biases, grads[1:]):
            if g is None or g.dim() != 4:
                continue
            bias_grad = g * bias.view(1, -1, 1, 1)
            cam = cam + F.interpolate(_postprocess(bias_grad), size=size, mode="bilinear", align_corners=True).sum(1)
        return Explanation(cam.detach())
