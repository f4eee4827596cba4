"""Gradient (saliency, Simonyan et al. 2014) via Captum."""
from __future__ import annotations

from captum.attr import Saliency

from .base import Paper, register
from .captum_base import CaptumExplainer


@register
class Gradient(CaptumExplainer):
    """|∂f_target/∂x|, max over channels (Captum Saliency)."""

    name = "gradient"
    paper = Paper(
        "Gradient (saliency)",
        "Simonyan, Vedaldi & Zisserman, ICLR workshop 2014.",
        "The absolute gradient of the class score with respect to each pixel: where a tiny change moves the score.")
    channel_reduction = "max_abs"

    def _captum(self, model):
        return Saliency(model)

    def _kwargs(self, x):
        return {"abs": True}
