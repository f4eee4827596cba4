"""How long long work will take, said before it starts: training a black box, fitting a trained
method, a method-setting sweep. Work estimated above :data:`CONFIRM_ABOVE_S` needs the user's
confirmation on the pages.

The rule (docs/user-guide.md's Train section states it too): take a run measured on 2 CPU cores (the
docs/measured.md page; :data:`~xai_core.measured.BLACK_BOX_RUNS`; of a trained method's
:data:`~xai_core.measured.FIT_RUNS`, the one nearest in image size) and scale it linearly by

- training images × epochs (a fit's whole schedule: stages that converge early end sooner, so a
  fit's estimate is an upper end), and
- the classifier's multiply-accumulates per image (counted by one forward pass of a fresh model
  of its architecture at the dataset's size; pixels × channels where it cannot be counted, e.g. a
  user's model file).

It is an estimate: the machine's load and core count move it, so each estimate is then corrected by
this machine's record (:func:`corrected`): every finished background job of the same *kind* (``fit:<method>``,
``black_box:<arch>``, ``model:manipulated``, ``sweep:<method>``, ``components:<method>``; see
:class:`~xai_core.job_rates.RateBook`) recorded its measured time against its uncorrected estimate, and the next
estimate is multiplied by the median of measured / estimated over the last 20 (the basis says "× 3.2 from
this machine's last 4 runs"). The scaled runs stay the cold default. A running job's own rate then wins
(:attr:`~xai_core.jobs.Job.eta_seconds`). Times were measured on CPU only, so on a GPU there is no estimate
(and no confirmation).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from .. import jobs, rng
from ..data import dataset_info
from ..data.base import DatasetInfo
from ..device import resolve_device
from ..measured import BLACK_BOX_RUNS, FIT_RUNS, MeasuredRun, nearest
from ..methods import METHODS
from ..models import PRETRAINED, build_model, default_arch
from ..models.training import MANIPULATION_CHECK, train_config
from .catalog import is_ready
from .context import DEFAULT_MODEL, Context, ModelChoice, build_explainer

CONFIRM_ABOVE_S = 120.0  # work estimated above this needs a confirmation before it starts


@dataclass(frozen=True)
class Estimate:
    """Seconds a piece of work should take (None: no estimate) and how that was worked out."""

    seconds: float | None
    basis: str
    cold: float | None = field(default=None, compare=False)  # seconds before this machine's correction
    kind: str | None = field(default=None, compare=False)  # the job kind whose record corrects it (job_rates.RateBook)

    @property
    def needs_confirmation(self) -> bool:
        """Above :data:`CONFIRM_ABOVE_S`: the page asks before starting it."""
        return self.seconds is not None and self.seconds > CONFIRM_ABOVE_S

    @property
    def text(self) -> str:
        """E.g. "about 33 min (DiET quick on hard_mnist took …; scaled to …)"."""
        if self.seconds is None:
            return f"unknown ({self.basis})"
        return f"about {duration(self.seconds)} ({self.basis})"


def duration(seconds: float) -> str:
    """A duration in words: "40 s", "7 min", "2.5 h"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def corrected(estimate: Estimate, kind: str) -> Estimate:
    """``estimate`` (cold: scaled from a measured run) as job ``kind`` on this machine: multiplied by the
    median of measured / estimated of the kind's recorded jobs (:class:`~xai_core.job_rates.RateBook`), the basis
    saying so; unchanged (but tagged with ``kind``) without records or without seconds to correct."""
    found = jobs.MANAGER.rates.correction(kind) if estimate.seconds else None
    if not found:
        return replace(estimate, cold=estimate.seconds, kind=kind)
    factor, runs = found
    times = f"{factor:.2g}" if factor < 100 else f"{factor:,.0f}"
    return Estimate(estimate.seconds * factor, f"{estimate.basis}{CORRECTED} {times} from this machine's last "
                    f"{runs} run{'s' if runs > 1 else ''}", cold=estimate.seconds, kind=kind)


CORRECTED = "; ×"  # where a corrected estimate's basis says its correction


def _cold_basis(estimate: Estimate) -> str:
    """The basis without this machine's correction."""
    return estimate.basis.rpartition(CORRECTED)[0] if CORRECTED in estimate.basis else estimate.basis


def scaled(run: MeasuredRun, images: int, epochs: int, arch: str, info: DatasetInfo) -> float:
    """``run``'s seconds scaled by images × epochs and by the classifier's cost per image."""
    return run.seconds * (images / run.images) * (epochs / run.epochs) * _cost_ratio(run, arch, info)


