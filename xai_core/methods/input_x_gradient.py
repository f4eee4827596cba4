"""Input × Gradient (Shrikumar et al. 2016) via Captum."""
from __future__ import annotations

from captum.attr import InputXGradient as _IxG

from .base import Capabilities, Paper, register
from .captum_base import CaptumExplainer


@register
class InputXGradient(CaptumExplainer):
    """x ⊙ ∂f_target/∂x, summed over channels (signed)."""

    name = "input_x_gradient"
    paper = Paper(
        "Input × Gradient",
        "Shrikumar et al., 2016.",
        "The gradient times the input: a first-order estimate of each pixel's contribution.")
    caps = Capabilities(signed=True)

    def _captum(self, model):
        return _IxG(model)
