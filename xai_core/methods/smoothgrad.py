"""SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies, via Captum's Saliency.

The noise is drawn per image from a stream seeded by the image and the method's seed (Captum's
NoiseTunnel draws from the global generator, so a map would depend on what ran before and on the
batch it is in); the average is NoiseTunnel's ``smoothgrad``: mean |∂f/∂x| over x + N(0, σ²)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from captum.attr import Saliency

from .base import Explanation, Paper, register
from .captum_base import CaptumExplainer
from .config import MethodConfig, setting
from .noise import ImageNoise


@dataclass(frozen=True)
class SmoothGradConfig(MethodConfig):
    noise_std: float = setting(0.15, "noise σ", "standard deviation of the Gaussian noise added to each copy "
                               "(pixels live in [0, 1], so 0.15 is 15 % of the range)")
    samples: int = setting(16, "samples", "noisy copies averaged per image; more is smoother and slower")
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"samples": 4}, "paper": {"samples": 50}}


@register
class SmoothGrad(CaptumExplainer):
    """Mean |gradient| over Gaussian-noised copies (σ = 15 % of the pixel range), max over channels."""

    name = "smoothgrad"
    paper = Paper(
        "SmoothGrad",
        "Smilkov et al., 2017.",
        "Gradients averaged over noisy copies of the image, which removes much of the gradient's speckle.")
    channel_reduction = "max_abs"
    Config = SmoothGradConfig

    def expansion(self) -> int:
        return self.config.samples

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "noise": "N(0, noise_std²) per pixel, one seeded stream per image"}

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks, progress) -> Explanation:
        s = self.config.samples
        noisy = x[:, None] + self.config.noise_std * ImageNoise(x, self.seed).randn(s, *x.shape[1:])
        grads = Saliency(self.model).attribute(noisy.flatten(0, 1).requires_grad_(True),
                                               target=target.repeat_interleave(s), abs=True)
        return Explanation(self._reduce(grads.detach().view(len(x), s, *x.shape[1:]).mean(1), x))
