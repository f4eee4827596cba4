"""The fs_fu protocol's training half (the MEED/AIL paper's FS-A / FU-A, docs/methods/protocols.md): for one explainer,
its maps of the training images max-pooled into feature units (computed once per method and
settings), then, per unit size, k and seed, two re-initialised copies of the black box's architecture
trained on the training images masked by the explainer's own top-k selection: A'_S on ``x·sel``,
A'_U on ``x·(1 − sel)`` (zero fill), each with cross-entropy against the black box's top-1 on the
full image; Adadelta with torch's defaults (as the paper), batch 128. Both steps are store entries
(atomic, checksummed), so an evaluation repeated or split into shards trains nothing twice. The
``fs_fu`` metric (:mod:`xai_core.metrics.fidelity`) calls :meth:`ApproximatorFitter.fit`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import rng, units
from ..errors import XAIError
from ..methods.base import Explainer
from ..methods.copies import fresh_copy
from ..models.inference import eval_mode
from ..progress import Progress, no_progress
from .context import Context
from .training_maps import TrainingMaps

VERSION = 1  # bump when the training code changes: old approximators stop matching
EPOCHS = {"smoke": 2, "quick": 5, "paper": 20}
TRAIN_IMAGES: dict[str, int | None] = {"smoke": 256, "quick": 6000, "paper": None}
BATCH_SIZE = 128  # the paper's
LABEL_BATCH = 256  # images per black-box pass when labelling the training images


@dataclass
class Approximators:
    """A'_S (``selected``: sees the selected features) and A'_U (``unselected``: the rest), on the
    context's device in eval mode without gradients; ``history``: per epoch, each one's mean loss and
    agreement with the black box on the training images."""

    selected: nn.Module
    unselected: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)


class ApproximatorFitter:
    """Fits (or loads) A'_S / A'_U for ``explainer``'s top-k feature selections on ``ctx``'s training
    split. ``block``: maps averaged over block×block pixels first, as the scored maps are."""

    def __init__(self, ctx: Context, explainer: Explainer, block: int = 1, progress: Progress = no_progress) -> None:
        self.ctx, self.explainer, self.block, self.progress = ctx, explainer, block, progress

    def defaults(self) -> dict[str, Any]:
        """The preset's epochs and training images (None: the whole training split)."""
        preset = self.ctx.preset
        return {"epochs": EPOCHS.get(preset, 5), "train_images": TRAIN_IMAGES.get(preset, TRAIN_IMAGES["quick"])}

    @cached_property
    def maps(self) -> TrainingMaps:
        return TrainingMaps(self.ctx, self.explainer, self.block, self.progress, "fs_fu")

    def images(self, train_images: int | None = None) -> int:
        """How many training images (the first ones) a fit uses."""
        limit = train_images or self.defaults()["train_images"]
        return len(self.maps.train) if limit is None else min(len(self.maps.train), int(limit))

    def spec(self, unit: int, k: int, seed: int, *, epochs: int | None = None,
             train_images: int | None = None) -> dict[str, Any]:
        """The store spec of the approximators :meth:`fit` returns for these arguments."""
        recipe = {"epochs": int(epochs or self.defaults()["epochs"]), "batch_size": BATCH_SIZE, "optimizer": "adadelta",
                  "loss": "cross_entropy_vs_black_box_top1", "fill": 0.0}
        return {**self.maps.spec, "units": int(unit), "pool": "max", "k": int(k), "seed_approximators": int(seed),
                "recipe": recipe, "n": self.images(train_images), "version": VERSION}

    def fit(self, unit: int, k: int, seed: int, *, epochs: int | None = None,
            train_images: int | None = None) -> Approximators:
        """A'_S / A'_U for the explainer's top-``k`` units of ``unit`` px, trained with ``seed`` (or
        loaded from the store)."""
        spec = self.spec(unit, k, seed, epochs=epochs, train_images=train_images)
        payload = self.ctx.store.get_or_create(
            "approximators", spec,
            lambda: self._train(int(unit), int(k), int(seed), spec["recipe"]["epochs"], spec["n"]))
        return Approximators(self._load(payload["selected"]), self._load(payload["unselected"]),
                             dict(payload["history"]))

    def _load(self, state: dict[str, torch.Tensor]) -> nn.Module:
        with rng.building():
            net = fresh_copy(self.ctx.black_box, True, "fs_fu's approximators")  # the architecture; weights replaced
        net.load_state_dict(state)
        return net.to(self.ctx.device).eval().requires_grad_(False)

    def _train(self, unit: int, k: int, seed: int, epochs: int, n: int) -> dict[str, Any]:
        keep = units.to_pixels(units.top_units(self.maps.unit_scores(unit, n, "max"), k), unit)
        a_s, a_u, history = train_approximators(
            self.ctx.black_box, lambda idx: self.maps.train.batch(idx.tolist()).x, keep, epochs=epochs, seed=seed,
            device=self.ctx.device, progress=self.progress, label=f"{self.explainer.name}: fs_fu approximators")
        return {"selected": _cpu(a_s), "unselected": _cpu(a_u), "history": history}


