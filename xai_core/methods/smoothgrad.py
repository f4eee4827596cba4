"""SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies, via Captum's NoiseTunnel."""
from __future__ import annotations

from captum.attr import NoiseTunnel, Saliency

from .base import register
from .captum_base import CaptumExplainer


@register
class SmoothGrad(CaptumExplainer):
    """Mean |gradient| over Gaussian-noised copies (σ = 15 % of the pixel range), max over channels."""

    name = "smoothgrad"
    channel_reduction = "max_abs"
    defaults = {
        "quick": {"samples": 16, "noise_std": 0.15},
        "smoke": {"samples": 4, "noise_std": 0.15},
        "paper": {"samples": 50, "noise_std": 0.15},
    }

    def _captum(self, model):
        return NoiseTunnel(Saliency(model))

    def _expansion(self) -> int:
        return int(self.config["samples"])

    def _kwargs(self, x):
        return {
            "nt_type": "smoothgrad",
            "nt_samples": self.config["samples"],
            "nt_samples_batch_size": self.config["samples"],
            "stdevs": self.config["noise_std"],  # images live in [0, 1], so this is 15 % of the range
            "abs": True,
        }
