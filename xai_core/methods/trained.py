"""The trained-method base and its shared trainer.

A trained method declares
- its **components**: named modules it trains (``components()``), the frozen copies of the black
  box it only reads (``frozen``), their optimisers (``optimisers()``) and any per-run tensors
  (``initial_state()``, e.g. DiET's per-image training masks);
- its **training step**: ``stages()`` (a schedule of named stages of at most N epochs each: the
  components each trains, its batch size, and which returned loss each component's optimiser
  minimises) and ``train_step(stage, run, idx)`` (one batch; returns its losses as tensors);
- its **explain step**: ``_explain`` on the trained components (``self.parts``).

:func:`fit` does the rest, as Lightning's loop does: seeding, drawing the batches, the optimiser
steps (the gradient of each declared loss with respect to its components only, so a selector and a
generator can minimise different losses of one graph), epoch means weighted by images (correct
under torchrun), the convergence rule, progress, a checkpoint after every epoch (a killed or
cancelled training resumes from its last completed epoch, bit for bit) and one store entry holding
every trained component and state tensor (atomic, checksummed, loaded with ``weights_only=True``).

Progress: a report when training starts, one per finished batch (at most every :data:`TICK_S`
seconds; ``done`` is then fractional: epochs done plus the part of this one; the message names the
stage, the epoch and the batch) and one per epoch with its losses (the loss curve). Every report
carries ``eta_s``: the work left over the whole schedule (its stages' epochs × the training images,
counted per batch) at the rate measured on the batches done so far in this run; a stage that
converges early drops its skipped epochs from the work left.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .. import distributed, rng
from ..data.base import Batch, ImageDataset
from ..errors import StoreError, XAIError
from ..models.assets import fit_path, read_shipped_fit
from ..models.views import model_view
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from .base import Capabilities, Explainer, model_fingerprint
from .config import MethodConfig

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"  # store kind of the per-epoch training checkpoints
TICK_S = 0.25  # per-batch progress reports at most this often (the per-epoch report always comes)
_clock = time.perf_counter  # the trainer's clock (tests replace it)


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
class FitComparison:
    """A second fit the Train page draws beside the default one, one value per epoch (MEED's
    Figure 3: FS-M with vs without the prior)."""

    title: str
    caption: str
    value: str  # the epoch value compared (a key of the fit's history)
    variant: Mapping[str, Any]  # the second fit's settings


@dataclass(frozen=True)
class Stage:
    """A part of the schedule: at most ``epochs`` epochs of ``batch_size`` images per step, ending
    early once the epoch loss ``loss`` changes by less than ``converged`` (relative) between epochs.

    ``optimises`` maps a component to the loss (a key of ``train_step``'s result) its optimiser
    minimises; after each step the trainer takes each loss's gradient with respect to its components
    only and steps their optimisers. ``reduction`` says what a step's values are: batch means
    (``"mean"``, weighted by the batch's images in the epoch mean) or batch sums (``"sum"``)."""

    label: str  # shown in progress, e.g. "round 1/2: masks"
    epochs: int
    trains: tuple[str, ...] = ()  # components in train mode with gradients during this stage
    loss: str = "loss"  # the epoch value the convergence rule watches
    converged: float | None = None
    index: int = 0  # round or phase number, for the method's own use
    batch_size: int = 64
    optimises: Mapping[str, str] = field(default_factory=dict)
    reduction: Literal["mean", "sum"] = "mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimises", MappingProxyType(dict(self.optimises)))
        if not set(self.optimises) <= set(self.trains):
            raise ValueError(f"stage {self.label!r} optimises components it does not train")


@dataclass
class Run:
    """Everything one training run holds: components, optimisers, state tensors, the seeded
    generator the method draws batches and noise from, and the training data."""

    parts: dict[str, nn.Module]
    optimisers: dict[str, torch.optim.Optimizer]
    state: dict[str, torch.Tensor]
    data: ImageDataset
    n: int  # training images used (by all ranks together)
    generator: torch.Generator
    device: torch.device
    #: the run's own stream for draws that name no generator (dropout in the components): see xai_core.rng
    draws: torch.Generator = field(default_factory=torch.Generator, repr=False, compare=False)
    history: list[dict[str, Any]] = field(default_factory=list)
    label_order: torch.Tensor | None = None  # randomised labels: image i takes the label of image label_order[i]
    #: called after each batch from :meth:`batches` with (batch number from 1, batches, images in it): the
    #: trainer's progress within an epoch; it may raise (a cancelled job) to stop the training there
    on_batch: Callable[[int, int, int], None] | None = field(default=None, repr=False, compare=False)
    seen: int = 0  # images this process trained on in the last pass of :meth:`batches` (epoch means divide by it)
    epoch: int = 0  # the epoch being trained, from 1 within its stage
    _ahead: tuple[torch.Tensor, Batch] | None = field(default=None, repr=False, compare=False)  # the batch decoded ahead

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """The ``n`` training indices in a fresh seeded order, ``size`` per batch (the order is drawn
        now; each batch is counted for progress once the method asks for the next one).

        Under torchrun every rank draws the same order (rank 0's generator state is shared first) and
        takes its part of each batch, so the ranks together train on the single process's batches;
        the generator is then reseeded per rank, so the ranks' noise draws differ."""
        if distributed.active():
            self.generator.set_state(distributed.broadcast(self.generator.get_state()))
        chunks = torch.randperm(self.n, generator=self.generator).split(size)
        if distributed.active():
            self.generator.manual_seed(int(torch.randint(2**62, (1,), generator=self.generator)) + distributed.rank())
        return self._counted(chunks)

    def optimise(self, objectives: Mapping[str, torch.Tensor]) -> None:
        """One optimiser step per named component on the gradient of its loss with respect to its own
        parameters (components naming the same loss tensor share one backward pass). The trainer calls
        it with the stage's ``optimises``; a method calls it itself for an inner step within a batch
        (MEED's approximators are updated before its explainer's loss is computed through them)."""
        groups: dict[int, tuple[torch.Tensor, list[nn.Parameter]]] = {}
        for name, loss in objectives.items():
            groups.setdefault(id(loss), (loss, []))[1].extend(self.parts[name].parameters())
        for i, (loss, params) in enumerate(groups.values()):
            grads = torch.autograd.grad(loss, params, retain_graph=i < len(groups) - 1, allow_unused=True)
            for param, grad in zip(params, grads):
                param.grad = grad
        for name in objectives:
            self.optimisers[name].step()

    def _counted(self, chunks: tuple[torch.Tensor, ...]) -> Iterator[torch.Tensor]:
        """This rank's part of each batch; where the data streams from files (``data.workers`` > 0)
        each part is decoded ahead in DataLoader workers and served by :meth:`images` / :meth:`batch`."""
        self.seen = 0
        shares = [_share(idx) for idx in chunks]
        ahead = iter(self.data.batches([s.tolist() for s in shares])) if self.data.workers > 0 else None
        for k, (idx, mine) in enumerate(zip(chunks, shares), 1):
            self.seen += len(mine)
            self._ahead = None if ahead is None else (mine, next(ahead))
            yield mine
            if self.on_batch is not None:
                self.on_batch(k, len(chunks), len(idx))
        self._ahead = None

    def _fetch(self, idx: torch.Tensor) -> Batch:
        """The images at ``idx``: the batch decoded ahead when ``idx`` is the part just handed out."""
        if self._ahead is not None and self._ahead[0] is idx:
            return self._ahead[1]
        return self.data.batch(idx.tolist())

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """A batch of training images on the run's device (fetched per batch: paper-size splits
        do not fit in memory)."""
        return self._fetch(idx).x.to(self.device)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of training images and their labels (shuffled across the split when randomised)."""
        batch = self._fetch(idx)
        y = batch.y if self.label_order is None else self.data.batch(self.label_order[idx].tolist()).y
        return batch.x.to(self.device), y.to(self.device)

    def teacher_images(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The images whose black-box outputs a method trains ``x`` against: ``x`` itself, or
        other training images when the labels are randomised."""
        return x if self.label_order is None else self.images(self.label_order[idx])


def _share(idx: torch.Tensor) -> torch.Tensor:
    """This rank's part of a batch (all of it in one process); a batch smaller than the number of
    ranks gives the ranks left without an image its first one, so every rank takes every step."""
    if not distributed.active():
        return idx
    mine = idx.tensor_split(distributed.world_size())[distributed.rank()]
    return mine if len(mine) else idx[:1]


class TrainedExplainer(Explainer):
    """Base of methods with components trained once per black box, dataset, seed and config."""

    caps = Capabilities(trained=True)
    frozen: ClassVar[tuple[str, ...]] = ()  # names of frozen views of the black box among the parts
    explains: ClassVar[str | None] = None  # the part whose behaviour is explained (None: the black box)
    version: ClassVar[int] = 1  # bump when the training changes: old store entries stop matching
    comparison: ClassVar[FitComparison | None] = None  # a second fit the Train page draws beside the default
    #: the state tensors the explain step reads; a fit shipped in ``assets/fits/`` keeps only these (None: all)
    explain_state: ClassVar[tuple[str, ...] | None] = None
    #: state tensors a shipped fit leaves out because :meth:`rebuild_state` remakes them exactly from the training
    #: split when the fit is loaded (DoRaR's noise bank: its first training images, 34 MB at 64 px)
    rebuilt_state: ClassVar[tuple[str, ...]] = ()

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
        """How many training images to use (one-line :class:`XAIError` when ``available`` cannot do)."""
        return available

    def unmet_requirement(self, available: int) -> str | None:
        """Why this method cannot train on ``available`` images (one line), or None: asked before any
        work, so pickers and estimates say it instead of failing inside a job."""
        try:
            self.training_images(available)
        except XAIError as err:
            return str(err)
        return None

    def stages(self) -> list[Stage]:
        raise NotImplementedError  # pragma: no cover - abstract

    def rebuild_state(self, train: ImageDataset) -> dict[str, torch.Tensor]:
        """The :attr:`rebuilt_state` tensors, remade from the training split as the fit made them."""
        return {}

    def image_epochs(self, available: int) -> int:
        """Image passes a fit on ``available`` training images makes at most (the time estimates scale
        with it): the schedule's, training images × epochs; a method that fits something first (COMET's t
        sweep) adds those. Not training: changes neither the fit nor its cache key."""
        return self.training_images(available) * sum(stage.epochs for stage in self.stages())

    def begin_stage(self, stage: Stage, run: Run) -> None:
        """Once at the start of a stage (not again when resuming inside it)."""

    def train_step(self, stage: Stage, run: Run, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch of ``stage`` (``idx``: this process's training indices; fetch them with
        :meth:`Run.images` or :meth:`Run.batch`): the batch's losses and values to record, with the
        losses named in ``stage.optimises`` still attached to their graph."""
        raise NotImplementedError  # pragma: no cover - abstract

    def epoch_values(self, stage: Stage, run: Run) -> dict[str, float]:
        """Values of the state after an epoch, recorded with its losses (read after the ranks' state
        is merged, so they describe all of it)."""
        return {}

    # -- what the base does ---------------------------------------------------------------------
    def cache_spec(self) -> dict[str, Any]:
        """The store key: black-box weights, dataset, seed, the training settings, the version."""
        return {"black_box": model_fingerprint(self.model), "data": self.info.spec(), "seed": self.seed,
                "config": self.config.cache_key(), "version": self.version}

    def is_ready(self, store: ArtifactStore) -> bool:
        """Fitted here, in ``store``, or shipped with the code (``assets/fits/``); by file ``stat`` calls."""
        spec = self.cache_spec()
        return self.parts is not None or store.exists(self.name, spec) or fit_path(self.name, spec).is_file()

    def shipped_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A store payload as shipped: the components, the history and only the :attr:`explain_state` that
        :attr:`rebuilt_state` does not remake (DiET's 1,500 training masks are 12 MB its explain step never
        reads)."""
        keep = payload["state"] if self.explain_state is None else self.explain_state
        return {**payload, "state": {k: payload["state"][k] for k in keep if k not in self.rebuilt_state}}

    def prepare(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """Train (or load from ``store``) and keep the trained components; under torchrun every rank
        trains together (:func:`fit_together`)."""
        if distributed.active():
            payload = fit_together(self, train, store, progress)
        else:
            payload = self._shipped(store) or store.get_or_create(
                self.name, self.cache_spec(), lambda: fit(self, train, store, progress))
        with rng.building():
            parts = self.components()
        for name, module in parts.items():
            module.load_state_dict(payload["components"][name])
            module.to(self.device).eval().requires_grad_(False)
        for name in self.frozen:
            parts[name] = self._frozen()
        self.state = dict(payload["state"])
        if any(name not in self.state for name in self.rebuilt_state):  # a shipped fit: remade, not shipped
            self.state.update(self.rebuild_state(train))
        self.parts = parts

    def _shipped(self, store: ArtifactStore) -> dict[str, Any] | None:
        """The fit shipped with the code when ``store`` has none, saved into ``store`` (as shipped black
        boxes are) so the next load is the store's; None when none ships."""
        spec = self.cache_spec()
        if store.exists(self.name, spec):
            return None
        payload = read_shipped_fit(self.name, spec)
        if payload is not None:
            try:
                store.save(self.name, spec, payload)
            except StoreError as err:  # a read-only store: the shipped fit serves this run
                log.warning("%s", err)
        return payload

    @property
    def explained_model(self) -> nn.Module:
        return self.model if self.explains is None else self.trained(self.explains)

    def trained(self, name: str) -> nn.Module:
        if self.parts is None:
            raise XAIError(f"{self.name} is not trained yet (services.build_explainer trains or loads it)")
        return self.parts[name]

    def _frozen(self) -> nn.Module:
        return model_view(self.model).to(self.device).eval()


class _Pace:
    """Work done and left in training images (a batch counts its images, an epoch all ``n``), and
    the seconds left at the rate measured in this run."""

    def __init__(self, n: int) -> None:
        self.n, self.started = n, _clock()
        self.epochs_images = 0  # images of the epochs finished in this run
        self.epoch_images = 0  # images of the current epoch's finished batches
        self.last_report = self.started

    @property
    def epoch_part(self) -> float:
        """The part of the current epoch done, below 1 (the epoch's own report says 1)."""
        return min(self.epoch_images / self.n, 0.99) if self.n else 0.0

    def end_epoch(self) -> None:
        self.epochs_images += self.n
        self.epoch_images = 0

    def eta(self, epochs_left: float) -> float | None:
        """Seconds for ``epochs_left`` epochs (the current one's finished batches taken off), at the
        rate of everything done in this run; None before the first batch."""
        done = self.epochs_images + min(self.epoch_images, self.n)
        if not done:
            return None
        left = max(0.0, epochs_left * self.n - min(self.epoch_images, self.n))
        return (_clock() - self.started) / done * left

    def due(self) -> bool:
        """Whether a per-batch report is due (at most one per :data:`TICK_S`)."""
        now = _clock()
        if now - self.last_report < TICK_S:
            return False
        self.last_report = now
        return True


def fit_together(method: TrainedExplainer, data: ImageDataset, store: ArtifactStore,
                 progress: Progress = no_progress) -> dict[str, Any]:
    """The store payload of ``method`` on every rank: rank 0's cached entry, or else a :func:`fit`
    every rank runs together, which rank 0 alone saves (atomically, once it is complete: a job that
    dies leaves no entry). Every rank then holds rank 0's payload."""
    spec = method.cache_spec()
    cached = store.load(method.name, spec) if distributed.is_main() else None
    if not distributed.broadcast(cached is not None):
        payload = fit(method, data, store, progress)
        if distributed.is_main():
            store.save(method.name, spec, payload)
            cached = payload
    return distributed.broadcast(cached)


def fit(method: TrainedExplainer, data: ImageDataset, store: ArtifactStore,
        progress: Progress = no_progress) -> dict[str, Any]:
    """Train ``method`` from its last checkpoint in ``store`` (or from scratch); returns the store
    payload ``{"components": {name: state_dict}, "state": {...}, "history": [...]}``. Progress
    ``done`` counts epochs (fractional inside one); ``total`` is the schedule's epochs.

    Under torchrun (data parallel): every rank runs this together on its part of each batch
    (:meth:`Run.batches`); every optimiser step first averages the gradients over the ranks, per-image
    state tensors are merged after each epoch and the epoch losses averaged, so all ranks hold the
    same components and take the same convergence decisions. Rank 0 alone reports progress and writes
    checkpoints; a resumed run starts every rank from rank 0's checkpoint."""
    if not distributed.is_main():
        progress = no_progress
    ckpt_spec = {"method": method.name, **method.cache_spec()}
    run, (si, done, last, step) = _resume(method, data, store, ckpt_spec)
    stages = method.stages()
    total = sum(s.epochs for s in stages)
    pace = _Pace(run.n)

    def batch_done(k: int, count: int, images: int) -> None:
        pace.epoch_images += images
        if k < count and pace.due():  # the last batch is reported with its epoch, after the checkpoint
            progress(step + pace.epoch_part, total, f"{stages[si].label}, epoch {done + 1}/{stages[si].epochs}, "
                     f"batch {k}/{count}", eta_s=pace.eta(total - step))

    run.on_batch = batch_done
    if si < len(stages):
        progress(step, total, f"{stages[si].label}, epoch {done + 1}/{stages[si].epochs}: starting …", eta_s=None)
    while si < len(stages):
        stage = stages[si]
        for name, module in run.parts.items():
            trains = name in stage.trains
            module.train(trains).requires_grad_(trains)
        if done == 0:
            with rng.drawing_from(run.draws):
                method.begin_stage(stage, run)
        finished = done >= stage.epochs
        while not finished:
            before = {k: v.clone() for k, v in run.state.items()} if distributed.active() else {}
            run.epoch = done + 1
            with rng.drawing_from(run.draws):
                losses = _epoch(method, stage, run)
            if distributed.active():
                run.state.update({k: distributed.merge_rows(before[k], v) for k, v in run.state.items()
                                  if k in before and v.ndim and v.shape == before[k].shape})
                losses = distributed.mean_over_ranks(losses, run.seen)
            with rng.drawing_from(run.draws):
                losses = {**losses, **method.epoch_values(stage, run)}
            done, step = done + 1, step + 1
            pace.end_epoch()
            loss = float(losses[stage.loss])
            run.history.append({"stage": stage.label, "epoch": done, **losses})
            finished = done >= stage.epochs or (
                stage.converged is not None and last is not None and abs(last - loss) <= stage.converged * abs(last))
            if finished:
                step += stage.epochs - done  # the epochs a converged stage skips
            last = loss
            _checkpoint(store, ckpt_spec, method, run, (si + 1, 0, None, step) if finished else (si, done, last, step))
            progress(step, total, f"{stage.label}, epoch {done}/{stage.epochs}", **losses, eta_s=pace.eta(total - step))
        si, done, last = si + 1, 0, None
    run.on_batch = None
    progress(total, total, "done")
    payload = {"components": _trained_states(method, run), "history": run.history,
               "state": {k: v.detach().cpu() for k, v in run.state.items()}}
    if distributed.is_main():
        store.discard(CHECKPOINT, ckpt_spec)  # the entry (saved by the caller) supersedes it
    return payload


def _epoch(method: TrainedExplainer, stage: Stage, run: Run) -> dict[str, float]:
    """One epoch of ``stage``: every batch's step and optimiser steps; the epoch mean of each value
    (batch means weighted by their images, or batch sums, over the images this process saw)."""
    sums: dict[str, float] = {}
    for idx in run.batches(stage.batch_size):
        values = method.train_step(stage, run, idx)
        run.optimise({name: values[key] for name, key in stage.optimises.items()})
        weight = len(idx) if stage.reduction == "mean" else 1
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach()) * weight
    return {key: total / run.seen for key, total in sums.items()}


def _new_run(method: TrainedExplainer, data: ImageDataset) -> Run:
    """Seeded, freshly built components, optimisers and state; the run's other draws (dropout) come
    from ``run.draws``, the same seeded stream continued (:mod:`xai_core.rng`)."""
    generator = torch.Generator().manual_seed(method.seed)
    n = method.training_images(len(data))

    def build() -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer], dict[str, torch.Tensor]]:
        parts = {name: m.to(method.device) for name, m in method.components().items()}
        return parts, method.optimisers(parts), method.initial_state(n)

    (parts, optimisers, state), draws = rng.seeded(method.seed, build)
    run = Run(parts, optimisers, state, data, n, generator, method.device, draws=draws)
    if distributed.active():  # data parallel: each step applies the gradient averaged over the ranks
        for opt in run.optimisers.values():
            opt.register_step_pre_hook(_average_gradients)
    if getattr(method.config, "randomize_labels", False):
        run.label_order = torch.randperm(n, generator=torch.Generator().manual_seed(method.seed + 7919))
    for name in method.frozen:
        run.parts[name] = method._frozen()
    return run


