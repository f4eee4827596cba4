"""The trained-method base and its shared trainer.

A trained method declares
- its **components**: named modules it trains (``components()``), the frozen copies of the black
  box it only reads (``frozen``), their optimisers (``optimisers()``) and any per-run tensors
  (``initial_state()``, e.g. DiET's per-image training masks);
- its **training step**: ``stages()`` (a schedule of named stages of at most N epochs each, with
  the components each trains) and ``train_epoch(stage, run)`` (one epoch; returns its losses);
- its **explain step**: ``_explain`` on the trained components (``self.parts``).

:func:`fit` does the rest: seeding, the epochs and the convergence rule, progress (step,
per-component losses, an estimate from the epochs left), a checkpoint after every epoch (a
killed training resumes from its last completed epoch, bit for bit) and one store entry holding
every trained component and state tensor (atomic, checksummed, loaded with ``weights_only=True``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.base import ImageDataset
from ..errors import StoreError, XAIError
from ..models.views import model_view
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from .base import Capabilities, Explainer, model_fingerprint
from .config import MethodConfig

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"  # store kind of the per-epoch training checkpoints


@dataclass(frozen=True)
class TrainedConfig(MethodConfig):
    """Settings every trained method has. ``randomize_labels``: fit on labels shuffled across the
    training split (the data-randomisation sanity check of Adebayo et al., COMET-DR): the labels
    a method trains on, or the black-box outputs it trains against, come from another image."""

    randomize_labels: bool = False

    def cache_key(self) -> dict[str, Any]:
        key = super().cache_key()
        if not key.get("randomize_labels"):  # real-label fits keep the store keys they had before the setting
            key.pop("randomize_labels", None)
        return key


@dataclass(frozen=True)
class Stage:
    """A part of the schedule: at most ``epochs`` epochs, ending early once the epoch loss
    ``loss`` changes by less than ``converged`` (relative) between two epochs."""

    label: str  # shown in progress, e.g. "round 1/2: masks"
    epochs: int
    trains: tuple[str, ...] = ()  # components in train mode with gradients during this stage
    loss: str = "loss"  # the epoch value the convergence rule watches
    converged: float | None = None
    index: int = 0  # round or phase number, for the method's own use


@dataclass
class Run:
    """Everything one training run holds: components, optimisers, state tensors, the seeded
    generator the method draws batches and noise from, and the training data."""

    parts: dict[str, nn.Module]
    optimisers: dict[str, torch.optim.Optimizer]
    state: dict[str, torch.Tensor]
    data: ImageDataset
    n: int  # training images used
    generator: torch.Generator
    device: torch.device
    history: list[dict[str, Any]] = field(default_factory=list)
    label_order: torch.Tensor | None = None  # randomised labels: image i takes the label of image label_order[i]

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """The ``n`` training indices in a fresh seeded order, ``size`` per batch."""
        return iter(torch.randperm(self.n, generator=self.generator).split(size))

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """A batch of training images on the run's device (fetched per batch: paper-size splits
        do not fit in memory)."""
        return self.data.batch(idx.tolist()).x.to(self.device)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of training images and their labels (shuffled across the split when randomised)."""
        batch = self.data.batch(idx.tolist())
        y = batch.y if self.label_order is None else self.data.batch(self.label_order[idx].tolist()).y
        return batch.x.to(self.device), y.to(self.device)

    def teacher_images(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The images whose black-box outputs a method trains ``x`` against: ``x`` itself, or
        other training images when the labels are randomised."""
        return x if self.label_order is None else self.images(self.label_order[idx])


class TrainedExplainer(Explainer):
    """Base of methods with components trained once per black box, dataset, seed and config."""

    caps = Capabilities(trained=True)
    frozen: ClassVar[tuple[str, ...]] = ()  # names of frozen views of the black box among the parts
    explains: ClassVar[str | None] = None  # the part whose behaviour is explained (None: the black box)
    version: ClassVar[int] = 1  # bump when the training changes: old store entries stop matching

    parts: dict[str, nn.Module] | None = None  # the trained components, once fitted or loaded
    state: dict[str, torch.Tensor] | None = None  # the trained state tensors (on the CPU), once fitted or loaded

    # -- what a method declares ----------------------------------------------------------------
    def components(self) -> dict[str, nn.Module]:
        """Fresh trainable components (e.g. a copy of the black box to tune)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def optimisers(self, parts: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {}

    def initial_state(self, n: int) -> dict[str, torch.Tensor]:
        """Per-run tensors, checkpointed and saved with the components (e.g. per-image masks)."""
        return {}

    def training_images(self, available: int) -> int:
        """How many training images to use."""
        return available

    def stages(self) -> list[Stage]:
        raise NotImplementedError  # pragma: no cover - abstract

    def begin_stage(self, stage: Stage, run: Run) -> None:
        """Once at the start of a stage (not again when resuming inside it)."""

    def train_epoch(self, stage: Stage, run: Run) -> dict[str, float]:
        """One epoch of ``stage``; returns its losses (``stage.loss`` among them)."""
        raise NotImplementedError  # pragma: no cover - abstract

    # -- what the base does ---------------------------------------------------------------------
    def cache_spec(self) -> dict[str, Any]:
        """The store key: black-box weights, dataset, seed, the training settings, the version."""
        return {"black_box": model_fingerprint(self.model), "data": self.info.spec(), "seed": self.seed,
                "config": self.config.cache_key(), "version": self.version}

    def is_ready(self, store: ArtifactStore) -> bool:
        return self.parts is not None or store.exists(self.name, self.cache_spec())

    def prepare(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """Train (or load from ``store``) and keep the trained components."""
        payload = store.get_or_create(self.name, self.cache_spec(), lambda: fit(self, train, store, progress))
        parts = self.components()
        for name, module in parts.items():
            module.load_state_dict(payload["components"][name])
            module.to(self.device).eval().requires_grad_(False)
        for name in self.frozen:
            parts[name] = self._frozen()
        self.state = dict(payload["state"])
        self.parts = parts

    @property
    def explained_model(self) -> nn.Module:
        return self.model if self.explains is None else self.trained(self.explains)

    def trained(self, name: str) -> nn.Module:
        if self.parts is None:
            raise XAIError(f"{self.name} is not trained yet (services.build_explainer trains or loads it)")
        return self.parts[name]

    def _frozen(self) -> nn.Module:
        return model_view(self.model).to(self.device).eval()


def fit(method: TrainedExplainer, data: ImageDataset, store: ArtifactStore,
        progress: Progress = no_progress) -> dict[str, Any]:
    """Train ``method`` from its last checkpoint in ``store`` (or from scratch); returns the store
    payload ``{"components": {name: state_dict}, "state": {...}, "history": [...]}``."""
    ckpt_spec = {"method": method.name, **method.cache_spec()}
    run, (si, done, last, step) = _resume(method, data, store, ckpt_spec)
    stages = method.stages()
    total = sum(s.epochs for s in stages)
    started, timed_epochs = time.perf_counter(), 0
    while si < len(stages):
        stage = stages[si]
        for name, module in run.parts.items():
            trains = name in stage.trains
            module.train(trains).requires_grad_(trains)
        if done == 0:
            method.begin_stage(stage, run)
        finished = done >= stage.epochs
        while not finished:
            losses = method.train_epoch(stage, run)
            done, step, timed_epochs = done + 1, step + 1, timed_epochs + 1
            loss = float(losses[stage.loss])
            run.history.append({"stage": stage.label, "epoch": done, **losses})
            finished = done >= stage.epochs or (
                stage.converged is not None and last is not None and abs(last - loss) <= stage.converged * abs(last))
            if finished:
                step += stage.epochs - done  # the epochs a converged stage skips
            last = loss
            _checkpoint(store, ckpt_spec, method, run, (si + 1, 0, None, step) if finished else (si, done, last, step))
            eta = (time.perf_counter() - started) / timed_epochs * (total - step)
            progress(step, total, f"{stage.label}, epoch {done}", **losses, eta_s=eta)
        si, done, last = si + 1, 0, None
    progress(total, total, "done")
    payload = {"components": _trained_states(method, run), "history": run.history,
               "state": {k: v.detach().cpu() for k, v in run.state.items()}}
    store.discard(CHECKPOINT, ckpt_spec)  # the entry (saved by the caller) supersedes it
    return payload


def _new_run(method: TrainedExplainer, data: ImageDataset) -> Run:
    """Seeded, freshly built components, optimisers and state."""
    torch.manual_seed(method.seed)
    generator = torch.Generator().manual_seed(method.seed)
    parts = {name: m.to(method.device) for name, m in method.components().items()}
    n = method.training_images(len(data))
    run = Run(parts, method.optimisers(parts), method.initial_state(n), data, n, generator, method.device)
    if getattr(method.config, "randomize_labels", False):
        run.label_order = torch.randperm(n, generator=torch.Generator().manual_seed(method.seed + 7919))
    for name in method.frozen:
        run.parts[name] = method._frozen()
    return run


def _trained_states(method: TrainedExplainer, run: Run) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
            for name, m in run.parts.items() if name not in method.frozen}


def _checkpoint(store: ArtifactStore, spec: dict[str, Any], method: TrainedExplainer, run: Run,
                position: tuple) -> None:
    """Save everything needed to continue from ``position``; a failed save only costs a resume."""
    payload = {
        "position": list(position), "components": _trained_states(method, run),
        "optimisers": {n: o.state_dict() for n, o in run.optimisers.items()},
        "state": dict(run.state), "history": run.history,
        "rng": {"generator": run.generator.get_state(), "torch": torch.get_rng_state()},
    }
    try:
        store.save(CHECKPOINT, spec, payload)
    except StoreError as err:
        log.warning("training checkpoint not saved (%s); a killed run would start over", err)


def _resume(method: TrainedExplainer, data: ImageDataset, store: ArtifactStore,
            spec: dict[str, Any]) -> tuple[Run, tuple]:
    """A fresh run restored from its checkpoint, and the position (stage, epochs done in it, last
    loss, steps done) to continue from; a fresh run at the start when there is no usable checkpoint."""
    run = _new_run(method, data)
    saved = store.load(CHECKPOINT, spec)
    if saved is None:
        return run, (0, 0, None, 0)
    try:
        for name, states in saved["components"].items():
            run.parts[name].load_state_dict(states)
        for name, opt in run.optimisers.items():
            opt.load_state_dict(saved["optimisers"][name])
        run.state.update(saved["state"])
        run.history[:] = saved["history"]
        run.generator.set_state(saved["rng"]["generator"])
        torch.set_rng_state(saved["rng"]["torch"])
        si, done, last, step = saved["position"]
    except (KeyError, RuntimeError, ValueError, TypeError) as err:  # a checkpoint of other code
        log.warning("training checkpoint of %s unusable (%s); starting over", method.name, err)
        store.discard(CHECKPOINT, spec)
        return _new_run(method, data), (0, 0, None, 0)
    log.info("%s: resuming training from its checkpoint (stage %d, epoch %d)", method.name, si + 1, done)
    return run, (int(si), int(done), last, int(step))