def black_box_estimate(dataset: str, preset: str, device: str = "auto") -> Estimate:
    """Training the dataset's default black box at ``preset`` (its training table's epochs)."""
    if resolve_device(device).type != "cpu":
        return _not_on_cpu(resolve_device(device))
    info = dataset_info(dataset, preset)
    arch = default_arch(info)
    if arch in PRETRAINED:
        return Estimate(0.0, f"{arch} is pretrained: nothing to train")
    run = BLACK_BOX_RUNS.get(arch, BLACK_BOX_RUNS["cnn_light"])
    images, epochs = _train_size(info), train_config(dataset, preset).epochs
    return corrected(Estimate(scaled(run, images, epochs, arch, info),
                              f"{run.what} took {run.seconds:.0f} s on 2 CPU cores; scaled to {images:,} images × "
                              f"{epochs} epochs of {arch} at {info.image_size} px"), f"black_box:{arch}")


def fit_estimate(ctx: Context, method: str, **config: Any) -> Estimate:
    """Fitting ``method`` (with ``config``) on ``ctx``'s black box: 0 when it is fitted already;
    None for methods that train nothing (IBA's statistics take seconds) or have no measured run. The work
    is the method's image passes (:meth:`~xai_core.methods.trained.TrainedExplainer.image_epochs`: the
    schedule, plus fits it runs first such as COMET's t sweep); job kind ``fit:<method>``."""
    if not METHODS.get(method).caps.trained:
        return Estimate(None, f"{method} trains nothing")
    if ctx.device.type != "cpu":
        return _not_on_cpu(ctx.device)
    if is_ready(ctx, method, **config):
        return Estimate(0.0, "fitted already")
    unmet = unmet_requirement(ctx, method, **config)
    if unmet:
        return Estimate(None, unmet)
    runs = FIT_RUNS.get(method, ())
    if not runs:
        return Estimate(None, f"no measured {method} fit")
    explainer = build_explainer(ctx, method, prepare=False, **config)
    available = _train_size(ctx.info)
    images = explainer.training_images(available)
    epochs = sum(stage.epochs for stage in explainer.stages())
    before = explainer.image_epochs(available) - images * epochs  # image passes of fits run first (COMET's t)
    arch = "" if ctx.model.kind == "user" else (ctx.model.arch or default_arch(ctx.info))
    run = nearest(runs, arch, ctx.info.image_size, ctx.info.channels)
    seconds = scaled(run, images * epochs + before, 1, arch, ctx.info)
    extra = f", plus {before:,} image passes of fits it runs first to choose a setting" if before > 0 else ""
    return corrected(Estimate(seconds, f"{run.what} took {run.seconds:,.0f} s on 2 CPU cores; scaled to {images:,} "
                              f"images × at most {epochs} epochs at {ctx.info.image_size} px{extra} (stages that "
                              "converge end sooner)"), f"fit:{method}")


def unmet_requirement(ctx: Context, method: str, **config: Any) -> str | None:
    """Why ``method`` cannot be fitted on ``ctx``'s training split (one line, e.g. DoRaR's noise
    needs 50 training images), or None; instant (nothing is built but the unprepared method)."""
    sizes = ctx.info.extra.get("sizes") or {}
    if not METHODS.get(method).caps.trained or "train" not in sizes:  # no count known: the fit itself checks
        return None
    return build_explainer(ctx, method, prepare=False, **config).unmet_requirement(int(sizes["train"]))


#: training with the gradient-manipulation loss back-propagates through an input gradient: about
#: twice an honest epoch's work (not measured; the estimate says so)
MANIPULATION_COST = 2.0


def model_estimate(dataset: str, preset: str, model: ModelChoice = DEFAULT_MODEL) -> Estimate:
    """Training ``model`` for (dataset, preset): the default black box's estimate, scaled to another
    architecture's multiply-accumulates; for the manipulated black box doubled (not measured) and counting the
    up to ``MANIPULATION_CHECK.max_extra_epochs`` epochs it trains on until its gradient IoU is low enough (the
    upper end). Job kinds ``black_box:<arch>`` and ``model:manipulated``."""
    base = black_box_estimate(dataset, preset)
    if model.kind in ("default", "user") or base.seconds is None:
        return base
    info = dataset_info(dataset, preset)
    arch = model.arch or default_arch(info)
    if arch in PRETRAINED:
        return Estimate(0.0, f"{arch} is pretrained: nothing to train")
    run = BLACK_BOX_RUNS.get(arch, BLACK_BOX_RUNS["cnn_light"])
    images, epochs = _train_size(info), train_config(dataset, preset).epochs
    if model.kind != "manipulated":
        return corrected(Estimate(scaled(run, images, epochs, arch, info),
                                  f"{run.what} took {run.seconds:.0f} s on 2 CPU cores; scaled to {images:,} images × "
                                  f"{epochs} epochs of {arch} at {info.image_size} px"), f"black_box:{arch}")
    check = MANIPULATION_CHECK
    extra = check.max_extra_epochs
    seconds = scaled(run, images, epochs + extra, arch, info) * MANIPULATION_COST
    basis = (f"{run.what} took {run.seconds:.0f} s on 2 CPU cores; scaled to {images:,} images × {epochs} epochs "
             f"+ up to {extra} extra epochs until its gradient IoU ≤ {check.target_iou:g} (the upper end) of {arch} "
             f"at {info.image_size} px, × {MANIPULATION_COST:g} for the manipulation loss (not measured)")
    return corrected(Estimate(seconds, basis), "model:manipulated")