def train_approximators(
    black_box: nn.Module,
    images: Callable[[torch.Tensor], torch.Tensor],
    keep: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    device: torch.device | str = "cpu",
    batch_size: int = BATCH_SIZE,
    progress: Progress = no_progress,
    label: str = "fs_fu approximators",
) -> tuple[nn.Module, nn.Module, dict[str, list[float]]]:
    """Train A'_S on ``x·keep`` and A'_U on ``x·(1 − keep)`` (re-initialised copies of ``black_box``'s
    architecture) with cross-entropy against ``black_box``'s top-1 on ``x``: ``images(indices)`` loads
    training images (N×C×H×W, N = len(keep)), ``keep`` is N×H×W bool. Adadelta (torch defaults),
    ``batch_size`` images per step, one shuffled order per epoch; initialisation, order and dropout
    seeded by ``seed``. Returns (A'_S, A'_U, history) with both models in eval mode."""
    device = torch.device(device)
    n = keep.shape[0]
    if n < 1:
        raise XAIError("fs_fu approximators need at least one training image")
    with torch.no_grad(), eval_mode(black_box):
        y = torch.cat([black_box(images(torch.arange(i, min(n, i + LABEL_BATCH))).to(device)).argmax(1).cpu()
                       for i in range(0, n, LABEL_BATCH)])
    history: dict[str, list[float]] = {"loss_selected": [], "loss_unselected": [],
                                       "agreement_selected": [], "agreement_unselected": []}
    steps, done = epochs * -(-n // batch_size), 0
    models, draws = rng.seeded(seed, lambda: [fresh_copy(black_box, False, "fs_fu's approximators").to(device)
                                              for _ in range(2)])  # A'_S, A'_U
    with rng.drawing_from(draws):  # dropout from the seeded stream, not the process's generator
        optimisers = [torch.optim.Adadelta(m.parameters()) for m in models]
        order = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            totals = torch.zeros(2, 3, dtype=torch.float64)  # per model: loss sum, agreements, images
            for idx in torch.randperm(n, generator=order).split(batch_size):
                x = images(idx).to(device)
                sel = keep[idx].to(device)[:, None].to(x.dtype)
                target = y[idx].to(device)
                for j, (model, opt, inp) in enumerate(zip(models, optimisers, (x * sel, x * (1 - sel)))):
                    logits = model(inp)
                    loss = F.cross_entropy(logits, target)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    agree = float((logits.argmax(1) == target).sum())
                    totals[j] += torch.tensor([float(loss.detach()) * len(idx), agree, len(idx)], dtype=torch.float64)
                done += 1
                progress(done, steps, label)
            for j, name in enumerate(("selected", "unselected")):
                history[f"loss_{name}"].append(float(totals[j, 0] / totals[j, 2]))
                history[f"agreement_{name}"].append(float(totals[j, 1] / totals[j, 2]))
    return models[0].eval(), models[1].eval(), history


def _cpu(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
