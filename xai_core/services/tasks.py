"""What is trained, and training in the background (the Train page, "train now" buttons, sweeps):
one job per thing built, keyed by what it builds and the store it lands in."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..data import dataset_info, dataset_names
from ..errors import MissingDataError
from ..jobs import ETA, MANAGER, Job
from ..methods import METHODS
from ..models import PRETRAINED, black_box_state, default_arch, train_config
from ..models.assets import SHIPPED, asset_path, read_asset
from ..models.training import KIND as BLACK_BOX
from ..models.training import MANIPULATION_WEIGHT, black_box_spec
from ..progress import Progress
from ..store import ArtifactStore, spec_hash
from .ablations import component_ablation, component_variants, setting_sweep
from .catalog import check_methods, check_metrics
from .context import DEFAULT_MODEL, Context, ModelChoice, build_explainer, load_context
from .estimates import (Estimate, black_box_estimate, duration, fit_estimate, fits_estimate, model_estimate,
                        sweep_estimate)


def black_box_rows(preset: str, seed: int = 0, store: ArtifactStore | None = None) -> list[dict[str, Any]]:
    """One row per dataset: architecture, state (pretrained/trained/shipped/not trained/no data),
    test accuracy and training time where known."""
    rows = []
    for name in dataset_names():
        try:
            st = black_box_state(name, preset, seed, store)
        except MissingDataError as err:
            rows.append({"dataset": name, "architecture": "", "state": f"no data: {err}",
                         "test accuracy": None, "training s": None})
            continue
        rec = st["record"]
        state = "shipped" if st["state"] == "trained" and _is_shipped(name, preset, seed, rec) else st["state"]
        rows.append({"dataset": name, "architecture": st["arch"], "state": state,
                     "test accuracy": rec.get("test_accuracy"), "training s": rec.get("train_seconds")})
    return rows


def _is_shipped(dataset: str, preset: str, seed: int, record: dict[str, Any]) -> bool:
    """Whether a stored black box is the one shipped in ``assets/`` (the store is seeded with it on
    first use, record and all), not one trained here."""
    if (dataset, preset, seed) not in SHIPPED:
        return False
    found = read_asset(dataset, preset, seed)
    return found is not None and found[1].get("record") == record


#: what the Train page shows in a cell with no value (a black box not trained, a pretrained one's time)
MISSING = "–"


def black_box_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`black_box_rows` as the Train page shows them: accuracy to 3 places, seconds whole,
    :data:`MISSING` where there is no value (never "None")."""
    def cell(value: Any, form: str) -> str:
        return MISSING if value is None else format(value, form)

    return [{**row, "test accuracy": cell(row["test accuracy"], ".3f"), "training s": cell(row["training s"], ",.0f")}
            for row in rows]


def black_box_cached(dataset: str, preset: str, seed: int = 0, store: ArtifactStore | None = None) -> bool:
    """Whether the dataset's default black box loads without training (pretrained, in the store or
    shipped); by file ``stat`` calls only, so pages may ask on every rerun."""
    info = dataset_info(dataset, preset)
    arch = default_arch(info)
    if arch in PRETRAINED:
        return True
    spec = black_box_spec(info.spec(), arch, train_config(dataset, preset), seed)
    return (store or ArtifactStore()).exists(BLACK_BOX, spec) or (
        (dataset, preset, seed) in SHIPPED and asset_path(dataset, preset, seed).is_file())


def black_box_job_key(dataset: str, preset: str, seed: int = 0, store: ArtifactStore | None = None) -> str:
    """The key of :func:`train_black_box_job`'s job for (dataset, preset, seed)."""
    return job_key(store or ArtifactStore(), "black_box", dataset, preset, seed)


def job_key(store: ArtifactStore, kind: str, *parts: Any) -> str:
    """A job's key: what it builds and in which store (two stores never share a job)."""
    return "/".join([kind, *map(str, parts)]) + f"@{store.root}"


def train_black_box_job(dataset: str, preset: str, seed: int = 0, store: ArtifactStore | None = None) -> Job:
    """Train (or load) a black box in the background; one job per (dataset, preset, seed)."""
    def work(progress: Progress) -> dict[str, Any]:
        return load_context(dataset, preset, seed=seed, store=store, progress=progress).record

    return MANAGER.submit(black_box_job_key(dataset, preset, seed, store), f"black box · {dataset} ({preset})", work,
                          estimate=black_box_estimate(dataset, preset))


def model_cached(dataset: str, preset: str, model: ModelChoice = DEFAULT_MODEL, seed: int = 0,
                 store: ArtifactStore | None = None) -> bool:
    """Whether ``model`` (the sidebar's choice) loads without training: the default black box as
    :func:`black_box_cached`; another architecture or the manipulated black box when its own store
    entry exists; a user's file always (it is checked, never trained). By ``stat`` calls only."""
    if model.kind == "user":
        return True
    info = dataset_info(dataset, preset)
    arch = model.arch or default_arch(info)
    if model.kind == "default" or (model.kind == "arch" and arch == default_arch(info)):
        return black_box_cached(dataset, preset, seed, store)
    if arch in PRETRAINED:
        return True
    config = train_config(dataset, preset)
    if model.kind == "manipulated":
        config = replace(config, manipulation=MANIPULATION_WEIGHT)
    return (store or ArtifactStore()).exists(BLACK_BOX, black_box_spec(info.spec(), arch, config, seed))


