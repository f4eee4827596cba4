"""The metric interface: one :class:`EvalInputs` per batch, one :class:`Metric` spec per metric with
a uniform call, per-image results concatenated over batches, then :func:`aggregate` into the
CLI's JSON shape ``number | {"x": [...], "y": [...], "auc": number, ...}`` (scalars, curves), or a
dict of means ± std for the seeded and group kinds (:func:`aggregate`).

Typical loop (what ``evaluate`` does)::

    metric = METRICS.get("deletion")
    parts = [metric(EvalInputs(...), steps=21) for batch in batches]
    per_image = merge_batches(parts)
    result = aggregate(metric, per_image)            # number or curve dict
    settings = metric.describe(fill=info.mean, steps=21)  # printed next to the result

Registration lives beside each metric's function (one module per family); this module holds
the interface, the registry and the aggregation (with :func:`normalised_auc`, shared by both).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from ..errors import InvalidInputError, XAIError
from ..progress import Progress, no_progress
from ..registry import Registry

X_KEY = "x"  # curve metrics return their x axis (T) under this key, beside the B×T curves


# -- what metrics call on the trained helpers services hand them (metrics never import services) -------
class Reconstruct(Protocol):
    """A fitted G1/G2 pair: ``(G1's reconstruction from the kept pixels, G2's from the rest)`` of B×C×H×W
    images for a B×H×W bool ``keep``."""

    def __call__(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class FitsGenerators(Protocol):
    """What ``a1a2`` calls on ``EvalInputs.reconstruction`` (:class:`xai_core.services.GeneratorFitter`):
    fit (or load) G1/G2 for the explainer's top-``n_e`` units of ``size`` px with one seed; for its controls,
    G1/G2 on random units and one G that sees only the layout of the explainer's units (B×H×W keep → images)."""

    default_seeds: int  # seeds when the metric's own ``seeds`` is None (per preset)

    def fit(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
            train_images: int | None = None) -> Reconstruct: ...

    def fit_random(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
                   train_images: int | None = None) -> Reconstruct: ...

    def fit_position(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
                     train_images: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]: ...


class ApproximatorPair(Protocol):
    """A'_S (sees the selected features) and A'_U (the rest), ready to classify."""

    selected: nn.Module
    unselected: nn.Module


@runtime_checkable
class FitsApproximators(Protocol):
    """What ``fs_fu`` calls on ``EvalInputs.approximators`` (:class:`xai_core.services.ApproximatorFitter`):
    fit (or load) A'_S / A'_U for the explainer's top-``k`` units of ``unit`` px with one seed."""

    def fit(self, unit: int, k: int, seed: int, *, epochs: int | None = None,
            train_images: int | None = None) -> ApproximatorPair: ...


@dataclass
class EvalInputs:
    """One batch, everything a metric may need (tensors on one device)."""

    model: nn.Module  # the model whose behaviour the explanation explains (DiET f_v, COMET f_P, else f_b)
    black_box: nn.Module  # the original classifier f_b
    x: torch.Tensor  # B×C×H×W in [0, 1]
    labels: torch.Tensor  # B long, dataset labels
    target: torch.Tensor  # B long, the class explained
    scores: torch.Tensor  # B×H×W, higher = more important
    masks: torch.Tensor | None  # B×H×W bool ground truth, or None
    fill: torch.Tensor  # C, the dataset mean colour in pixel space
    progress: Progress = field(default=no_progress)
    selection: torch.Tensor | None = None  # B×H×W bool, where the method defines a binary mask (DiET)
    simplified: torch.Tensor | None = None  # B×C×H×W, the method's own simplified image x_s where it defines one
    # explain this batch's x/target again with another model (B×H×W scores); None when the method
    # cannot be re-run on another model (trained methods would need refitting)
    reexplain: Callable[[nn.Module], torch.Tensor] | None = None
    # generators trained for this method's unit selections on the training split (the a1a2 protocol)
    reconstruction: FitsGenerators | None = None
    # the same explainer (method, settings, targets, ground-truth masks) explaining B other images, e.g.
    # noisy copies of x: B×C×H×W → B×H×W scores, post-processed like ``scores``; None when not wired
    explain_again: Callable[[torch.Tensor], torch.Tensor] | None = None
    # this batch's images (same indices) from another split of the dataset, e.g. "test_background"
    # (B×C×H×W); the callable returns None when the dataset has no such split; loaded only when called
    other_split: Callable[[str], torch.Tensor | None] | None = None
    # the explanation size in feature units the method or dataset defines (MEED's k: the method's own
    # k where it has one, else xai_core.units.default_k); None outside services.evaluate
    k: int | None = None
    # approximators trained for this method's top-k feature selections on the training split (the
    # fs_fu protocol)
    approximators: FitsApproximators | None = None