def _average_gradients(optimiser: torch.optim.Optimizer, *_: Any) -> None:
    distributed.average_gradients(p for group in optimiser.param_groups for p in group["params"])


def _trained_states(method: TrainedExplainer, run: Run) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
            for name, m in run.parts.items() if name not in method.frozen}


def _checkpoint(store: ArtifactStore, spec: dict[str, Any], method: TrainedExplainer, run: Run,
                position: tuple) -> None:
    """Save everything needed to continue from ``position`` (rank 0 alone under torchrun); a failed
    save only costs a resume."""
    if not distributed.is_main():
        return
    payload = {
        "position": list(position), "components": _trained_states(method, run),
        "optimisers": {n: o.state_dict() for n, o in run.optimisers.items()},
        "state": dict(run.state), "history": run.history,
        "rng": {"generator": run.generator.get_state(), "draws": run.draws.get_state()},
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
    saved = distributed.broadcast(store.load(CHECKPOINT, spec) if distributed.is_main() else None)
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
        run.draws.set_state(saved["rng"]["draws"])
        si, done, last, step = saved["position"]
    except (KeyError, RuntimeError, ValueError, TypeError) as err:  # a checkpoint of other code
        log.warning("training checkpoint of %s unusable (%s); starting over", method.name, err)
        if distributed.is_main():
            store.discard(CHECKPOINT, spec)
        return _new_run(method, data), (0, 0, None, 0)
    log.info("%s: resuming training from its checkpoint (stage %d, epoch %d)", method.name, si + 1, done)
    return run, (int(si), int(done), last, int(step))
