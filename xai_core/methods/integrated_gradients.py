"""Integrated Gradients (Sundararajan et al. 2017) via Captum, from the dataset-mean-colour baseline."""
from __future__ import annotations

from captum.attr import IntegratedGradients as _IG

from .base import register
from .captum_base import CaptumExplainer, fill_colour


@register
class IntegratedGradients(CaptumExplainer):
    """Path integral of gradients from the mean-colour image to x, summed over channels (signed)."""

    name = "integrated_gradients"
    signed = True
    defaults = {
        "quick": {"steps": 32, "baseline": "dataset mean colour"},
        "smoke": {"steps": 8, "baseline": "dataset mean colour"},
        "paper": {"steps": 50, "baseline": "dataset mean colour"},
    }

    def _captum(self, model):
        return _IG(model)

    def _expansion(self) -> int:
        return int(self.config["steps"])

    def _kwargs(self, x):
        return {
            "baselines": fill_colour(self.info, x),
            "n_steps": self.config["steps"],
            "internal_batch_size": max(1, len(x)) * self.config["steps"],
            "method": "gausslegendre",
        }
