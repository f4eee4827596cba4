"""Grad-CAM (Selvaraju et al. 2017) via Captum's LayerGradCam on the model's last conv block."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from captum.attr import LayerAttribution, LayerGradCam

from ..errors import XAIError
from .base import Paper, register
from .captum_base import CaptumExplainer
from .config import MethodConfig, setting


@dataclass(frozen=True)
class GradCAMConfig(MethodConfig):
    layer: str = setting("", "layer", "the layer whose feature maps are weighted (default \"\": the model's "
                         "last conv block, its cam_layer)")
    upsample: str = "bilinear"


def resolve_layer(model: torch.nn.Module, dotted: str) -> torch.nn.Module:
    """The sub-module named ``dotted`` (e.g. ``net.layer4``)."""
    return model.get_submodule(dotted)


@register
class GradCAM(CaptumExplainer):
    """ReLU(Σ_c mean(∂f/∂A_c)·A_c) on the last conv block, upsampled bilinearly to the input."""

    name = "gradcam"
    paper = Paper(
        "Grad-CAM",
        "Selvaraju et al., ICCV 2017.",
        "Feature maps of the last convolutional layer weighted by their pooled gradients, upsampled: coarse but "
        "class-specific.")
    hooks_layers = True  # LayerGradCam hooks the layer

    Config = GradCAMConfig

    def _resolve(self, config: GradCAMConfig) -> GradCAMConfig:
        layer = config.layer or getattr(self.model, "cam_layer", None)
        if not layer:
            raise XAIError("gradcam needs a model with a known last conv layer (cam_layer)")
        resolve_layer(self.model, layer)  # an unknown layer fails here, before any work
        return config.replace(layer=layer)

    def _captum(self, model):
        return LayerGradCam(model, resolve_layer(model, self.config.layer))

    def _kwargs(self, x):
        return {"relu_attributions": True}

    def _reduce(self, attr, x):
        return LayerAttribution.interpolate(attr, x.shape[-2:], interpolate_mode="bilinear").sum(dim=1)
