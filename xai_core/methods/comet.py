"""COMET — a selector and a predictor trained jointly against a feature detector (docs/methods/comet.md).

A selector S(x) ∈ [0, 1] per pixel keeps the discriminative features; a predictor f_P sees only
``x_s = S(x)⊙x + (1−S(x))⊙q`` and a detector f_D only the rest, ``x_{1−s} = (1−S(x))⊙x + S(x)⊙q``
(q = the dataset mean colour). The detector has the black box's architecture and weights and stays
frozen in eval mode for the whole training: if discriminative features are left in x_{1−s} it still
recognises the class, and the selector is penalised (completeness; it also breaks the interlocking of
a selector that picks noise and a predictor that fits it). Selector and predictor minimise (paper)

    L = CE(f_P(x_s), y) − a·CE(f_D(x_{1−s}), y) + b·max(mean S(x) − t, 0),   a = 5, b = 100, t = 0.1,

or the authors' code's hinge ``4·max(CE_P − CE_D + 2, 0) + b·max(mean S(x) − t, 0)`` with t = 0.6
(``loss="hinge"``); AdamW, lr 5e-4. The explained prediction is f_P(x_s): the explanation's model is
the whole select-then-predict pipeline (:class:`SelectAndPredict`). ``comet_td`` is the paper's
COMET-TD ablation: the detector starts untrained and learns on the masked-out regions jointly.

The predictor has the black box's architecture and starts untrained, as in the authors' code
(``predictor_init="black_box"`` starts it from the black box's weights instead: measured on ``parts``,
that predictor reads the faint ``x_s`` of a near-empty mask, PxAP fell from 0.24 to 0.15 in two epochs,
while the untrained one forces the selector to show it the evidence). It learns from its cross-entropy
only (the one term of L that depends on it; the authors' code does the same for the hinge).

Deviations, named in ``settings``: the selector starts at S(x) = t everywhere (:func:`start_at`); the mask
term is a per-image hinge averaged over the batch; at ``quick`` and for images of ≤ 32 px the selector is
a small conv encoder–decoder (:class:`SmallSelector`) instead of LR-ASPP/MobileNetV3-Large, and training
is 5 epochs on at most 6,000 images (the paper: 200 epochs; on `parts` PxAP peaked within 2–4 epochs).

The threshold t (``t=None``, the default) is chosen per dataset on validation data at fit time, as the paper
chooses its coefficients (§4.1: "a hyper-parameter search ... using the validation set"; Fig. 4: PxAP over t):
:meth:`COMET.choose_t` fits a short proxy per candidate of ``t_grid`` and keeps the best validation PxAP, then
the full fit runs at that t (:func:`t_candidates`, :func:`sweep_sizes`). An explicit ``t`` skips the sweep.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data.base import ImageDataset
from ..errors import XAIError
from ..metrics.comet_variants import POOLED_THRESHOLDS, pooled_histograms, pxap_from_histograms
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from .base import Capabilities, Explanation, Paper, register
from .trained import Run, Stage, TrainedConfig, TrainedExplainer
from .copies import check_trainable, fresh_copy
from .unet import SmallUNet

SELECTORS = ("auto", "small", "lraspp")
LOSSES = {"paper": 0.1, "hinge": 0.6}  # loss form → its default sparsity threshold t
X_S, X_OUT = "x_s", "x_1-s"  # extras: the masked-in and masked-out images
#: the t sweep's candidates besides the loss form's default (always added: the old behaviour stays a candidate):
#: mask budgets of about 2 % to 20 % of the image, each about twice the last. 0.02 is a `parts` disc (≈ 2 % of the
#: image), 0.05 between, 0.1 and 0.2 the paper's best on ImageNet-9 (Fig. 4: PxAP tops at t ∈ {0.1, 0.2})
T_GRID = (0.02, 0.05, 0.1, 0.2)
SWEEP_SETTINGS = ("t_grid", "t_sweep_epochs", "t_sweep_images", "t_val_images")
MIN_SWEEP_IMAGES = 8  # fewer validation or proxy-training images than this: no sweep (the default t, said why)
#: why a fit falls back to the loss form's default t (index 0: it did not); stored as an index in the fit's state
T_REASONS = ("", "the dataset has no ground-truth masks to score validation PxAP on",
             "the training split is too small to hold out validation images",
             "no candidate's validation PxAP is defined (the held-out images have no mask pixel)")
#: the sweep's PxAP thresholds: the paper's 20, 0, 0.05, …, 0.95 (App. 5), so recall counts every ground-truth pixel
#: (the authors' code starts at 0.05 and drops the pixels below it, positives too; see validation_pxap)
SWEEP_THRESHOLDS = (0.0, *POOLED_THRESHOLDS)
#: the fit's state tensors that record the threshold and how it was chosen
T_STATE = ("t", "t_candidates", "t_val_pxap", "t_sweep_sizes", "t_fallback")


@dataclass(frozen=True)
class COMETConfig(TrainedConfig):
    """COMET's settings; the defaults are the ``quick`` preset's (paper: 200 epochs, LR-ASPP selector)."""

    a: float = 5.0  # weight of the detector term
    b: float = 100.0  # weight of the mask-size hinge
    t: float | None = None  # mask-size threshold; None: chosen on validation data at fit time (t_grid)
    loss: str = "paper"  # "paper" or the authors' code's "hinge"
    selector: str = "auto"  # "small", "lraspp", or auto: LR-ASPP at paper for images over 32 px
    epochs: int = 5
    batch_size: int = 64
    lr: float = 5e-4  # AdamW (weight decay 0.01, torch's default)
    train_images: int | None = 6000  # None: the whole training split
    predictor_init: str = "scratch"  # "scratch" (the black box's architecture, untrained) or "black_box" (its weights)
    # the t sweep (t=None): candidates, and each candidate's proxy fit (epochs on the first images of the training
    # split; None: all but the validation images) scored on the split's last t_val_images (see sweep_sizes).
    # quick: ~94 steps per proxy, about one full epoch's work each (parts smoke: ~100 steps told the candidates
    # apart, PxAP 0.48-0.70; 4 steps did not, all at the base rate 0.02); smoke's sizes check the plumbing only
    t_grid: tuple[float, ...] = T_GRID
    t_sweep_epochs: int = 3
    t_sweep_images: int | None = 2000
    t_val_images: int = 500
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"epochs": 200, "train_images": None, "t_sweep_epochs": 20, "t_sweep_images": None,
                  "t_val_images": 1000},
        "smoke": {"epochs": 2, "train_images": 256, "batch_size": 32, "t_sweep_epochs": 1, "t_sweep_images": 128,
                  "t_val_images": 64},
    }

    def cache_key(self) -> dict[str, Any]:
        key = super().cache_key()
        if self.t is not None:  # an explicit t trains the same whatever the sweep's settings
            for name in SWEEP_SETTINGS:
                key.pop(name, None)
        return key


def _normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean) / std


class SmallSelector(SmallUNet):
    """The small selector: :class:`~.unet.SmallUNet` on the normalised image, sigmoid → S(x)."""

    def __init__(self, channels: int, mean: tuple[float, ...], std: tuple[float, ...], width: int = 16) -> None:
        super().__init__(channels, width)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(super().forward(_normalise(x, self.mean, self.std)))


def start_at(logit_layers: tuple[nn.Conv2d, ...], level: float) -> None:
    """Start a selector at S(x) ≈ ``level`` (weights scaled by 0.1, bias logit(level)) so the
    mask-size hinge does not open training with a shock: at S = 0.5 its b·0.4 = 40 dwarfs the
    cross-entropies, and on CPU budgets we measured it drive S to 0 everywhere within one epoch,
    where the sigmoid saturates and no term can bring it back."""
    with torch.no_grad():
        for i, layer in enumerate(logit_layers):
            layer.weight.mul_(0.1)
            layer.bias.fill_(torch.logit(torch.tensor(level)).item() if i == 0 else 0.0)


class LRASPPSelector(nn.Module):
    """The paper's selector: torchvision's LR-ASPP with a MobileNetV3-Large backbone, one output
    channel, sigmoid, at the input's size (torchvision upsamples). No pretrained weights (offline:
    ``weights_backbone=None`` explicitly, the default would download ImageNet weights)."""

    def __init__(self, channels: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        from torchvision.models.segmentation import lraspp_mobilenet_v3_large

        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.repeat = 3 // channels if channels in (1, 3) else 1
        self.net = lraspp_mobilenet_v3_large(num_classes=1, weights=None, weights_backbone=None)
        head = self.net.classifier
        self.logits = (head.high_classifier, head.low_classifier)  # the logit is their sum (see start_at)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = _normalise(x, self.mean, self.std).repeat(1, self.repeat, 1, 1)
        return torch.sigmoid(self.net(z)["out"])


class SelectAndPredict(nn.Module):
    """COMET as a classifier: ``f_P(S(x)⊙x + (1−S(x))⊙q)`` (what the fidelity metrics score)."""

    def __init__(self, selector: nn.Module, predictor: nn.Module, fill: tuple[float, ...]) -> None:
        super().__init__()
        self.selector, self.predictor = selector, predictor
        self.register_buffer("fill", torch.tensor(fill).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(masked_in(x, self.selector(x), self.fill.to(x.device)))


def masked_in(x: torch.Tensor, s: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``x_s = S⊙x + (1−S)⊙q``."""
    return s * x + (1 - s) * q


