"""Gradient (saliency, Simonyan et al. 2014) via Captum."""
from __future__ import annotations

from captum.attr import Saliency

from .base import register
from .captum_base import CaptumExplainer


@register
class Gradient(CaptumExplainer):
    """|∂f_target/∂x|, max over channels (Captum Saliency)."""

    name = "gradient"
    channel_reduction = "max_abs"

    def _captum(self, model):
        return Saliency(model)

    def _kwargs(self, x):
        return {"abs": True}
