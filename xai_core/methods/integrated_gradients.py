"""Integrated Gradients (Sundararajan et al. 2017) via Captum, from the dataset-mean-colour baseline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from captum.attr import IntegratedGradients as _IG

from .base import Capabilities, Paper, register
from .captum_base import CaptumExplainer, fill_colour
from .config import MethodConfig, setting


@dataclass(frozen=True)
class IGConfig(MethodConfig):
    steps: int = setting(32, "integration steps", "points on the path from the mean-colour baseline to the image "
                         "(Gauss-Legendre); more is smoother and slower")
    baseline: str = "dataset mean colour"  # the only baseline offered: named so it prints beside results
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"steps": 8}, "paper": {"steps": 50}}


@register
class IntegratedGradients(CaptumExplainer):
    """Path integral of gradients from the mean-colour image to x, summed over channels (signed)."""

    name = "integrated_gradients"
    paper = Paper(
        "Integrated Gradients",
        "Sundararajan, Taly & Yan, ICML 2017.",
        "Gradients integrated along a straight path from a baseline (here the dataset mean colour) to the image; "
        "the attributions sum to the score difference.")
    caps = Capabilities(signed=True)
    Config = IGConfig

    def _captum(self, model):
        return _IG(model)

    def expansion(self) -> int:
        return self.config.steps

    def _kwargs(self, x):
        return {
            "baselines": fill_colour(self.info, x),
            "n_steps": self.config.steps,
            "internal_batch_size": max(1, len(x)) * self.config.steps,
            "method": "gausslegendre",
        }
