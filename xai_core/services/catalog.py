"""What the pages and the CLI list: one :class:`MethodRow` per method (its declared capabilities, in
words), the metrics usable on a dataset, and the checks of names and settings before any work
starts. Pages and the CLI read these rows, never the method classes."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..data.base import DatasetInfo
from ..errors import XAIError
from ..methods import METHODS
from ..methods.base import Capabilities, Panel, Paper
from ..methods.config import Offered
from ..methods.trained import FitComparison
from ..metrics import METRICS
from .context import Context, build_explainer


@dataclass(frozen=True)
class MethodRow:
    """A registered method as listed: its name, one line about it, its capabilities and, where asked
    for a context, whether it can explain there now."""

    name: str
    about: str
    caps: Capabilities
    paper: Paper
    settings: tuple[Offered, ...]  # what Explore's "Method settings" offers, with labels and help
    comparison: FitComparison | None = None  # a second fit the Train page draws beside the default
    ready: bool | None = None  # None: not asked (no context given)

    @property
    def kind(self) -> str:
        return self.caps.kind

    @property
    def needs(self) -> str:
        return self.caps.needs

    @property
    def trained(self) -> bool:
        return self.caps.trained

    @property
    def takes_layer(self) -> bool:
        return self.caps.takes_layer

    @property
    def label_free(self) -> bool:
        """The map is the same whatever class is asked for."""
        return self.caps.label_free

    @property
    def tunes_model(self) -> bool:
        """It explains a model of its own (the pages show that model's accuracy beside the black box's)."""
        return self.caps.tunes_model

    @property
    def panel(self) -> Panel | None:
        return self.caps.panel

    @property
    def published(self) -> bool:
        """One of the papers' methods (trained or optimised per image), not a classic baseline."""
        return self.caps.trained or self.caps.per_instance

    @property
    def sweeps(self) -> Mapping[str, tuple[Any, ...]]:
        """Settings worth sweeping, with the values to offer."""
        return self.caps.sweeps

    def table(self) -> dict[str, Any]:
        """The Train page's row: method, kind, needs, ready, about."""
        return {"method": self.name, "kind": self.kind, "needs": self.needs, "ready": self.ready,
                "about": self.about}


def method_row(name: str, ready_on: Context | None = None) -> MethodRow:
    """The row of one method (unknown names raise); ``ready`` filled in for ``ready_on``."""
    cls = METHODS.get(name)
    return MethodRow(name, METHODS.describe(name), cls.caps, cls.paper, cls.Config.offered(),
                     getattr(cls, "comparison", None), None if ready_on is None else is_ready(ready_on, name))


def registered_methods() -> tuple[str, ...]:
    """Every registered method's name: a cache of what methods a page offers keys on it, so a method
    registered later (a plugin) or taken away shows as such at once."""
    return tuple(METHODS)


def method_rows(info: DatasetInfo | None = None, ready_on: Context | None = None) -> list[MethodRow]:
    """One row per method usable on ``info`` (every method when None), in listing order; with
    ``ready_on``, whether each can explain on that context now."""
    names = list(METHODS) if info is None else usable(METHODS, info)
    return [method_row(name, ready_on) for name in names]


def metric_names(info: DatasetInfo) -> list[str]:
    """The metrics that work on ``info`` (ground truth where needed), in listing order."""
    return usable(METRICS, info)


def usable(registry: Any, info: DatasetInfo) -> list[str]:
    """The names in ``METHODS`` or ``METRICS`` that work on ``info`` (ground truth where needed)."""
    return [n for n in registry if info.has_ground_truth or not _needs_ground_truth(registry.get(n))]


def check_methods(names: list[str], info: DatasetInfo | None = None) -> list[str]:
    """Validate method names (and ground-truth needs) before any work starts."""
    return _check(METHODS, names, info)


def check_metrics(names: list[str], info: DatasetInfo | None = None) -> list[str]:
    """Validate metric names (and ground-truth needs) before any work starts."""
    return _check(METRICS, names, info)


def applicable_metrics(names: list[str], info: DatasetInfo) -> tuple[list[str], dict[str, str]]:
    """Validate metric names (unknown ones raise) and split them: (the metrics that apply on
    ``info``, in the order given; :func:`not_applicable` for the rest, reported as n/a). When none
    applies, one line (as :func:`check_metrics`)."""
    reasons = not_applicable(names, info)
    applies = [m for m in names if m not in reasons]
    if names and not applies:
        check_metrics(names, info)  # raises: the first metric's one line
    return applies, reasons


def not_applicable(names: list[str], info: DatasetInfo) -> dict[str, str]:
    """``{metric: why}`` for the metrics among ``names`` that cannot be scored on ``info`` (they need
    ground-truth masks it lacks); unknown names raise."""
    return {m: f"{info.name} has no ground-truth masks" for m in names
            if _needs_ground_truth(METRICS.get(m)) and not info.has_ground_truth}


def check_sweep(methods: Sequence[str], setting: str) -> None:
    """``setting`` must be one every method declares worth sweeping; one line naming those otherwise."""
    for name in methods:
        sweeps = method_row(name).sweeps
        if setting not in sweeps:
            raise XAIError(f"method {name!r} has no sweepable setting {setting!r} "
                           f"(sweepable: {', '.join(sweeps) or 'none'})")


