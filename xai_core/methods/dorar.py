"""DoRaR — Double-sided Remove and Reconstruct (Qin, Amariucai, Qiao, Guan & Fu; docs/methods/dorar.md).

A trained selector F scores explanation units (s_e×s_e chunks, :mod:`xai_core.units`) and keeps
n_e of them. Training (the paper's Algorithm 1) draws a relaxed top-n_e mask M (the sum of n_e
Gumbel-softmax draws at temperature τ, sharpened by ``sigmoid(10(V − 0.5))``), fills the removed
pixels with background noise E drawn from each pixel's empirical distribution over the training
split (:class:`~.reconstruction.PixelNoise`), and trains two generators: G1 reconstructs x from
``x⊙M + E⊙(1−M)``, G2 from ``x⊙(1−M) + E⊙M``. With l1, l2 the reconstruction losses and l3, l4
the frozen black box's cross-entropy on G1's and G2's outputs against its own top-1 on x:
F minimises ``(1−α)(l3 + β·l1) − α(l4 + β·l2)``, G1 ``l3 + β·l1``, G2 ``l4 + β·l2`` (three Adam
optimisers, lr 5e-4, betas (0.5, 0.999), batch 100; α = n_e / units, β = 1 as in the paper). l3, l4 are
cross-entropies in base-10 logs (CE / ln 10), as the authors' code computes them (version 2).
At test time the selection is the hard top-n_e of F's unit probabilities.

Not copied from the authors' code (docs/methods/dorar.md): the black box stays in eval mode (no dropout); the
generators' sigmoid outputs and the noise are in the black box's pixel space [0, 1]; batches are
reshuffled every epoch; losses are batch means whatever the batch size.

Deviations, named in ``settings``: for images other than 28-px grayscale the selector and G are
scaled (a conv trunk pooled onto the unit grid; a conv encoder–decoder instead of the MLP when an
image has more than 1,024 values); the quick preset trains 50 epochs on the smaller splits (4,000
MNIST digits offline), and on images with more than 1,024 values 20 epochs on 2,000 images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import units
from ..data.base import ImageDataset
from .base import Capabilities, Explanation, Panel, Paper, register
from .config import setting
from .reconstruction import (
    MLP_MAX_VALUES, QUICK_LARGE, RECONSTRUCTIONS, PixelNoise, Reconstructor, adam, check_noise_images, generator_kind,
    losses, make_generator, removed,
)
from .trained import Run, Stage, TrainedConfig, TrainedExplainer


@dataclass(frozen=True)
class DoRaRConfig(TrainedConfig):
    """DoRaR's settings; the defaults are the ``quick`` preset's (paper: 80 epochs)."""

    n_e: int = setting(4, "units kept (n_e)", "how many explanation units the selector keeps. Each n_e is its "
                       "own trained selector (and generators): a new value trains a new one, once, cached "
                       "afterwards (as on the Train page)")
    units: int | None = None  # unit side s_e in pixels (1: single pixels); None: about a 7×7 grid
    epochs: int = 50
    batch_size: int = 100
    lr: float = 5e-4  # Adam, betas (0.5, 0.999), for F, G1 and G2
    beta: float = 1.0  # weight of the reconstruction losses (the paper; the code used 0.1)
    alpha: float | None = None  # None: n_e / units, the paper's choice
    tau: float = 0.7  # Gumbel-softmax temperature
    sharpen: float = 10.0  # V → sigmoid(sharpen·(V − 0.5))
    generator: str = "auto"  # "mlp" (the paper's), "conv", or auto by image size
    train_images: int | None = None  # None: the whole training split
    noise_images: int = 5000  # training images the per-pixel noise is drawn from
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"epochs": 80},
        "smoke": {"epochs": 2, "train_images": 200, "noise_images": 200},
    }


class Selector(nn.Module):
    """F: one logit per unit. At 28 px with 4-px units exactly the paper's (conv5 C→16, ReLU, pool,
    conv5 16→32, ReLU, pool, conv1×1 → 7×7); otherwise as many 2× pools as the unit size allows
    (at most two) and the logit map average-pooled onto the unit grid."""

    def __init__(self, channels: int, image_size: int, unit: int) -> None:
        super().__init__()
        pools = 0
        while pools < 2 and unit % (2 ** (pools + 1)) == 0:
            pools += 1
        self.grid = image_size // unit
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2) if pools >= 1 else nn.Identity(),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2) if pools >= 2 else nn.Identity(),
            nn.Conv2d(32, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×units logits (row-major over the unit grid)."""
        out = self.net(x)
        if out.shape[-1] != self.grid:
            out = F.adaptive_avg_pool2d(out, self.grid)
        return out.flatten(1)


