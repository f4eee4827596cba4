"""MEED with adversarial infidelity learning (docs/methods/meed.md), and L2X, its baseline.

An explainer E(x, ŷ) scores every feature unit (pixels up to 32 px, 4×4 max-pooled blocks above:
:func:`xai_core.units.feature_unit`); ŷ = f_b(x)'s class probabilities enter as an extra input plane
(a learned linear map of ŷ onto the unit grid, upsampled, concatenated as a channel: *model-output
feedback*). z = softmax over the units. Training draws a soft k-hot v by L2X's Gumbel-softmax top-k:
k independent concrete samples at temperature τ over log z, their element-wise maximum (the softmax
samples, not the maximum of the noisy logits: the authors' image code's bug). Two approximators with
the black box's architecture, re-initialised, predict ŷ's class: A_s from x⊙v, A_u from x⊙(1−v).
Each batch alternates

    min_{A_s, A_u}  L_s + w·L_u          then          min_E  L_s + w·L_adv (+ λ_e·MAE(z, z̃)/(m+1)),

with L_s = cross-entropy against ŷ's class and w = 1e-3 on MNIST, 1 elsewhere (the paper). The
adversarial term (AIL: the unselected features must not predict ŷ) comes in three forms (``adversary``):

- ``"flip"``: A_u trained with L_u = CE(A_u, ŷ's class), E with L_adv = CE(A_u, 1 − ŷ) (the flipped target,
  the paper's App. B.1); binary tasks only;
- ``"swd"``: the paper's ℓ_u for Fashion-MNIST and ImageNet (§4.0.3, App. B.1; the authors'
  ``fashion-mnist/train_with_wasserstein_distance.py``): the sliced Wasserstein distance
  SW(P, Q) = mean_{i,j} |sort_b(P θ_jᵀ)_i − sort_b(Q θ_jᵀ)_i| between the batch of black-box
  probabilities P (B×C) and of A_u's softmax outputs Q, over m random unit directions θ_j ∈ R^C (m =
  ``swd_projections``: 128 up to 32 px, 256 above, the paper's Fashion-MNIST and ImageNet values)
  (:func:`swd_directions`, drawn from the run's seeded generator; each projection sorted over the batch;
  L1, as the authors' code); A_u minimises L_u = SW, E minimises L_adv = −SW (weight w);
- ``"uniform"``: A_u trained with CE as for flip, E with the cross-entropy of A_u against the uniform
  distribution (a bounded stand-in, any number of classes; not the paper's).

``"auto"``: swd on the Fashion-MNIST datasets (``fashion*``) and on images over 32 px (the paper's
ImageNet), flip on the other binary tasks (MNIST 3 vs 8, as the paper), swd on tasks with more than two
classes (the paper has none: its five tasks are binary; swd is its form that takes any number of classes).

Prior warm start (the paper's §3.4): r = |∇f_b(x)[ŷ]·x| (Gradient × Input; higher = more important,
the reference code's sign is inverted), max-pooled to units and normalised to sum 1; at epoch m
(m = 1, 2, …: the paper's m ∈ Z₊) the sampling uses z̃ ∝ (z^m · r)^{1/(m+1)} instead of z, so the prior
fades; the MAE term pulls z towards z̃ with weight λ_e/(m+1) (the paper: λ_e = 1e-3 on ImageNet-size
images, 0 on MNIST and Fashion-MNIST). Adadelta (torch's defaults, lr 1.0, as Keras's), batch 128.

At test time the explanation is the hard top-k of z: scores = z at pixel resolution, selection =
the top-k units. ``l2x`` is the same machinery without feedback, AIL and prior (the paper's L2X).
Networks: the paper's Table 7 explainer (three 3×3 convs 32/64/1) for images up to 32 px, a small
U-Net (:class:`~.unet.SmallUNet`) above; the approximators are the black box's architecture (the
paper's Table 6 network is our ``small_cnn`` black box on the 28-px datasets).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import units
from ..data.base import DatasetInfo
from ..errors import XAIError
from .base import Capabilities, Explanation, Panel, Paper, register
from .config import setting
from .copies import check_trainable, fresh_copy
from .trained import FitComparison, Run, Stage, TrainedConfig, TrainedExplainer
from .unet import SmallUNet

ADVERSARIES = ("auto", "flip", "swd", "uniform")
X_SELECTED, X_UNSELECTED = "x_selected", "x_unselected"  # extras: the zero-filled inputs
SELECTED_INPUTS = Panel("selected_inputs", (X_SELECTED, X_UNSELECTED), ("selected only", "unselected only"))
FS_M_IMAGES = 512  # training images FS-M is measured on after every epoch (the live curve)


@dataclass(frozen=True)
class MEEDConfig(TrainedConfig):
    """MEED's settings; the defaults are the ``quick`` preset's."""

    k: int | None = None  # feature units selected; None: the dataset's (25 on mnist38, 64 on the Fashion pair,
    # else 10 %)
    tau: float = 0.5  # Gumbel-softmax temperature
    feedback: bool = True  # the black box's output as an extra input plane of the explainer
    ail: bool = True  # adversarial infidelity learning (A_u and its adversarial term)
    prior: bool = True  # the Gradient × Input warm start
    adversary: str = "auto"  # "flip" (binary: CE against 1 − ŷ), "swd" (sliced Wasserstein), "uniform"; auto: the
    # paper's choice (swd on Fashion-MNIST and above 32 px, flip on other binary tasks, swd with more classes)
    swd_projections: int | None = None  # random directions of the swd term; None: 128 up to 32 px, 256 above (paper)
    lu_weight: float | None = None  # w; None: 1e-3 on MNIST datasets, 1 elsewhere (the paper)
    le_weight: float | None = None  # λ_e; None: 1e-3 on images over 32 px, 0 up to 32 px (the paper)
    epochs: int = 10
    batch_size: int = 128
    train_images: int | None = 6000  # None: the whole training split
    top_k: int | None = setting(None, "features shown (k)", "how many of the top-scored feature units form the "
                                "selection (test time: no refit); the default is the k it was trained with",
                                test_time=True)
    def cache_key(self) -> dict[str, Any]:
        key = super().cache_key()
        if not (key.get("ail") and key.get("adversary") == "swd"):  # fits without the swd term keep their keys
            key.pop("swd_projections", None)
        return key

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"epochs": 100, "train_images": None},
        "smoke": {"epochs": 2, "train_images": 256, "batch_size": 64},
    }


def gumbel_top_k(log_z: torch.Tensor, k: int, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """L2X's relaxed k-hot sample of B×D log-probabilities: k independent concrete (Gumbel-softmax)
    samples at temperature ``tau``, their element-wise maximum (B×D in [0, 1])."""
    u = torch.rand(k, *log_z.shape, generator=generator).to(log_z.device).clamp_(1e-10, 1 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    return F.softmax((log_z[None] + gumbel) / tau, -1).amax(0)


def swd_directions(classes: int, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """m×C unit directions θ_j for the sliced Wasserstein term. Two classes: m angles evenly spaced on the
    circle, turned by one random angle (the authors' ``gen_vectors_max_inter_angle`` for C = 2: an evenly
    spaced fan times a random orthogonal matrix); more classes: Gaussian directions, normalised."""
    if classes == 2:
        start = torch.rand((), generator=generator, dtype=torch.float64) * 2 * torch.pi
        angle = start + torch.arange(m, dtype=torch.float64) * (2 * torch.pi / m)
        return torch.stack([angle.cos(), angle.sin()], 1).float()
    theta = torch.randn(m, classes, generator=generator)
    return theta / theta.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sliced_wasserstein(p: torch.Tensor, q: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein distance (L1, the authors' ``sliced_wasserstein_distance_with_Theta``) between the
    batches ``p`` and ``q`` (B×C each, treated as two empirical distributions of B points): both projected
    on the m directions ``theta`` (m×C), each projection sorted over the batch, mean |difference|."""
    theta = theta.to(p.device, p.dtype)
    return ((p @ theta.T).sort(0).values - (q @ theta.T).sort(0).values).abs().mean()


