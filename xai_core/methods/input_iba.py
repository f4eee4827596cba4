"""InputIBA (Zhang et al. 2021, "Fine-grained neural network explanation by identifying input
features with predictive information"), docs/methods/input_iba.md: IBA on a feature layer, then a WGAN input
prior ``λ_G`` that reproduces the bottlenecked features from the input, then an information
bottleneck on the input itself whose KL is taken against that prior (Proposition 3).

Choices where the paper and the authors' code leave room (also in ``settings()``):
- input noise ε ~ N(0, 1) in the model's normalised input space (the authors' choice), i.e.
  N(mean, std) per channel in pixel space;
- the target is the class the caller explains: evaluations the black box's top-1 by default (the
  authors' code explains the label; on the photos their sensitivity-n keeps, p ≥ 0.6, the two agree);
- λ_G starts from the feature capacity scaled to [0.01, 0.99] (the authors feed the raw capacity);
- the input mask Λ starts at sigmoid(5), like IBA's, and is Gaussian-smoothed (σ = 1 px).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..progress import Progress, prefixed
from .base import Explanation, Paper, register
from .bottleneck import capacity_map, input_normalisation, smooth
from .iba import BottleneckExplainer, FeatureConfig
from .input_prior import train_input_prior
from .noise import ImageNoise

@dataclass(frozen=True)
class InputIBAConfig(FeatureConfig):
    """The feature bottleneck's settings, then the input stage's (§4.1, Appendix D; the paper's
    values at ``paper``): WGAN 20 epochs, RMSprop 5e-5, clipping 0.01, 5 critic updates per
    generator update, 200 target samples; input IBA β_in 20, 60 steps, lr 1, 10 noise samples.
    quick: 2 generator updates. At the paper's lr (5e-5) λ_G moves by about 1e-5 from its start
    even over the paper's 20 epochs (measured: hard_mnist quick, 4 images), so more epochs would
    buy nothing on CPU; the paper preset runs them all."""

    gan_epochs: int = 1
    gan_samples: int = 16
    gan_batch: int = 8
    critic_steps: int = 5
    gan_lr: float = 5e-5
    gan_clip: float = 0.01
    critic_width: int = 16
    local_sigma: float = 0.01
    input_beta: float = 20.0
    input_steps: int = 20
    input_lr: float = 1.0
    input_samples: int = 4
    input_sigma: float = 1.0
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {**FeatureConfig.PRESETS["paper"], "gan_epochs": 20, "gan_samples": 200, "gan_batch": 32,
                  "critic_width": 64, "input_steps": 60, "input_samples": 10},
        "smoke": {**FeatureConfig.PRESETS["smoke"], "gan_samples": 8, "gan_batch": 4, "critic_steps": 2,
                  "critic_width": 8, "input_steps": 4, "input_samples": 2},
    }


def input_kl(lam_in: torch.Tensor, lam_g: torch.Tensor, xn: torch.Tensor) -> torch.Tensor:
    """Proposition 3: KL(P(Z_I | I) ‖ P(Z_I)) per input element, with ``xn = (I − μ_I)/σ_I``:
    log((1 − λ_GΛ)/(1 − Λ)) + (1 − Λ)²/(2(1 − λ_GΛ)²) + xn²(Λ − λ_GΛ)²/(2(1 − λ_GΛ)²) − 1/2.
    Zero where the prior keeps the pixel (λ_G = 1); IBA's KL where it does not (λ_G = 0)."""
    b = (1 - lam_in).clamp_min(1e-6)
    a = (1 - lam_g * lam_in).clamp_min(1e-6)
    return torch.log(a / b) + b**2 / (2 * a**2) + xn**2 * (lam_in - lam_g * lam_in) ** 2 / (2 * a**2) - 0.5


@register
class InputIBA(BottleneckExplainer):
    """InputIBA: IBA on features, a WGAN input prior, then an input bottleneck against that prior."""

    name = "input_iba"
    paper = Paper(
        "InputIBA (with IBA) — information-bottleneck attribution",
        "Zhang, Khakzar, Li, Farshad, Kim & Navab. Fine-Grained Neural Network Explanation by Identifying Input "
        "Features with Predictive Information. NeurIPS 2021 (IBA: Schulz et al., ICLR 2020).",
        "Per image, optimises how much noise each feature can take while the prediction survives: IBA at a hidden "
        "layer gives a coarse map, which (through a learned generative prior) guides a second bottleneck on the "
        "input itself for a fine-grained map. Explore shows IBA's feature capacity, the prior λ_G and the final "
        "input mask side by side; the bottleneck layer is a deep layer at about 1/8 of the input.")
    Config = InputIBAConfig
    scores_note = "input mask Λ averaged over channels"

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "input_noise": "N(0, 1) in the model's normalised input space",
                "prior_init": "feature capacity resized to the input, scaled to [0.01, 0.99]"}

    def expansion(self) -> int:
        return self.config.input_samples  # the input bottleneck's noisy copies per image

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks, progress: Progress) -> Explanation:
        """The three stages for one chunk of images; extras hold the feature capacity map and the
        GAN prior λ_G beside the final map."""
        c, size = self.config, tuple(x.shape[-2:])
        noise = self._noise(x)
        net, layer = self._view()
        fb = self._feature_bottleneck(net, layer, x, target, noise, "1/3 IBA on features", progress)
        prior = train_input_prior(
            net, layer, x, fb, self.stats, epochs=c.gan_epochs, samples=c.gan_samples, batch=c.gan_batch,
            critic_steps=c.critic_steps, lr=c.gan_lr, clip=c.gan_clip, critic_width=c.critic_width,
            local_sigma=c.local_sigma, noise=noise,
            progress=prefixed(progress, "2/3 "),
        )
        lam = self._input_bottleneck(net, x, target, prior.lam, noise, progress)
        return Explanation(lam.mean(1), extras={"feature capacity (IBA, bits)": capacity_map(fb.capacity, size),
                                                "input prior λ_G": prior.lam[:, 0]})

    def _input_bottleneck(self, net: nn.Module, x: torch.Tensor, target: torch.Tensor, lam_g: torch.Tensor,
                          noise: ImageNoise, progress: Progress) -> torch.Tensor:
        """Λ = smooth(sigmoid(α)); min CE(target; Λx + (1 − Λ)ε) + β_in·mean KL (Proposition 3)."""
        c, b, s = self.config, len(x), self.config.input_samples
        mean, std = input_normalisation(net, x)
        xn = (x - mean) / std
        alpha = torch.full_like(x, c.init, requires_grad=True)
        opt = torch.optim.Adam([alpha], lr=c.input_lr)
        tgt = target.repeat_interleave(s)
        steps = c.input_steps
        for step in range(steps):
            lam = smooth(torch.sigmoid(alpha), c.input_sigma)
            eps = noise.randn(s, *x.shape[1:])
            z = (lam[:, None] * xn[:, None] + (1 - lam[:, None]) * eps).flatten(0, 1) * std + mean
            ce = F.cross_entropy(net(z), tgt, reduction="none").view(b, s).mean(1)
            loss = ce + c.input_beta * input_kl(lam, lam_g, xn).flatten(1).mean(1)
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            progress(step + 1, steps, "3/3 input bottleneck", loss=float(loss.detach().mean()))
        with torch.no_grad():
            return smooth(torch.sigmoid(alpha), c.input_sigma)
