"""LIME (Ribeiro et al. 2016) via Captum's ``Lime``, with DoRaR's explanation units as features.

LIME fits a weighted linear surrogate of the model around one image. Its features are the
s_e×s_e explanation units (:mod:`xai_core.units`; 4 px at 28 px: the 7×7 grid of DoRaR's
Table III LIME baseline), all channels of a unit one feature. Each of ``samples`` copies keeps
every unit with probability ½ (Captum's sampling) and fills the others with the dataset mean
colour; the model's target logit on the copies, weighted by Captum's default kernel
exp(−d²/2w²) of the cosine distance d between image and copy, is ridge-regressed on the keep
patterns; a unit's score is its coefficient (signed). The patterns come from a stream seeded by
the image and the method's seed (Captum's default draws from the global generator), so a map does
not depend on what ran before or on the batch. Images are explained one at a time (Captum fits one
surrogate per image anyway), copies in forward passes sized for throughput (64 at 28 px on CPU)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime as _Lime
from captum.attr._core.lime import get_exp_kernel_similarity_function

from .. import units
from ..chunks import chunk_size
from .base import Capabilities, Explainer, Explanation, Paper, register
from .captum_base import fill_colour
from .config import MethodConfig
from .noise import ImageNoise


#: Ridge(α = 1), the lime package's own default, not Captum's Lasso(α = 0.01): Lasso's fixed α is on
#: the logit's scale, so small per-unit effects vanish. Measured: the tests' 12-px net (36 units,
#: |coefficients| ≈ 0.01) got all-zero maps at 32 and 200 samples; small_cnn on MNIST digits lost
#: 31 % of its 4-px units to 0 (82 % of 1-px units). Ridge is linear in the logit (its
#: ranking does not depend on the logit's scale) and zeroes none. On 40 MNIST digits at 200 samples
#: it matches Lasso and least squares: deleting its top 4/8 units drops the logit by 6.4/9.0 (random
#: units: 1.2/1.9), Spearman 0.85 with a 1000-sample least-squares fit (top-4 overlap 0.93); at the
#: smoke preset's 32 samples (< 49 units) it overlaps that fit's top 4 at 0.69 (Lasso 0.77).
SURROGATE = "Ridge, alpha 1 (the lime package's default), on the target logit"


@dataclass(frozen=True)
class LimeConfig(MethodConfig):
    units: int | None = None  # unit side s_e in px; None: about a 7×7 grid (4 px at 28 px)
    samples: int = 200  # perturbed copies per image
    # w of Captum's default kernel exp(−d²/2w²) on the cosine distance d, and its default width: on
    # MNIST d is 0.13–0.38 (5–95 %), so the weights are 0.93–0.99, nearly a plain least-squares fit
    kernel_width: float = 1.0
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"samples": 32}, "paper": {"samples": 1000}}


@register
class Lime(Explainer):
    """Coefficients of a weighted linear surrogate on mean-colour-filled unit patterns (signed)."""

    name = "lime"
    paper = Paper(
        "LIME",
        "Ribeiro, Singh & Guestrin, KDD 2016.",
        "Fits a weighted linear surrogate of the class score on random copies of the image in which each "
        "explanation unit (the s_e×s_e chunks DoRaR uses) is kept or filled with the dataset mean colour; a unit's "
        "score is its coefficient (signed).")
    caps = Capabilities(signed=True)
    Config = LimeConfig

    def _resolve(self, config: LimeConfig) -> LimeConfig:
        size = self.info.image_size
        config = config.replace(units=int(config.units or units.default_size(size)))
        units.check_units(size, config.units, 1)
        return config

    def expansion(self) -> int:
        return self.config.samples

    def settings(self) -> dict[str, Any]:
        g = units.grid(self.info.image_size, self.config.units)
        return {**self.config.as_dict(), "unit_grid": f"{g}×{g} units of {self.config.units}×{self.config.units} px",
                "fill": "dataset mean colour", "sampling": "each unit kept with p = ½, one seeded stream per image",
                "kernel": "exp(−d²/2w²), d = cosine distance of image and copy", "surrogate": SURROGATE,
                "scores": "per-unit coefficients of the target logit at pixel resolution"}

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks, progress) -> Explanation:
        c, size = self.config, self.info.image_size
        g = units.grid(size, c.units)
        mask = units.index_map(size, c.units, x.device).expand_as(x[:1])
        keep = (ImageNoise(x, self.seed).rand(c.samples, g * g) < 0.5).long()
        fill, per_pass = fill_colour(self.info, x), chunk_size(x[0].numel(), self.device, cap=c.samples)
        coefs = []
        for i in range(len(x)):
            def patterns(_inp: torch.Tensor, _rows: torch.Tensor = keep[i], **_: Any) -> Iterator[torch.Tensor]:
                yield from _rows.split(1)  # 1×units per copy, the image's own stream

            lime = _Lime(self.model, interpretable_model=SkLearnRidge(alpha=1.0),
                         similarity_func=get_exp_kernel_similarity_function("cosine", c.kernel_width),
                         perturb_func=patterns)
            coefs.append(lime.attribute(x[i:i + 1], baselines=fill[i:i + 1], target=target[i:i + 1],
                                        feature_mask=mask, n_samples=c.samples, perturbations_per_eval=per_pass,
                                        return_input_shape=False).detach().to(x.device).view(g, g))
        return Explanation(units.to_pixels(torch.stack(coefs), c.units).float())