def faded_prior(log_z: torch.Tensor, log_r: torch.Tensor, m: int) -> torch.Tensor:
    """log z̃ for z̃ ∝ (z^m · r)^{1/(m+1)} (B×D log-probabilities; epoch m ≥ 1)."""
    return F.log_softmax((m * log_z + log_r) / (m + 1), -1)


class Table7Explainer(nn.Module):
    """The paper's MNIST/Fashion-MNIST explainer: three 3×3 'same' convs 32 → 64 → 1 (ReLU, ReLU, linear)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 1, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ExplainerNet(nn.Module):
    """E(x, ŷ) → B×D unit logits: the normalised image, with ŷ's plane (a linear map of the class
    probabilities onto the unit grid, upsampled) as an extra channel when ``feedback``."""

    def __init__(self, channels: int, classes: int, image_size: int, unit: int, feedback: bool,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.unit, self.grid = unit, image_size // unit
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.plane = nn.Linear(classes, self.grid ** 2) if feedback else None
        cin = channels + (1 if feedback else 0)
        self.body = Table7Explainer(cin) if image_size <= 32 else SmallUNet(cin)

    def forward(self, x: torch.Tensor, y_probs: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        if self.plane is not None:
            plane = self.plane(y_probs).view(-1, 1, self.grid, self.grid)
            z = torch.cat([z, units.to_pixels(plane[:, 0], self.unit)[:, None]], 1)
        return units.pool(self.body(z)[:, 0], self.unit, "max").flatten(1)


@register
class MEED(TrainedExplainer):
    """MEED: an explainer fed the model's output, trained against two approximators (AIL), fading prior (trained)."""

    name = "meed"
    paper = Paper(
        "MEED with AIL — Adversarial Infidelity Learning",
        "Liang, Bai, Cao, Bai & Wang. Adversarial Infidelity Learning for Model Interpretation. KDD 2020.",
        "A trained (amortised) explainer E(x, ŷ) scores every feature unit — pixels up to 32 px, 4×4 max-pooled "
        "blocks above — in one forward pass; the explanation is the top k units of z, the softmax over the units "
        "(k = 25 on `mnist38`, 64 on `fashion_pullover_shirt`, else 10 % of the units; Explore's k picker changes "
        "how many are shown without a refit). *Model-output feedback*: the black box's output ŷ enters E as an "
        "extra input plane. Training draws a soft k-hot mask v by L2X's Gumbel-softmax top-k (τ = 0.5) and trains "
        "two approximators with the black box's architecture to predict ŷ's class: A_s from the selected features "
        "x⊙v (loss L_s), A_u from the rest x⊙(1−v) (L_u). *AIL* (adversarial infidelity learning): E is trained on "
        "L_s plus an adversarial term L_adv that makes the unselected features useless to A_u (as the paper: the "
        "sliced Wasserstein distance between f_b's and A_u's outputs over 128 random directions on Fashion-MNIST "
        "(256 above 32 px), the cross-entropy against the flipped target 1 − ŷ on MNIST), so nothing predictive is "
        "left behind and the class cannot hide in the mask's shape. *Prior warm start*: early epochs sample from "
        "z̃ ∝ (z^m · r)^(1/(m+1)) at epoch m, where r = |∇f_b(x)·x| is Gradient × Input pooled to units; the "
        "prior fades as m grows (plus an MAE pull towards z̃ on images above 32 px). Weight of the A_u terms: "
        "1e-3 on MNIST, 1 elsewhere; Adadelta, batch 128. Explore shows the selected pixels over the image, the "
        "selected-only and unselected-only inputs (zero fill) and the black box's class on each; Train shows the "
        "losses and FS-M per epoch and the paper's Figure 3 (FS-M with vs without the prior); Ablations runs the "
        "paper's Table 2 (MEED without output feedback, without AIL, without the prior).")
    # the paper's Table 2: MEED without each of its three components
    caps = Capabilities(trained=True, selection=True, label_free=True, panel=SELECTED_INPUTS, ablations={
        "w/o output": {"feedback": False}, "w/o AIL": {"ail": False}, "w/o prior": {"prior": False}})
    Config = MEEDConfig
    frozen: ClassVar[tuple[str, ...]] = ("f_b",)
    version: ClassVar[int] = 2  # 2: the sliced Wasserstein adversary (auto on Fashion-MNIST)
    comparison = FitComparison(
        "FS-M per epoch with vs without the prior warm start",
        "The paper's Figure 3: the Gradient × Input prior guides MEED's first epochs, so its FS-M (the black box's "
        "agreement on the top-k features alone, 512 training images, after every epoch) should rise sooner than "
        "without it.", "fs_m", {"prior": False})

    @classmethod
    def for_dataset(cls, config: MEEDConfig, info: DatasetInfo) -> MEEDConfig:
        """k, the adversary and the loss weights for ``info``'s dataset; one line for what it cannot take."""
        unit = units.feature_unit(info.image_size)
        k = int(config.k or units.default_k(info.name, info.image_size))
        units.check_k(info.image_size, unit, k)
        if config.top_k is not None:
            units.check_k(info.image_size, unit, int(config.top_k))
        if config.adversary not in ADVERSARIES:
            raise XAIError(f"{cls.name}: adversary must be one of {', '.join(ADVERSARIES)}, got {config.adversary!r}")
        adversary = config.adversary
        if adversary == "auto":  # without AIL the term is unused: the version-1 rule, so those fits keep their keys
            adversary = cls.paper_adversary(info) if config.ail else ("flip" if info.num_classes == 2 else "uniform")
        if adversary == "flip" and info.num_classes != 2:
            raise XAIError(f"{cls.name}: the flipped-target adversary (CE against 1 − ŷ) needs a binary task; "
                           f"{info.name} has {info.num_classes} classes (use adversary=swd or uniform)")
        lu = config.lu_weight if config.lu_weight is not None else (1e-3 if info.name.startswith("mnist") else 1.0)
        le = config.le_weight if config.le_weight is not None else (1e-3 if info.image_size > 32 else 0.0)
        swd = config.swd_projections if config.swd_projections is not None else (256 if info.image_size > 32 else 128)
        if int(swd) < 1:
            raise XAIError(f"{cls.name}: swd_projections must be at least 1, got {swd}")
        return config.replace(k=k, adversary=adversary, lu_weight=float(lu), le_weight=float(le),
                              swd_projections=int(swd))

    @staticmethod
    def paper_adversary(info: DatasetInfo) -> str:
        """The adversarial term the paper uses for a dataset like ``info``'s (§4.0.3): the sliced Wasserstein
        distance on Fashion-MNIST and ImageNet (here: ``fashion*`` datasets and images over 32 px), the
        flipped-target CE on its other (binary) tasks; with more than two classes (none in the paper), swd."""
        if info.name.startswith("fashion") or info.image_size > 32 or info.num_classes != 2:
            return "swd"
        return "flip"

    def _resolve(self, config: MEEDConfig) -> MEEDConfig:
        check_trainable(self.model, f"{self.name}'s approximators")
        return config

    @property
    def unit(self) -> int:
        return units.feature_unit(self.info.image_size)

    def settings(self) -> dict[str, Any]:
        c = self.config
        adversarial = {
            "flip": "CE(A_u(x⊙(1−v)), 1 − ŷ) (flipped target, the paper's App. B.1)",
            "swd": f"(−SW(f_b(x), A_u(x⊙(1−v)))) (sliced Wasserstein, L1, {c.swd_projections} random directions "
                   "per step, each projection sorted over the batch: the paper's §4.0.3 / App. B.1; A_u minimises "
                   "SW instead of CE)",
            "uniform": "CE(A_u(x⊙(1−v)), uniform) (a bounded stand-in, not the paper's)"}[c.adversary]
        features = f"{self.unit}×{self.unit}-px units, {'max-pooled' if self.unit > 1 else 'pixels'}"
        return {**c.as_dict(), "features": features,
                "objective": ("approximators: L_s + w·L_u; explainer: L_s"
                              + (f" + w·{adversarial}" if c.ail else "")
                              + (" + λ_e·MAE(z, z̃)/(m+1), sampling from z̃ ∝ (z^m·r)^(1/(m+1)), r = |∇f_b·x|"
                                 if c.prior else "")),
                "selection_sampling": f"max over k = {c.k} Gumbel-softmax samples at τ = {c.tau} (train); "
                                      "hard top-k (test)",
                "optimiser": "Adadelta (torch defaults), alternating per batch",
                "approximators": "the black box's architecture, re-initialised, trained to predict ŷ's class",
                "fill": "zero (pixel space)", "scores": "z = softmax over the units of E(x, ŷ), at pixel resolution",
                "selection": f"the top {c.top_k or c.k} units"}

    # -- components and training step --------------------------------------------------------
    def components(self) -> dict[str, nn.Module]:
        c, info = self.config, self.info
        parts = {"explainer": ExplainerNet(info.channels, info.num_classes, info.image_size, self.unit, c.feedback,
                                        info.mean, info.std),
                 "a_s": fresh_copy(self.model, False, "an approximator")}
        if c.ail:
            parts["a_u"] = fresh_copy(self.model, False, "an approximator")
        return parts

    def optimisers(self, parts: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {name: torch.optim.Adadelta(m.parameters()) for name, m in parts.items()}

    def training_images(self, available: int) -> int:
        n = self.config.train_images
        return available if n is None else min(available, int(n))

    def stages(self) -> list[Stage]:
        trains = ("explainer", "a_s", "a_u") if self.config.ail else ("explainer", "a_s")
        return [Stage("explainer and approximators", self.config.epochs, trains=trains,
                      batch_size=self.config.batch_size, optimises={"explainer": "loss"})]

    def _mask(self, v: torch.Tensor) -> torch.Tensor:
        """B×D unit weights → B×1×H×W pixel weights."""
        g = self.info.image_size // self.unit
        return units.to_pixels(v.view(-1, g, g), self.unit)[:, None]

    def _prior(self, f_b: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log r: Gradient × Input of ŷ's logit, |·| summed over channels, max-pooled, normalised."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            grad, = torch.autograd.grad(f_b(x).gather(1, y[:, None]).sum(), x)
        r = units.pool((grad * x).abs().sum(1).detach(), self.unit, "max").flatten(1)
        r = r + 1e-6 * r.amax(1, keepdim=True).clamp_min(1e-12)  # no unit at probability 0 (log r finite)
        return torch.log(r / r.sum(1, keepdim=True))

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per batch, alternating (the paper's Algorithm 1): the approximators step first on the
        explainer's current selection, then the explainer's loss is taken through the updated ones."""
        c, p, m = self.config, run.parts, run.epoch  # m: the epoch number (the paper's m ∈ Z₊)
        x = run.images(idx)
        with torch.no_grad():
            probs = F.softmax(p["f_b"](run.teacher_images(idx, x)), 1)
        y = probs.argmax(1)
        log_z = F.log_softmax(p["explainer"](x, probs), 1)
        log_sample = faded_prior(log_z, self._prior(p["f_b"], x, y), m) if c.prior else log_z
        v = self._mask(gumbel_top_k(log_sample, c.k, c.tau, run.generator))
        # approximators: L_s + w·L_u on the explainer's current (detached) selection
        out_s = p["a_s"](x * v.detach())
        approx = F.cross_entropy(out_s, y)
        swd = c.ail and c.adversary == "swd"
        if c.ail:
            out_u = p["a_u"](x * (1 - v.detach()))
            l_u = (sliced_wasserstein(probs, F.softmax(out_u, 1), self._directions(run)) if swd
                   else F.cross_entropy(out_u, y))
            approx = approx + c.lu_weight * l_u
        run.optimise(dict.fromkeys(stage.trains[1:], approx))
        # explainer: L_s (+ w·L_adv) (+ the prior's MAE term), through the updated approximators
        l_s = F.cross_entropy(p["a_s"](x * v), y)
        values = {"loss": l_s, "L_s": l_s}
        if c.ail:
            adv_out = p["a_u"](x * (1 - v))
            if swd:  # fresh directions for E's step (the authors draw them per step too)
                l_adv = -sliced_wasserstein(probs, F.softmax(adv_out, 1), self._directions(run))
            elif c.adversary == "flip":
                l_adv = F.cross_entropy(adv_out, 1 - y)
            else:
                l_adv = -F.log_softmax(adv_out, 1).mean(1).mean()
            values.update(loss=values["loss"] + c.lu_weight * l_adv, L_u=l_u, L_adv=l_adv)
        if c.prior and c.le_weight:
            l_e = (log_z.exp() - log_sample.exp().detach()).abs().mean()
            values.update(loss=values["loss"] + c.le_weight * l_e / (m + 1), L_e=l_e)
        values["A_s_accuracy"] = (out_s.argmax(1) == y).float().mean()
        if c.ail:
            values["A_u_accuracy"] = (out_u.argmax(1) == y).float().mean()
        return values

    def _directions(self, run: Run) -> torch.Tensor:
        """The swd term's random directions for one step, from the run's seeded generator."""
        return swd_directions(self.info.num_classes, int(self.config.swd_projections or 128), run.generator)

    def epoch_values(self, stage: Stage, run: Run) -> dict[str, float]:
        return {"fs_m": self._fs_m(run)}

    def _fs_m(self, run: Run) -> float:
        """FS-M on the first training images: the black box's top-1 on the zero-filled top-k
        selection agreeing with its top-1 on x (the paper's Figure 3 curve)."""
        n = min(FS_M_IMAGES, run.n)
        agree, explainer = 0, run.parts["explainer"]
        was_training = explainer.training
        explainer.eval()
        with torch.no_grad():
            for start in range(0, n, 256):
                x = run.images(torch.arange(start, min(n, start + 256)))
                probs = F.softmax(run.parts["f_b"](x), 1)
                keep = self._top_k(explainer(x, probs), self.config.k)
                agree += int((run.parts["f_b"](x * keep).argmax(1) == probs.argmax(1)).sum())
        explainer.train(was_training)
        return agree / n

    def _top_k(self, logits: torch.Tensor, k: int) -> torch.Tensor:
        """B×1×H×W float: the top-k units of B×D logits, at pixel resolution."""
        g = self.info.image_size // self.unit
        return self._mask(units.top_units(logits.view(-1, g, g), k).flatten(1).float())

    # -- explain step ---------------------------------------------------------------------------
    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        """z = softmax(E(x, f_b(x))) as scores, its top-k units as selection, the zero-filled
        selected-only / unselected-only inputs and the black box's probabilities on each as extras
        (label-free: ``target`` is not used)."""
        with torch.no_grad():
            probs = F.softmax(self.model(x), 1)
            logits = self.trained("explainer")(x, probs)
            keep = self._top_k(logits, int(self.config.top_k or self.config.k))
            g = self.info.image_size // self.unit
            z = units.to_pixels(F.softmax(logits, 1).view(-1, g, g), self.unit)
            x_s, x_u = x * keep, x * (1 - keep)
            extras = {X_SELECTED: x_s, X_UNSELECTED: x_u, "f_b(x)_probs": probs,
                      "f_b(x_selected)_probs": F.softmax(self.model(x_s), 1),
                      "f_b(x_unselected)_probs": F.softmax(self.model(x_u), 1)}
        return Explanation(z, selection=keep[:, 0] > 0.5, extras=extras)


@dataclass(frozen=True)
class L2XConfig(MEEDConfig):
    """L2X's settings: MEED's machinery without feedback, AIL and prior."""

    feedback: bool = False
    ail: bool = False
    prior: bool = False


@register
class L2X(MEED):
    """L2X: an explainer trained so a k-feature Gumbel-softmax selection predicts the model (baseline, trained)."""

    name = "l2x"
    version: ClassVar[int] = 1  # its training (no AIL) did not change with MEED's version 2
    comparison = None  # it has no prior to compare without
    paper = Paper(
        "L2X — Learning to Explain (MEED's baseline)",
        "Chen, Song, Wainwright & Jordan. Learning to Explain: An Information-Theoretic Perspective on Model "
        "Interpretation. ICML 2018.",
        "MEED's machinery without its three additions: an explainer that sees only x scores the units, a "
        "Gumbel-softmax top-k mask is sampled, and one approximator learns the black box's class from the selected "
        "features; no output feedback, no adversary on the unselected features, no prior. Its FU-M tends to stay "
        "high: the features it leaves out still carry the class.")
    caps = Capabilities(trained=True, selection=True, label_free=True, panel=SELECTED_INPUTS)
    Config = L2XConfig