def masked_out(x: torch.Tensor, s: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``x_{1−s} = (1−S)⊙x + S⊙q``."""
    return (1 - s) * x + s * q


# -- choosing t on validation data ----------------------------------------------------------------
def t_candidates(config: COMETConfig) -> tuple[float, ...]:
    """The thresholds the sweep tries, ascending: ``t_grid`` and the loss form's default (0.1 or 0.6)."""
    return tuple(sorted({float(t) for t in config.t_grid} | {LOSSES[config.loss]}))


def sweep_sizes(config: COMETConfig, available: int) -> tuple[int, int]:
    """(proxy training images, validation images) on a training split of ``available`` images. No dataset here
    has a validation split, so the validation images are the split's last ``t_val_images`` (at most a quarter of
    it) and each proxy trains on its first ``t_sweep_images`` of the rest (None: all the rest): never the same
    images. (The full fit then trains on the split as before, held-out images included.)"""
    val = min(int(config.t_val_images), available // 4)
    rest = available - val
    return (rest if config.t_sweep_images is None else min(int(config.t_sweep_images), rest)), val


def validation_pxap(selector: nn.Module, data: ImageDataset, indices: torch.Tensor, device: torch.device,
                    batch_size: int = 64) -> float:
    """The sweep's criterion: PxAP of S(x) over ``data``'s images at ``indices`` against their ground-truth masks
    as the paper defines it (App. 5: precision and recall of ``S ≥ τ`` at 20 thresholds 0, 0.05, …, 0.95, recall
    over every mask pixel), on S's own [0, 1] scale and pooled over the images as the authors' ``MaskEvaluator``
    pools (:func:`~xai_core.metrics.comet_variants.pxap_pooled` with :data:`SWEEP_THRESHOLDS`). Not the
    authors' own thresholds: from 0.05 they drop the pixels below it, positives too, which rewards a map that
    selects nothing (measured on the toy task of tests/methods/test_comet.py: a near-empty map, mean S 0.037,
    scores 0.905 by theirs and 0.385 by these; one covering the object 0.572 by both). Not our per-image ``pxap``
    either: it min-max normalises each map, discarding S's scale, the very thing t sets. NaN without masks."""
    sums: list[torch.Tensor] = []
    for chunk in indices.split(batch_size):
        batch = data.batch(chunk.tolist())
        if batch.masks is None:
            return math.nan
        with torch.no_grad():
            s = selector(batch.x.to(device))[:, 0].clamp(0, 1)
        hist = [h.sum(0) for h in pooled_histograms(s, batch.masks, SWEEP_THRESHOLDS)]
        sums = hist if not sums else [a + b for a, b in zip(sums, hist)]
    return pxap_from_histograms(*sums) if sums else math.nan


class OneScale:
    """The t sweep and the fit after it on one progress scale of image passes (:meth:`COMET.image_epochs`'s), so
    the bar never restarts at the fit and its time left covers both: during the sweep, every pass left at the
    sweep's own rate so far (its proxies train the same networks on fewer images); during the fit, the fit's ETA.
    A proxy's losses stay out of the report (the Train page's loss curve is the full fit's)."""

    def __init__(self, progress: Progress, sweep_passes: int, fit_passes: int) -> None:
        self.progress, self.sweep_passes, self.total = progress, sweep_passes, sweep_passes + fit_passes
        self.started = time.monotonic()

    def proxy(self, k: int, count: int, t: float, epochs: int) -> Progress:
        """Proxy ``k`` of ``count`` (each ``epochs`` epochs) reporting as its share of the sweep."""
        def report(done: float, total: float, message: str = "", **_: Any) -> None:
            passes = self.sweep_passes * (k * epochs + min(done, epochs)) / (count * epochs)
            spent = max(time.monotonic() - self.started, 1e-9)
            self.progress(passes, self.total, f"choosing t on validation data: t = {t:g} ({k + 1}/{count}): {message}",
                          eta_s=(self.total - passes) * spent / passes if passes > 0 else None)
        return report

    def fit(self, done: float, total: float, message: str = "", **metrics: Any) -> None:
        """The full fit's report (epochs of its schedule), placed after the sweep; its losses and ETA as given."""
        share = min(done / max(total, 1), 1.0)
        self.progress(self.sweep_passes + (self.total - self.sweep_passes) * share, self.total, message, **metrics)


@register
class COMET(TrainedExplainer):
    """COMET: a selector and a predictor trained jointly against a frozen detector (trained)."""

    name = "comet"
    version = 2  # 2: t chosen on validation data when not set (the sweep's settings are in the key)
    paper = Paper(
        "COMET — Comprehensive attribution with a feature detector",
        "Zhang, Lee & Wang. Comprehensive Attribution: Inherently Explainable Vision Model with Feature Detector.",
        "An inherently explainable model: a selector S(x) scores every pixel in [0, 1] and a predictor sees only "
        "the kept part, x_s = S(x)·x + (1 − S(x))·mean colour; the prediction it explains is the predictor's on "
        "x_s. Two problems of such selector–predictor pairs motivate it. *Incompleteness*: the selector keeps just "
        "enough evidence for the prediction (a dog's head) and masks out the rest (its body), so the map is not "
        "comprehensive. *Interlocking*: early in training the selector picks noise, the predictor learns to read "
        "that noise, and the selector is rewarded for picking it again. COMET adds a feature detector — the black "
        "box itself, frozen — that sees only what was masked out, x_1−s; the selector is penalised whenever the "
        "detector still recognises the class there (−a·CE of the detector), which pushes all discriminative "
        "evidence into the map and breaks the loop, since the detector never fits the selector's noise. A hinge "
        "keeps the mask at most a share t of the image; t is chosen per dataset by validation PxAP, as the paper "
        "does (a short proxy fit per candidate), unless you set it. Explore shows S(x), x_s and x_1−s, the "
        "predictor's class next to the black box's, and both models' test accuracy (clean and with 10 % of the "
        "pixels removed). `comet_td` is the paper's ablation whose detector is trained on the masked-out regions "
        "instead; `--randomize-labels` (Train: *fit on randomised labels*) fits any trained method on shuffled "
        "labels for the data-randomisation sanity check (the paper's COMET-DR).")
    # the mask-size threshold t: the paper's Fig. 4 sweep (t must suit the objects' size: 0.1 for ImageNet-9)
    caps = Capabilities(trained=True, selection=True, label_free=True, tunes_model=True, sweeps={"t": (0.03, 0.1, 0.2)})
    Config = COMETConfig
    frozen: ClassVar[tuple[str, ...]] = ("f_d",)  # the black box as the detector, frozen in eval mode
    explains = "f_p"
    trains_detector: ClassVar[bool] = False

    def _resolve(self, config: COMETConfig) -> COMETConfig:
        if config.loss not in LOSSES:
            raise XAIError(f"comet: loss must be one of {', '.join(LOSSES)}, got {config.loss!r}")
        if config.selector not in SELECTORS:
            raise XAIError(f"comet: selector must be one of {', '.join(SELECTORS)}, got {config.selector!r}")
        if config.predictor_init not in ("black_box", "scratch"):
            raise XAIError(f"comet: predictor_init must be 'black_box' or 'scratch', got {config.predictor_init!r}")
        selector = config.selector
        if selector == "auto":
            selector = "lraspp" if self.preset == "paper" and self.info.image_size > 32 else "small"
        if selector == "lraspp" and self.info.channels not in (1, 3):
            raise XAIError(f"comet: the LR-ASPP selector takes 1- or 3-channel images, not {self.info.channels}")
        grid = tuple(float(t) for t in config.t_grid)
        if not grid or not all(0 < t < 1 for t in grid):
            raise XAIError(f"comet: t_grid must hold thresholds in (0, 1), got {config.t_grid!r}")
        if config.t_sweep_epochs < 1 or config.t_val_images < 1:
            raise XAIError("comet: t_sweep_epochs and t_val_images must be at least 1")
        check_trainable(self.model, "COMET's predictor and detector")  # one line now, not at training
        return config.replace(selector=selector, t=None if config.t is None else float(config.t), t_grid=grid)

    # -- the threshold t ------------------------------------------------------------------------
    sweep: dict[str, torch.Tensor] | None = None  # how t was chosen (T_STATE): by choose_t, or loaded with the fit

    @property
    def threshold(self) -> float:
        """The t trained with: the explicit ``t``, else the sweep's choice (the loss form's default until then)."""
        if self.config.t is not None:
            return self.config.t
        return float(self.sweep["t"]) if self.sweep and "t" in self.sweep else LOSSES[self.config.loss]

    def choose_t(self, train: ImageDataset, store: ArtifactStore, scale: OneScale | None = None
                 ) -> dict[str, torch.Tensor]:
        """The sweep's record (:data:`T_STATE`): one proxy fit per candidate t (``t_sweep_epochs`` on the first
        images of ``train``, real labels even for a randomised-label fit, so COMET-DR trains at the real fit's
        t; each a cached fit of its own), scored by :func:`validation_pxap` on the held-out last images
        (:func:`sweep_sizes`); ``t`` is the best (ties: the smaller t). Without ground truth, or on a split too
        small to hold images out, or where no score is defined: the loss form's default t and the reason.
        ``scale``: where the proxies report (:class:`OneScale`; none: nowhere)."""
        c, scale = self.config, scale or OneScale(no_progress, 1, 0)
        grid = t_candidates(c)
        n_proxy, n_val = sweep_sizes(c, len(train))
        has_masks = self.info.has_ground_truth and len(train) > 0 and train[len(train) - 1][2] is not None
        reason = 1 if not has_masks else 2 if min(n_proxy, n_val) < MIN_SWEEP_IMAGES else 0
        scores = [math.nan] * len(grid)
        if not reason:
            val = torch.arange(len(train) - n_val, len(train))
            for k, t in enumerate(grid):
                proxy = type(self)(self.model, self.info, preset=self.preset, device=self.device, seed=self.seed,
                                   **{**c.as_dict(), "t": t, "epochs": c.t_sweep_epochs, "train_images": n_proxy,
                                      "randomize_labels": False})
                proxy.prepare(train, store, scale.proxy(k, len(grid), t, c.t_sweep_epochs))
                scores[k] = validation_pxap(proxy.trained("selector"), train, val, self.device)
            reason = 0 if any(not math.isnan(v) for v in scores) else 3
        best = max(range(len(grid)), key=lambda k: -math.inf if math.isnan(scores[k]) else scores[k])
        return {"t": torch.tensor(LOSSES[c.loss] if reason else grid[best], dtype=torch.float64),
                "t_candidates": torch.tensor(grid, dtype=torch.float64),
                "t_val_pxap": torch.tensor(scores, dtype=torch.float64),
                "t_sweep_sizes": torch.tensor([c.t_sweep_epochs, n_proxy, n_val]),
                "t_fallback": torch.tensor(reason)}

    def t_choice(self) -> str | dict[str, Any]:
        """How t was chosen, for :meth:`settings`: explicit, the sweep (each candidate's validation PxAP, the
        proxy sizes), or the default with its reason."""
        if self.config.t is not None:
            return "set explicitly (no sweep)"
        r = self.sweep
        if not r or "t_fallback" not in r:
            return "chosen on validation data when fitted"
        reason = int(r["t_fallback"])
        if reason:
            return f"the loss form's default, t = {LOSSES[self.config.loss]:g}: {T_REASONS[reason]}"
        epochs, images, val = (int(v) for v in r["t_sweep_sizes"])
        scores = {f"t = {t:g}": None if math.isnan(v) else round(float(v), 4)
                  for t, v in zip(r["t_candidates"].tolist(), r["t_val_pxap"].tolist())}
        return {"chosen": float(r["t"]), "validation_pxap": scores,
                "criterion": "PxAP of S(x) (the paper's thresholds 0, 0.05, …, 0.95; pooled over the images as "
                             "the authors' MaskEvaluator) on held-out training images",
                "proxy": {"epochs": epochs, "training_images": images, "validation_images": val}}

    def initial_state(self, n: int) -> dict[str, torch.Tensor]:
        """The sweep's record, saved with the fit (its settings show it when the fit is loaded)."""
        return {k: v.clone() for k, v in (self.sweep or {}).items()}

    def settings(self) -> dict[str, Any]:
        c = self.config
        form = ("CE(f_P(x_s), y) − a·CE(f_D(x_1−s), y)" if c.loss == "paper"
                else "4·max(CE(f_P(x_s), y) − CE(f_D(x_1−s), y) + 2, 0) (the authors' code)")
        return {**c.as_dict(), "t": self.threshold, "t_choice": self.t_choice(),
                "objective": f"{form} + b·max(mean S(x) − t, 0) per image, batch mean",
                "fill": "dataset mean colour", "optimiser": "AdamW (weight decay 0.01)",
                "detector": ("the black box's architecture, untrained, trained jointly on x_1−s (COMET-TD)"
                             if self.trains_detector else "the black box, frozen in eval mode"),
                "predictor": f"the black box's architecture, initialised from {c.predictor_init.replace('_', ' ')}",
                "scores": "S(x), one value in [0, 1] per pixel", "selection": "S(x) >= 0.5",
                "explained_model": "f_P(x_s): the selector then the predictor"}

    # -- components and training step --------------------------------------------------------
    def components(self) -> dict[str, nn.Module]:
        c, info = self.config, self.info
        selector = (LRASPPSelector if c.selector == "lraspp" else SmallSelector)(info.channels, info.mean, info.std)
        start_at(selector.logits, self.threshold / 2)  # below the threshold: the hinge starts inactive
        parts = {"selector": selector, "f_p": fresh_copy(self.model, c.predictor_init == "black_box", "COMET's predictor")}
        if self.trains_detector:
            parts["f_d"] = fresh_copy(self.model, False, "COMET's detector")
        return parts

    def optimisers(self, parts: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {name: torch.optim.AdamW(m.parameters(), lr=self.config.lr) for name, m in parts.items()}

    def training_images(self, available: int) -> int:
        n = self.config.train_images
        return available if n is None else min(available, int(n))

    def image_epochs(self, available: int) -> int:
        """The fit's image passes plus :meth:`choose_t`'s proxies where it runs them (t not set, ground truth,
        a split large enough): one per candidate, ``t_sweep_epochs`` on :func:`sweep_sizes`' proxy images. The
        upper end: a proxy fitted already is loaded, and the validation PxAP (forward passes) is not counted."""
        c, work = self.config, super().image_epochs(available)
        n_proxy, n_val = sweep_sizes(c, available)
        if c.t is None and self.info.has_ground_truth and min(n_proxy, n_val) >= MIN_SWEEP_IMAGES:
            work += len(t_candidates(c)) * c.t_sweep_epochs * n_proxy
        return work

    def stages(self) -> list[Stage]:
        # the selector learns from the whole objective, the predictor from its cross-entropy (the only term
        # of the paper's L that depends on it; the authors' code does the same with the hinge)
        optimises = {"selector": "loss", "f_p": "predictor_ce"}
        if self.trains_detector:  # COMET-TD: the detector learns to classify the masked-out regions
            optimises["f_d"] = "detector_fit_ce"
        label = "selector, predictor" + (" and detector" if self.trains_detector else "")
        return [Stage(label, self.config.epochs, trains=tuple(optimises), batch_size=self.config.batch_size,
                      optimises=optimises)]

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c, p = self.config, run.parts
        q = torch.tensor(self.info.mean, device=run.device).view(1, -1, 1, 1)
        x, y = run.batch(idx)
        s = p["selector"](x)
        logits = p["f_p"](masked_in(x, s, q))
        l_p = F.cross_entropy(logits, y)
        x_out = masked_out(x, s, q)
        l_d = F.cross_entropy(p["f_d"](x_out), y)
        size = s.flatten(1).mean(1)
        mask_term = c.b * (size - self.threshold).clamp_min(0).mean()
        loss = (l_p - c.a * l_d if c.loss == "paper" else 4 * (l_p - l_d + 2).clamp_min(0)) + mask_term
        values = {"loss": loss, "predictor_ce": l_p, "detector_ce": l_d, "mask_term": mask_term,
                  "mask_size": size.mean(), "accuracy": (logits.argmax(1) == y).float().mean()}
        if self.trains_detector:  # on x_1−s as an input only: this loss must not move the selector
            values["detector_fit_ce"] = F.cross_entropy(p["f_d"](x_out.detach()), y)
        return values

    # -- explain step ---------------------------------------------------------------------------
    pipeline: SelectAndPredict | None = None  # the explained classifier, built once trained

    def prepare(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """Choose t first where it is not set and the fit is not stored yet (:meth:`choose_t`), then fit at it
        (or load the fit, whose state holds the sweep's record)."""
        auto = self.config.t is None
        if auto and not distributed.broadcast(self.is_ready(store)):
            passes = self.image_epochs(len(train))
            fit_passes = self.training_images(len(train)) * sum(stage.epochs for stage in self.stages())
            scale = OneScale(progress, passes - fit_passes, fit_passes)
            self.sweep = self.choose_t(train, store, scale)
            progress = scale.fit
        super().prepare(train, store, progress)
        if auto:
            self.sweep = {k: v for k, v in (self.state or {}).items() if k in T_STATE}
        self.pipeline = SelectAndPredict(self.trained("selector"), self.trained("f_p"), self.info.mean)

    @property
    def explained_model(self) -> nn.Module:
        if self.pipeline is None:
            raise XAIError(f"{self.name} is not trained yet (services.build_explainer trains or loads it)")
        return self.pipeline

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        """One forward pass: S(x) as scores, S(x) ≥ 0.5 as selection, x_s and x_{1−s} and both
        models' class probabilities as extras (label-free: ``target`` is not used)."""
        q = torch.tensor(self.info.mean, device=x.device).view(1, -1, 1, 1)
        with torch.no_grad():
            s = self.trained("selector")(x)
            x_s, x_out = masked_in(x, s, q), masked_out(x, s, q)
            extras = {X_S: x_s, X_OUT: x_out, "f_P(x_s)_probs": F.softmax(self.trained("f_p")(x_s), 1),
                      "f_b(x)_probs": F.softmax(self.model(x), 1)}
        return Explanation(s[:, 0], selection=s[:, 0] >= 0.5, extras=extras)


@register
class COMETTD(COMET):
    """COMET-TD: COMET with the detector trained jointly on the masked-out regions (the paper's ablation)."""

    name = "comet_td"
    paper = Paper(
        "COMET-TD — COMET with a trainable detector (the paper's ablation)",
        "Zhang, Lee & Wang, as above (Fig. 3).",
        "COMET whose detector starts untrained and learns, jointly with the selector and predictor, to classify "
        "the masked-out regions x_1−s. The paper shows why it is worse: a detector trained on masked-out regions "
        "fits their noise instead of spotting the discriminative features left there, so it penalises the selector "
        "less reliably than the frozen, fully trained black box.")
    frozen = ()
    trains_detector = True