def relaxed_top_k(logits: torch.Tensor, k: int, tau: float, sharpen: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A differentiable top-k mask B×U in [0, 1]: k Gumbel-softmax draws summed, then sharpened."""
    u = torch.rand(k, *logits.shape, generator=generator).to(logits.device).clamp_(1e-10, 1 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    v = F.softmax((F.log_softmax(logits, -1)[None] + gumbel) / tau, -1).sum(0)
    return torch.sigmoid(sharpen * (v - 0.5))


@register
class DoRaR(TrainedExplainer):
    """DoRaR: a trained selector of n_e units, judged by generators reconstructing from them and from the rest."""

    name = "dorar"
    explain_state = ("noise",)  # remade from the training split when a shipped fit loads (rebuild_state)
    rebuilt_state = ("noise",)
    paper = Paper(
        "DoRaR — Double-sided Remove and Reconstruct",
        "Qin, Amariucai, Qiao, Guan & Fu. A Comprehensive and Reliable Feature Attribution Method: Double-sided "
        "Remove and Reconstruct (DoRaR).",
        "Trains a selector that keeps n_e explanation units (s_e×s_e pixel chunks, e.g. 4 chunks of 4×4 px) per "
        "image, together with two generators: G1 reconstructs the image from the selected units, G2 from the rest, "
        "the removed part filled with background noise drawn for each pixel from that pixel's empirical "
        "distribution over the training set. The selector is trained so that the black box keeps its prediction on "
        "G1's reconstruction and loses it on G2's (prediction and reconstruction losses on both sides; a relaxed "
        "top-n_e in training, the hard top-n_e at test time). It answers two problems. *Artifacts*: a classifier "
        "fed masked inputs sees images off its training distribution, so pixels can look important only because "
        "their removal confuses it; DoRaR shows the black box generators' reconstructions, never masked images. "
        "*EPITE* (encoding the prediction in the explanation): a selector trained with its own predictor can "
        "encode the class in the mask's shape (the paper's example: 72 % accuracy from one irrelevant pixel); "
        "per-pixel noise, unlike a constant or blurred fill, does not give the shape away, and the complement is "
        "trained and scored too: a mask that leaks the class through its shape leaves a complement that still "
        "predicts well. Explore outlines the selected units (red on the ground-truth object, yellow off it, as in "
        "the paper's Fig. 13) beside G1's and G2's reconstructions; each n_e is its own trained selector.")
    caps = Capabilities(trained=True, selection=True, label_free=True, sweeps={"n_e": (4, 8, 12, 24)},
                        panel=Panel("reconstructions", RECONSTRUCTIONS,
                                    ("G1: from the selected units", "G2: from the complement")))
    Config = DoRaRConfig
    frozen = ("f_b",)
    version = 2  # 2: l3, l4 = cross-entropy / ln 10 (the authors' code)

    def _resolve(self, config: DoRaRConfig) -> DoRaRConfig:
        size = self.info.image_size
        config = config.replace(units=int(config.units or units.default_size(size)), n_e=int(config.n_e))
        if self.preset == "quick" and self.info.channels * size ** 2 > MLP_MAX_VALUES:
            # the preset's defaults scaled down, never a setting the caller chose (even one equal to a default)
            config = config.replace(**{k: v for k, v in QUICK_LARGE.items() if k not in self.explicit})
        units.check_units(size, config.units, config.n_e)
        generator_kind(config.generator, self.info.channels, size)  # a bad name fails here, not in training
        return config

    @property
    def grid(self) -> int:
        return units.grid(self.info.image_size, self.config.units)

    @property
    def alpha(self) -> float:
        c = self.config
        return c.n_e / self.grid ** 2 if c.alpha is None else float(c.alpha)

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {**c.as_dict(), "alpha": self.alpha,
                "unit_grid": f"{self.grid}×{self.grid} units of {c.units}×{c.units} px",
                "generators": generator_kind(c.generator, self.info.channels, self.info.image_size),
                "noise": "each removed pixel (per channel) from that pixel's empirical distribution over "
                         f"the first {c.noise_images} training images (pixel space)",
                "scores": "the selector's unit probabilities (softmax over units) at pixel resolution",
                "selection": f"the hard top-{c.n_e} units",
                "extras": "G1's reconstruction from the selection, G2's from the complement (test noise seeded "
                          "per image)",
                "targets": "the black box's own top-1 on x (l3, l4: its cross-entropy / ln 10, as the authors' code)"}

    # -- components and training step --------------------------------------------------------
    def components(self) -> dict[str, nn.Module]:
        c, info = self.config, self.info
        return {"selector": Selector(info.channels, info.image_size, c.units),
                "g1": make_generator(c.generator, info.channels, info.image_size),
                "g2": make_generator(c.generator, info.channels, info.image_size)}

    def optimisers(self, parts: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {name: adam(parts[name].parameters(), self.config.lr) for name in ("selector", "g1", "g2")}

    def training_images(self, available: int) -> int:
        check_noise_images(available, self.info.name)  # one line before any training
        n = self.config.train_images
        return available if n is None else min(available, int(n))

    def stages(self) -> list[Stage]:
        # F minimises its own objective; G1 and G2 their summed losses (each touches only its own G)
        return [Stage("selector and generators", self.config.epochs, trains=("selector", "g1", "g2"),
                      batch_size=self.config.batch_size,
                      optimises={"selector": "selector_loss", "g1": "loss", "g2": "loss"})]

    def begin_stage(self, stage: Stage, run: Run) -> None:
        run.state.update(self.rebuild_state(run.data))

    def rebuild_state(self, train: ImageDataset) -> dict[str, torch.Tensor]:
        """The noise bank: the first training images, as uint8 (the same ones whenever it is made)."""
        return {"noise": PixelNoise.from_dataset(train, self.config.noise_images).bank}

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c, p, a = self.config, run.parts, self.alpha
        x = run.images(idx)
        with torch.no_grad():
            y = p["f_b"](run.teacher_images(idx, x)).argmax(1)
        keep = relaxed_top_k(p["selector"](x), c.n_e, c.tau, c.sharpen, run.generator)
        m = units.to_pixels(keep.view(-1, self.grid, self.grid), c.units)
        e = PixelNoise(run.state["noise"]).sample(len(idx), run.generator, run.device)
        l1, l3 = losses(p["f_b"], p["g1"](removed(x, m, e)), x, y)
        l2, l4 = losses(p["f_b"], p["g2"](removed(x, 1 - m, e)), x, y)
        g1_loss, g2_loss = l3 + c.beta * l1, l4 + c.beta * l2
        return {"loss": g1_loss + g2_loss, "selector_loss": (1 - a) * g1_loss - a * g2_loss,
                "l1": l1, "l2": l2, "l3": l3, "l4": l4}

    # -- explain step ---------------------------------------------------------------------------
    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        """The selector's unit probabilities and hard top-n_e (label-free: ``target`` is not used);
        G1's and G2's reconstructions with per-image seeded noise."""
        c, g = self.config, self.grid
        with torch.no_grad():
            probs = F.softmax(self.trained("selector")(x), -1).view(-1, g, g)
        selection = units.to_pixels(units.top_units(probs, c.n_e), c.units)
        reconstruct = Reconstructor(self.trained("g1"), self.trained("g2"), PixelNoise(self.state["noise"]), self.seed)
        extras = dict(zip(RECONSTRUCTIONS, reconstruct(x, selection)))
        return Explanation(units.to_pixels(probs, c.units), selection=selection, extras=extras)