MetricFn = Callable[[EvalInputs, dict[str, Any]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Metric:
    """A registered metric. ``fn(inputs, parameters)`` returns per-image values: B tensors (scalar
    metrics), B×T curves plus the x axis under ``"x"`` (curve metrics), B×S values, one column per
    seed of something trained for the metric (seeded metrics: mean ± std over seeds), or several B
    tensors, one per named score (group metrics: mean ± std over images per key); ``primary`` names the
    value that is *the* score (the curve's ``"y"``, the headline of seeded and group metrics).
    ``parameters`` are the defaults a caller may override per call; ``notes`` say in words how the
    metric is defined (fixed); ``auto`` says, for a parameter whose default ``None`` is chosen at run
    time, the rule :meth:`describe` prints."""

    name: str
    kind: Literal["scalar", "curve", "seeded", "group"]
    needs_ground_truth: bool
    fn: MetricFn
    primary: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    x_label: str = ""  # curves: what the x axis is
    higher_is_better: bool | None = True
    auto: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:  # defaults are read-only; per-call overrides go through resolve()
        clash = set(self.parameters) & set(self.notes)
        if clash:
            raise ValueError(f"metric {self.name!r}: {', '.join(sorted(clash))} both parameter and note")
        for name in ("parameters", "notes", "auto"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def settings(self) -> Mapping[str, Any]:
        """Parameters and notes together (read-only), as :meth:`describe` lists them."""
        return MappingProxyType({**self.parameters, **self.notes})

    def resolve(self, **overrides: Any) -> dict[str, Any]:
        """Default parameters with ``overrides`` applied; unknown keys (notes too) are an error."""
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise XAIError(
                f"metric {self.name!r} has no setting {', '.join(sorted(unknown))}; "
                f"parameters: {', '.join(self.parameters) or 'none'}"
            )
        return {**self.parameters, **overrides}

    def __call__(self, inputs: EvalInputs, **overrides: Any) -> dict[str, torch.Tensor]:
        if self.needs_ground_truth and inputs.masks is None:
            raise XAIError(f"metric {self.name!r} needs a dataset with ground-truth masks")
        return self.fn(inputs, self.resolve(**overrides))

    def describe(self, fill: Any = None, **overrides: Any) -> dict[str, Any]:
        """JSON-ready parameters and notes to print next to the result; names the fill colour
        when known and the rule of each parameter left to ``auto``."""
        values = {k: self.auto[k] if v is None and k in self.auto else v for k, v in self.resolve(**overrides).items()}
        out = {k: _jsonable(v) for k, v in {**values, **self.notes}.items()}
        if "fill" in out and out["fill"] == "dataset_mean" and fill is not None:
            out["fill_value"] = _jsonable(torch.as_tensor(fill).flatten().tolist())
        out["score_higher_is_better"] = self.higher_is_better
        if self.kind == "curve":
            out["x_axis"] = self.x_label
        return out


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Register ``metric`` under its name (help line: its description)."""
    return METRICS.register(metric.name, metric.description)(metric)


# -- settings helpers for metric functions -------------------------------------------------------
def pick_model(inputs: EvalInputs, which: str) -> nn.Module:
    """``"explained"`` → ``inputs.model``; ``"black_box"`` → ``inputs.black_box``."""
    if which == "explained":
        return inputs.model
    if which == "black_box":
        return inputs.black_box
    raise XAIError(f"model must be 'explained' or 'black_box', got {which!r}")


def pick_fill(inputs: EvalInputs, fill: Any) -> Any:
    """``"dataset_mean"`` → ``inputs.fill``; a number, per-channel list or tensor is used as given."""
    if isinstance(fill, str):
        if fill == "dataset_mean":
            return inputs.fill
        raise XAIError(f"fill must be 'dataset_mean', a number or a per-channel list, got {fill!r}")
    return fill


# -- batches and aggregation ---------------------------------------------------------------------
def merge_batches(parts: Iterable[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate per-image values of several batches (on CPU); the x axis must agree."""
    parts = list(parts)
    if not parts:
        return {}
    out: dict[str, torch.Tensor] = {}
    for key in parts[0]:
        values = [torch.as_tensor(p[key]).detach().cpu() for p in parts]
        if key == X_KEY:
            if any(v.shape != values[0].shape or not torch.allclose(v.double(), values[0].double()) for v in values):
                raise InvalidInputError("batches have different x axes (different image sizes?)")
            out[key] = values[0]
        else:
            out[key] = torch.cat(values)
    return out


def aggregate_scalar(values: torch.Tensor) -> tuple[float | None, float | None, int]:
    """(mean, sample std, n) over the non-NaN values; (None, None, 0) when none counts."""
    v = torch.as_tensor(values).detach().double().flatten().cpu()
    v = v[~torch.isnan(v)]
    n = int(v.numel())
    if n == 0:
        return None, None, 0
    std = float(v.std()) if n > 1 else 0.0
    return float(v.mean()), std, n


def _nanmean_std(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ok = ~torch.isnan(y)
    n = ok.sum(0)
    mean = torch.where(ok, y, torch.zeros_like(y)).sum(0) / n.clamp_min(1)
    var = torch.where(ok, (y - mean) ** 2, torch.zeros_like(y)).sum(0) / (n - 1).clamp_min(1)
    mean = torch.where(n > 0, mean, torch.full_like(mean, math.nan))
    return mean, var.sqrt(), n


def _floats(t: torch.Tensor) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in t.tolist()]


def normalised_auc(x: torch.Tensor | Sequence[float], y: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under ``y`` (…×T) over ``x`` (T), divided by the x range, so the AUC is the
    curve's mean height: a constant curve ``c`` has AUC ``c`` and curves over [0, 1] keep their
    plain area. ``x`` need not be sorted (it is sorted, with ``y``, first)."""
    y = torch.as_tensor(y)
    x = torch.as_tensor(x, dtype=torch.float64, device=y.device)
    if x.ndim != 1 or y.shape[-1] != x.shape[0]:
        raise InvalidInputError("normalised_auc: x must be T and y …×T")
    if x.shape[0] < 2:
        return y[..., 0].double() if x.shape[0] else torch.full(y.shape[:-1], math.nan, dtype=torch.float64)
    order = torch.argsort(x, stable=True)
    x, y = x[order], y[..., order].double()
    span = x[-1] - x[0]
    if span <= 0:
        return y.mean(-1)
    return torch.trapezoid(y, x, dim=-1) / span


def aggregate_curves(per_image: Mapping[str, torch.Tensor], primary: str, x_axis: Any = None) -> dict[str, Any]:
    """Mean curves over images (NaNs ignored), x ascending: ``{"x", "y", "std", "auc", "auc_std",
    "n"}`` for the primary curve and ``{name, name_std, name_auc}`` for every other curve. AUCs are
    normalised trapezoids (:func:`normalised_auc`) averaged over images."""
    x = torch.as_tensor(per_image[X_KEY] if x_axis is None else x_axis, dtype=torch.float64).flatten()
    order = torch.argsort(x, stable=True)
    out: dict[str, Any] = {"x": _floats(x[order])}
    for key, value in per_image.items():
        if key == X_KEY:
            continue
        y = torch.as_tensor(value).detach().double().cpu()
        if y.ndim != 2 or y.shape[1] != x.shape[0]:
            continue
        mean, std, n = _nanmean_std(y[:, order])
        auc_mean, auc_std, auc_n = aggregate_scalar(normalised_auc(x, y))
        name = "y" if key == primary else key
        prefix = "" if key == primary else f"{key}_"
        out[name] = _floats(mean)
        out[f"{prefix}std"] = _floats(std)
        out[f"{prefix}auc"] = auc_mean
        out[f"{prefix}auc_std"] = auc_std
        if key == primary:
            out["n"] = auc_n
    return out


def aggregate_seeded(per_image: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """B×S values per key (one column per seed) → ``{key: mean over seeds, key_std: sample std over
    seeds, key_seeds: [per-seed mean over images], "seeds": S, "n": images}``."""
    out: dict[str, Any] = {}
    for key, value in per_image.items():
        v = torch.as_tensor(value).detach().double().cpu()
        per_seed = [aggregate_scalar(v[:, s])[0] for s in range(v.shape[1])]
        mean, std, _ = aggregate_scalar(torch.tensor([math.nan if p is None else p for p in per_seed]))
        out.update({key: mean, f"{key}_std": std, f"{key}_seeds": per_seed})
        out["seeds"], out["n"] = v.shape[1], v.shape[0]
    return out


def aggregate_group(per_image: Mapping[str, torch.Tensor], primary: str) -> dict[str, Any]:
    """B values per key (several scores per image) → ``{key: mean, key_std: sample std, key_n:
    images counted}`` per key (NaNs ignored; a key no image has a value for → None, None, 0), and
    ``"n"``: the images counted for the ``primary`` key."""
    out: dict[str, Any] = {}
    for key, value in per_image.items():
        mean, std, n = aggregate_scalar(value)
        out.update({key: mean, f"{key}_std": std, f"{key}_n": n})
    out["n"] = out.get(f"{primary}_n", 0)
    return out


def aggregate(
    metric: Metric, per_image: Mapping[str, torch.Tensor], x_axis: Any = None
) -> float | None | dict[str, Any]:
    """The CLI's JSON value: the mean (NaNs ignored; None when no image counts) for scalar
    metrics, the :func:`aggregate_curves` dict for curves, the :func:`aggregate_seeded` dict for
    seeded metrics, the :func:`aggregate_group` dict for group metrics."""
    if metric.kind == "scalar":
        return aggregate_scalar(per_image[metric.primary])[0]
    if metric.kind == "seeded":
        return aggregate_seeded(per_image)
    if metric.kind == "group":
        return aggregate_group(per_image, metric.primary)
    return aggregate_curves(per_image, metric.primary, x_axis)


def headline(metric: Metric, value: float | None | dict[str, Any]) -> float | None:
    """One number for an :func:`aggregate` result: a scalar's mean, a curve's AUC, a seeded metric's
    mean over seeds of its primary value (a1a2: a1), a group metric's mean of its primary value
    (robustness: pxap_noisy)."""
    if not isinstance(value, dict):
        return value
    return value.get(metric.primary) if metric.kind in ("seeded", "group") else value.get("auc")


def summary(metric: Metric, per_image: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Like :func:`aggregate` but scalars come as ``{"mean", "std", "n"}`` (for tables); so do group
    metrics, for their primary value (the per-key means and stds are in the :func:`aggregate` dict)."""
    if metric.kind in ("scalar", "group"):
        mean, std, n = aggregate_scalar(per_image[metric.primary])
        return {"mean": mean, "std": std, "n": n}
    return aggregate(metric, per_image)


def evaluate_metric(
    metric: Metric | str, batches: Iterable[EvalInputs], **overrides: Any
) -> tuple[float | None | dict[str, Any], dict[str, torch.Tensor]]:
    """Run ``metric`` over ``batches``: (aggregated result, per-image values)."""
    m = METRICS.get(metric) if isinstance(metric, str) else metric
    per_image = merge_batches(m(b, **overrides) for b in batches)
    if not per_image:
        raise InvalidInputError(f"metric {m.name!r}: no images to evaluate")
    return aggregate(m, per_image), per_image


def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return _jsonable(v.tolist())
    if isinstance(v, (tuple, list)):
        return [_jsonable(e) for e in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(e) for k, e in v.items()}
    if isinstance(v, float) and math.isnan(v):
        return None
    return v