def sweep_estimate(ctx: Context, method: str, setting: str, values: list[Any]) -> Estimate:
    """A setting sweep: one fit per value not fitted yet (evaluating each adds a little more); job kind
    ``sweep:<method>``."""
    return fits_estimate(ctx, [(method, {setting: v}) for v in values], "values", kind=f"sweep:{method}")


def fits_estimate(ctx: Context, fits: list[tuple[str, dict[str, Any]]], what: str,
                  kind: str | None = None) -> Estimate:
    """Several fits (``(method, settings)`` each) of which those not fitted yet run, then an evaluation
    of each (a little more); ``what`` names them ("values", "variants"). With a job ``kind`` (``sweep:…``,
    ``components:…``) that has records on this machine, the parts' cold sum is corrected by it; else each
    part is as its own fit's record corrects it."""
    parts = [fit_estimate(ctx, method, **config) for method, config in fits]
    if any(p.seconds is None for p in parts):
        return Estimate(None, next(p.basis for p in parts if p.seconds is None), kind=kind)
    todo = sum(p.seconds > 0 for p in parts)
    basis = next((p.basis for p in parts if p.seconds), f"every one of the {what} is fitted already")
    summed = Estimate(sum(p.seconds for p in parts), f"{todo} of {len(parts)} {what} to fit, each: {basis}; "
                                                     "evaluating adds a little", kind=kind)
    cold = sum(p.cold if p.cold is not None else p.seconds for p in parts)
    if kind is None or not cold or jobs.MANAGER.rates.correction(kind) is None:
        return replace(summed, cold=cold)
    first = next((p for p in parts if p.seconds), parts[0])
    return corrected(Estimate(cold, f"{todo} of {len(parts)} {what} to fit, each: {_cold_basis(first)}; evaluating "
                                    "adds a little"), kind)


def _not_on_cpu(device: torch.device) -> Estimate:
    return Estimate(None, f"times were measured on CPU only, this runs on {device.type}")


def _train_size(info: DatasetInfo) -> int:
    sizes = info.extra.get("sizes") or {}
    return int(sizes.get("train", 0))


def _cost_ratio(run: MeasuredRun, arch: str, info: DatasetInfo) -> float:
    """The classifier's multiply-accumulates per image over the measured run's; the ratio of
    pixels × channels where either cannot be counted."""
    ours = _macs(arch, info.image_size, info.channels, info.num_classes) if arch else None
    theirs = _macs(run.arch, run.image_size, run.channels, 10)
    if ours and theirs:
        return ours / theirs
    return (info.image_size ** 2 * info.channels) / (run.image_size ** 2 * run.channels)


@lru_cache(maxsize=64)
def _macs(arch: str, image_size: int, channels: int, classes: int) -> int | None:
    """Multiply-accumulates of one forward pass of a fresh ``arch`` (convolutions and linear
    layers) on one image; None when it cannot be built or counted."""
    if arch in PRETRAINED:
        return None
    info = DatasetInfo("estimate", "quick", image_size, channels, classes, tuple(map(str, range(classes))),
                       (0.5,) * channels, (0.25,) * channels, False)
    counted = [0]

    def count(module: nn.Module, _: Any, out: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counted[0] += out.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            counted[0] += out.numel() * module.in_features

    try:
        with rng.building():  # building draws initial weights: never in the middle of a seeded build
            model = build_model(arch, info)
        hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        with torch.no_grad():
            model(torch.zeros(1, channels, image_size, image_size))
        for hook in hooks:
            hook.remove()
    except Exception:  # noqa: BLE001 - an architecture that cannot be built here: fall back to pixels
        return None
    return counted[0] or None