def model_job_key(dataset: str, preset: str, model: ModelChoice = DEFAULT_MODEL, seed: int = 0,
                  store: ArtifactStore | None = None) -> str:
    """The key of :func:`train_model_job`'s job (the default black box's: :func:`black_box_job_key`)."""
    if model.kind == "default":
        return black_box_job_key(dataset, preset, seed, store)
    return job_key(store or ArtifactStore(), "black_box", dataset, preset, seed, model.kind, model.arch)


def train_model_job(dataset: str, preset: str, model: ModelChoice = DEFAULT_MODEL, seed: int = 0,
                    store: ArtifactStore | None = None) -> Job:
    """Train (or load) the sidebar's model choice in the background (another architecture, the
    manipulated black box); one job per (dataset, preset, seed, model)."""
    if model.kind == "default":
        return train_black_box_job(dataset, preset, seed, store)

    def work(progress: Progress) -> dict[str, Any]:
        return load_context(dataset, preset, seed=seed, store=store, progress=progress, model=model).record

    return MANAGER.submit(model_job_key(dataset, preset, model, seed, store),
                          f"black box {model.label} · {dataset} ({preset})", work,
                          estimate=model_estimate(dataset, preset, model))


def fit_label(method: str, **config: Any) -> str:
    """A method with the settings it is trained with, e.g. "dorar (n_e = 8)"."""
    return method + (f" ({', '.join(f'{k} = {v}' for k, v in sorted(config.items()))})" if config else "")


def fit_job_key(ctx: Context, method: str, **config: Any) -> str:
    return job_key(ctx.store, "fit", *_model_parts(ctx), fit_label(method, **config))


def fit_method_job(ctx: Context, method: str, **config: Any) -> Job:
    """Train a trained method (with ``config``: settings that differ from its preset's) in the
    background; one job per (dataset, preset, seed, model, method, config)."""
    check_methods([method], ctx.info)
    return MANAGER.submit(fit_job_key(ctx, method, **config), f"{fit_label(method, **config)} · {ctx.dataset} "
                          f"({ctx.preset})", lambda progress: ctx.explainer(method, progress, **config).settings(),
                          estimate=fit_estimate(ctx, method, **config))


def sweep_job(ctx: Context, method: str, setting: str, values: list[Any], metric: str, n: int) -> Job:
    """A method-setting sweep (training per value: minutes) in the background; one job per request.
    A fit's own estimate covers that fit only: it goes into the message, not the sweep's ETA."""
    key = job_key(ctx.store, "sweep", *_model_parts(ctx), method, f"{setting}={','.join(map(str, values))}", metric, n)
    return MANAGER.submit(key, f"{method} {setting} sweep · {ctx.dataset} ({ctx.preset})",
                          lambda progress: setting_sweep(ctx, method, setting, values, metric, n,
                                                         fit_eta_in_message(progress)),
                          estimate=sweep_estimate(ctx, method, setting, values))


def fit_history(ctx: Context, method: str, **config: Any) -> list[dict[str, Any]] | None:
    """The per-epoch history (losses, scores such as MEED's fs_m) of ``method``'s fit with ``config``
    on ``ctx``'s black box, read from the store; None when it is not fitted (nothing is trained here)."""
    if not METHODS.get(method).caps.trained:
        return None
    explainer = build_explainer(ctx, method, prepare=False, **config)
    key = (str(ctx.store.root), spec_hash(explainer.name, explainer.cache_spec()))
    if key not in _HISTORIES:
        if not explainer.is_ready(ctx.store):
            return None
        payload = ctx.store.load(explainer.name, explainer.cache_spec())
        if payload is None:
            return None
        _HISTORIES[key] = [dict(h) for h in payload.get("history", [])]
    return [dict(h) for h in _HISTORIES[key]]


_HISTORIES: dict[tuple[str, str], list[dict[str, Any]]] = {}  # a store entry never changes under its key


def component_ablation_estimate(ctx: Context, method: str) -> Estimate:
    """Fitting the variants of a component ablation not fitted yet (evaluating adds a little more)."""
    return fits_estimate(ctx, [(base, dict(config)) for base, config in component_variants(method).values()],
                         "variants", kind=f"components:{method}")


def component_ablation_job(ctx: Context, method: str, metrics: list[str], n: int) -> Job:
    """A component ablation (:func:`~.ablations.component_ablation`: the method beside its variants
    without each component, fits included) in the background; one job per request."""
    component_variants(method)  # one line, before any job, for a method without components
    check_metrics(metrics, ctx.info)
    key = job_key(ctx.store, "components", *_model_parts(ctx), method, ",".join(metrics), n)
    return MANAGER.submit(key, f"{method} component ablation · {ctx.dataset} ({ctx.preset})",
                          lambda progress: component_ablation(ctx, method, metrics, n, fit_eta_in_message(progress)),
                          estimate=component_ablation_estimate(ctx, method))


def fit_eta_in_message(progress: Progress) -> Progress:
    """``progress`` with a part's ``eta_s`` (one fit of several) moved into the message, so the job's
    own ETA extrapolates over the whole run."""
    def report(done: float, total: float, message: str = "", **metrics: Any) -> None:
        eta = metrics.pop(ETA, None)
        progress(done, total, message + (f" (this fit: about {duration(eta)} left)" if eta is not None else ""),
                 **metrics)

    return report


def _model_parts(ctx: Context) -> tuple[Any, ...]:
    return ctx.dataset, ctx.preset, ctx.seed, ctx.record.get("arch", "")
