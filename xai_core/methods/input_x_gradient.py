"""Input × Gradient (Shrikumar et al. 2016) via Captum."""
from __future__ import annotations

from captum.attr import InputXGradient as _IxG

from .base import Capabilities, register
from .captum_base import CaptumExplainer


@register
class InputXGradient(CaptumExplainer):
    """x ⊙ ∂f_target/∂x, summed over channels (signed)."""

    name = "input_x_gradient"
    caps = Capabilities(signed=True)

    def _captum(self, model):
        return _IxG(model)
