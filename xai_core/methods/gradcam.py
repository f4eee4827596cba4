"""Grad-CAM (Selvaraju et al. 2017) via Captum's LayerGradCam on the model's last conv block."""
from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam

from ..models.views import model_view
from .base import register
from .captum_base import CaptumExplainer


def resolve_layer(model: torch.nn.Module, dotted: str) -> torch.nn.Module:
    """The sub-module named ``dotted`` (e.g. ``net.layer4``)."""
    return model.get_submodule(dotted)


@register
class GradCAM(CaptumExplainer):
    """ReLU(Σ_c mean(∂f/∂A_c)·A_c) on the last conv block, upsampled bilinearly to the input."""

    name = "gradcam"

    def _captum(self):
        layer = getattr(self.model, "cam_layer", None)
        if not layer:
            from ..errors import XAIError

            raise XAIError("gradcam needs a model with a known last conv layer (cam_layer)")
        self.config.setdefault("layer", layer)
        self.config.setdefault("upsample", "bilinear")
        resolve_layer(self.model, layer)  # an unknown layer fails here, before any work
        return None

    def _attribute(self, x, target, masks, progress):
        view = model_view(self.model)  # Captum hooks the layer: on a private view, never the shared model
        gradcam = LayerGradCam(view, resolve_layer(view, self.config["layer"]))
        cam = gradcam.attribute(x, target=target, relu_attributions=True)
        up = LayerAttribution.interpolate(cam, x.shape[-2:], interpolate_mode="bilinear")
        return up.detach().sum(dim=1)
