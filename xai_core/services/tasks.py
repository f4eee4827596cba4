"""What is trained, and training in the background (the Train page, "train now" buttons, sweeps):
one job per thing built, keyed by what it builds and the store it lands in."""
from __future__ import annotations

from typing import Any

from ..data import dataset_names
from ..errors import MissingDataError
from ..jobs import ETA, MANAGER, Job
from ..models import black_box_state
from ..progress import Progress
from ..store import ArtifactStore
from .ablations import setting_sweep
from .catalog import check_methods
from .context import Context, load_context
from .estimates import duration


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
        rows.append({"dataset": name, "architecture": st["arch"], "state": st["state"],
                     "test accuracy": rec.get("test_accuracy"), "training s": rec.get("train_seconds")})
    return rows


def job_key(store: ArtifactStore, kind: str, *parts: Any) -> str:
    """A job's key: what it builds and in which store (two stores never share a job)."""
    return "/".join([kind, *map(str, parts)]) + f"@{store.root}"


def train_black_box_job(dataset: str, preset: str, seed: int = 0, store: ArtifactStore | None = None) -> Job:
    """Train (or load) a black box in the background; one job per (dataset, preset, seed)."""
    def work(progress: Progress) -> dict[str, Any]:
        return load_context(dataset, preset, seed=seed, store=store, progress=progress).record

    key = job_key(store or ArtifactStore(), "black_box", dataset, preset, seed)
    return MANAGER.submit(key, f"black box · {dataset} ({preset})", work)


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
                          f"({ctx.preset})", lambda progress: ctx.explainer(method, progress, **config).settings())


def sweep_job(ctx: Context, method: str, setting: str, values: list[Any], metric: str, n: int) -> Job:
    """A method-setting sweep (training per value: minutes) in the background; one job per request.
    A fit's own estimate covers that fit only: it goes into the message, not the sweep's ETA."""
    key = job_key(ctx.store, "sweep", *_model_parts(ctx), method, f"{setting}={','.join(map(str, values))}", metric, n)
    return MANAGER.submit(key, f"{method} {setting} sweep · {ctx.dataset} ({ctx.preset})",
                          lambda progress: setting_sweep(ctx, method, setting, values, metric, n,
                                                         fit_eta_in_message(progress)))


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