def is_ready(ctx: Context, method: str, **config: Any) -> bool:
    """Whether ``method`` with ``config`` (settings that differ from its preset's, e.g. DoRaR's n_e)
    can explain now (trained methods: trained for this black box and cached)."""
    if ctx.has_explainer(method, **config) or not METHODS.get(method).caps.trained:
        return True
    return build_explainer(ctx, method, prepare=False, **config).is_ready(ctx.store)


def unavailable_methods(ctx: Context, names: Sequence[str] | None = None) -> dict[str, str]:
    """``{method: why it cannot run here}`` for the methods among ``names`` (default: all) that ``ctx``'s
    dataset and model cannot take, one line each, from the methods' own declared checks: ground-truth
    masks the dataset lacks, settings the dataset cannot take (e.g. MEED's adversary), a model the method
    cannot train against, too few training images (DoRaR's noise). Instant: nothing is trained or
    prepared; the pickers leave these out and say why instead of failing inside a job or a page."""
    sizes = ctx.info.extra.get("sizes") or {}
    out: dict[str, str] = {}
    for name in names if names is not None else list(METHODS):
        if _needs_ground_truth(METHODS.get(name)) and not ctx.info.has_ground_truth:
            out[name] = f"needs ground-truth masks, which {ctx.dataset} does not have"
            continue
        try:
            explainer = build_explainer(ctx, name, prepare=False)
        except XAIError as err:
            out[name] = str(err)
            continue
        unmet = explainer.unmet_requirement(int(sizes["train"])) if explainer.caps.trained and "train" in sizes \
            else None
        if unmet:
            out[name] = unmet
    return out


def offered_methods(ctx: Context, info: DatasetInfo | None = None) -> tuple[list[MethodRow], dict[str, str]]:
    """What a picker offers on ``ctx`` (``info``: the dataset as the page sees it, e.g. without ground truth
    for an upload; default ``ctx.info``): the rows of the methods that can run there and ``{method: why not}``
    for every other registered method (:func:`unavailable_methods`). Builds every method unprepared: seconds
    on a large model, so the pages cache it per selection."""
    info = info or ctx.info
    usable_here = set(usable(METHODS, info))
    lacking = ctx.dataset if not ctx.info.has_ground_truth else "this image"  # an upload has no masks
    blocked = {m: f"needs ground-truth masks, which {lacking} does not have" for m in METHODS if m not in usable_here}
    blocked.update(unavailable_methods(ctx, [m for m in METHODS if m in usable_here]))
    return [method_row(m) for m in METHODS if m not in blocked], blocked


def _check(registry: Any, names: list[str], info: DatasetInfo | None) -> list[str]:
    for name in names:
        entry = registry.get(name)  # unknown names raise here
        if info is not None and _needs_ground_truth(entry) and not info.has_ground_truth:
            raise XAIError(f"{registry.kind} {name!r} needs ground-truth masks, which {info.name} does not have")
    return names


def _needs_ground_truth(entry: Any) -> bool:
    """Methods declare it in their capabilities, metrics on their spec."""
    return getattr(entry, "caps", entry).needs_ground_truth


def unit_configs(methods: Sequence[str], metrics: Sequence[str], units: int | None = None,
                 n_e: int | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(method configs, metric settings) giving explanation units of ``units`` px and ``n_e`` of them
    (None: each one's default) to every method with such settings (dorar, lime) and every metric with
    such parameters (a1a2, hit_rate)."""
    values = {k: int(v) for k, v in (("units", units), ("n_e", n_e)) if v is not None}

    def pick(names: set[str]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k in names}

    method_cfg = {m: pick({f.name for f in fields(METHODS.get(m).Config)}) for m in methods}
    metric_cfg = {m: pick(set(METRICS.get(m).parameters)) for m in metrics}
    return {m: c for m, c in method_cfg.items() if c}, {m: c for m, c in metric_cfg.items() if c}


RANDOM_LABELS = "random labels"  # the label suffix of a fit on randomised labels


def randomized_configs(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{method: {"randomize_labels": True}}`` for every trained method among ``methods`` (the
    data-randomisation sanity check); one line when there is none."""
    trained = [m for m in methods if METHODS.get(m).caps.trained]
    if not trained:
        raise XAIError("randomised labels refit trained methods (e.g. diet, dorar, comet); none is chosen")
    return {m: {"randomize_labels": True} for m in trained}


def randomization_variants(methods: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Evaluation entries pairing every trained method's real-label fit with its fit on randomised
    labels: ``{"comet": ("comet", {}), "comet (random labels)": ("comet", {"randomize_labels": True})}``."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for m, config in randomized_configs(methods).items():
        out[m], out[f"{m} ({RANDOM_LABELS})"] = (m, {}), (m, config)
    return out


def method_defaults(method: str, preset: str) -> dict[str, Any]:
    """``method``'s settings at ``preset`` as declared (its ``Config.for_preset``: before any
    dataset- or model-dependent resolution, e.g. Grad-CAM's layer "" = the model's last conv block);
    unknown names raise."""
    return METHODS.get(method).Config.for_preset(preset, method).as_dict()


def selection_size(ctx: Context, method: str) -> tuple[int, int]:
    """(k, units) of a top-k selection method (meed, l2x): the k it is trained with at this preset,
    resolved for the dataset (what ``top_k`` = None shows), and how many feature units an image has
    (the largest ``top_k``). Nothing is trained."""
    explainer = build_explainer(ctx, method, prepare=False)
    config = explainer.config
    if getattr(config, "k", None) is None or not hasattr(explainer, "unit"):
        raise XAIError(f"{method} has no top-k selection (k)")
    side = ctx.info.image_size // int(explainer.unit)
    return int(config.k), side * side
