"""Running the measurements behind the claims, cached per preset and per code version.

Each measurement is one service call (:data:`KINDS`); its result is a store entry (kind
``"reproduction"``) keyed by the measurement, the preset, the seed and :func:`code_version` (a hash
of the package's source), so a rerun after a kill skips what finished (and the services' own caches
skip finished fits inside one). A second entry per measurement and preset without the version
(``"reproduction_latest"``) remembers the last result of any version: shown as *stale* when the code
has changed since, never as current, and replaced only by a rerun.
"""
from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from .. import services
from ..errors import XAIError
from ..methods import METHODS
from ..metrics import METRICS
from ..progress import Progress, no_progress, within
from ..store import ArtifactStore
from . import entries  # noqa: F401  (importing registers the claims)
from .claims import CLAIMS, PAPERS, Claim, Measurement, Verdict

KIND, LATEST = "reproduction", "reproduction_latest"
SEED = 0


#: modules that only present results (this package, charts, colours, the CLI, exports) or time code
#: (``bench*.py``: no claim reads them): editing them changes no measurement, so they stay out of
#: :func:`code_version`
PRESENTATION = ("reproduce/", "figures/", "viz.py", "cli.py", "export.py", "bench")
#: modules that decide when work runs, how long it is said to take and what a page starts with, never a number a
#: claim reports (job queues and their records, work slots, measured timings and the estimates from them, job and
#: command builders, the shipped fits' list and Explore's start, the server's hosts, torchrun's launcher): out of
#: :func:`code_version` too, so re-timing a fit or changing the queue leaves the results current
SCHEDULING = ("jobs.py", "job_rates.py", "workslots.py", "measured.py", "hosts.py", "launch.py",
              "services/estimates.py", "services/tasks.py", "services/commands.py", "services/shipped.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the package's ``.py`` files that compute (names and contents; not :data:`PRESENTATION` or
    :data:`SCHEDULING`): results of other code are stale."""
    return source_hash(Path(__file__).resolve().parents[1])


def source_hash(root: Path) -> str:
    """:func:`code_version` of the package at ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name.startswith(PRESENTATION) or name in SCHEDULING:
            continue
        h.update(name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def machine() -> str:
    """The machine a result came from, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU, {torch.get_num_threads()} threads ({platform.machine()})"


# -- measurement kinds ----------------------------------------------------------------------------------
Run = Callable[[services.Context, dict[str, Any], Progress], dict[str, Any]]


def _evaluate(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return services.evaluate(ctx, p["methods"], p["metrics"], p["n"], progress=progress,
                             configs=p.get("configs"), metric_settings=p.get("metric_settings"))


def _sweep(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return services.setting_sweep(ctx, p["method"], p["setting"], list(p["values"]), p["metric"], p["n"], progress)


def _masking(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return services.region_masking(ctx, p["methods"], p["n"])


def _accuracy(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return services.explained_accuracy(ctx, p["method"], progress, **p.get("config", {}))


def _components(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return services.component_ablation(ctx, p["method"], p["metrics"], p["n"], progress)


def _randomisation(ctx: services.Context, p: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The data-randomisation test: one evaluation of the method fitted on the real labels and one of it
    fitted on randomised labels (``{"real": …, "random": …}``), so the claim compares the two on one metric."""
    base = {"methods": [p["method"]], "metrics": p["metrics"], "n": p["n"]}
    return {"real": _evaluate(ctx, base, progress),
            "random": _evaluate(ctx, {**base, "configs": {p["method"]: {"randomize_labels": True}}}, progress)}


#: per measurement kind, the service call that runs it (the CLI command measuring the same:
#: :data:`~.claims.COMMANDS`)
KINDS: dict[str, Run] = {"evaluate": _evaluate, "sweep": _sweep, "masking": _masking, "accuracy": _accuracy,
                         "components": _components, "randomisation": _randomisation}


# -- selection and caching ----------------------------------------------------------------------------
def select(papers: Sequence[str] | None = None, preset: str = "quick", ids: Sequence[str] | None = None) -> list[Claim]:
    """The registered claims of ``papers`` (all by default; only ``ids`` when given) that can run at
    ``preset``; one line for an unknown paper or claim, or a preset none of them can run at."""
    unknown = sorted(set(papers or ()) - set(PAPERS))
    if unknown:
        raise XAIError(f"unknown paper {', '.join(map(repr, unknown))}; choose from: {', '.join(PAPERS)}")
    for claim_id in ids or ():
        CLAIMS.get(claim_id)  # one line naming the claims there are
    chosen = [CLAIMS.get(n) for n in CLAIMS.names()
              if (not papers or CLAIMS.get(n).paper in papers) and (not ids or n in ids)]
    runnable = [c for c in chosen if preset in c.measurement.presets]
    for m in measurements(runnable):
        check(m, preset)
    if chosen and not runnable:
        raise XAIError(f"no claim of {', '.join(papers or PAPERS)} can run at preset {preset!r}; presets: "
                       f"{', '.join(sorted({p for c in chosen for p in c.measurement.presets}))}")
    return runnable


def check(m: Measurement, preset: str) -> None:
    """One line for a measurement whose method settings or metric parameters do not exist (before any work)."""
    for method, config in m.params.get("configs", {}).items():
        METHODS.get(method).Config.for_preset(preset, method, **config)
    for metric, params in m.params.get("metric_settings", {}).items():
        METRICS.get(metric).resolve(**params)


def _spec(m: Measurement, preset: str) -> dict[str, Any]:
    return {**m.spec(), "preset": preset, "seed": SEED}


@dataclass
class Stored:
    """A measurement's result as the store has it: current (this code) or stale (another version)."""

    result: dict[str, Any]
    code: str
    machine: str
    seconds: float
    finished: str

    @property
    def stale(self) -> bool:
        return self.code != code_version()


def stored(m: Measurement, preset: str, store: ArtifactStore) -> Stored | None:
    """The current result when there is one, else the latest of another code version, else None."""
    spec = _spec(m, preset)
    payload = store.load(KIND, {**spec, "code": code_version()}) or store.load(LATEST, spec)
    return None if payload is None else Stored(**payload)


def is_current(m: Measurement, preset: str, store: ArtifactStore) -> bool:
    """Whether the store holds this code version's result (nothing to run)."""
    return store.exists(KIND, {**_spec(m, preset), "code": code_version()})


def measure(m: Measurement, preset: str, store: ArtifactStore, device: str = "auto",
            progress: Progress = no_progress) -> Stored:
    """The measurement's current result: from the store, or run now (then stored under this code version
    and as the latest)."""
    spec = _spec(m, preset)
    key = {**spec, "code": code_version()}

    def run() -> dict[str, Any]:
        model = services.ModelChoice("manipulated") if m.model == "manipulated" else services.DEFAULT_MODEL
        # a black box that trains first (the manipulated one: about an hour) says so in the message, at the
        # measurement's start: its epochs are not the measurement's share, which must not go backwards after
        ctx = services.load_context(m.dataset, preset, device=device, seed=SEED, store=store, model=model,
                                    progress=lambda done, total, message="", **metrics: progress(
                                        0, 1, f"black box: {message}", **metrics))
        started = time.perf_counter()
        result = KINDS[m.kind](ctx, dict(m.params), progress)
        return {"result": result, "code": code_version(), "machine": machine(),
                "seconds": round(time.perf_counter() - started, 1), "finished": time.strftime("%Y-%m-%d %H:%M")}

    payload = store.get_or_create(KIND, key, run)
    store.save(LATEST, spec, payload)
    return Stored(**payload)


def pending(claims: Sequence[Claim], preset: str, store: ArtifactStore) -> list[Measurement]:
    """The measurements behind ``claims`` that the store does not hold for this code version."""
    return [m for m in measurements(claims) if not is_current(m, preset, store)]


def measure_pending(claims: Sequence[Claim], preset: str, store: ArtifactStore, device: str = "auto",
                    progress: Progress = no_progress) -> int:
    """Run :func:`pending`'s measurements one after another, with one progress over all of them (what
    ``reproduce`` and the page's Run buttons do); returns how many ran."""
    todo = pending(claims, preset, store)
    for i, m in enumerate(todo):
        stage = f"{i + 1}/{len(todo)} · {m.dataset} {m.kind}"
        progress(i, len(todo), stage)
        measure(m, preset, store, device, within(progress, i, len(todo), f"{stage}: "))
    progress(len(todo), len(todo), f"{len(todo)} measured")
    return len(todo)


def measurements(claims: Sequence[Claim]) -> list[Measurement]:
    """The distinct measurements behind ``claims``, in order."""
    out: list[Measurement] = []
    for c in claims:
        if c.measurement not in out:
            out.append(c.measurement)
    return out


def report(claims: Sequence[Claim], preset: str, store: ArtifactStore) -> dict[str, Any]:
    """Every claim judged on what the store holds now (nothing runs): the JSON `reproduce` writes."""
    rows = []
    for c in claims:
        s = stored(c.measurement, preset, store)
        verdict = Verdict.of(c, None if s is None else s.result)
        rows.append({
            "id": c.id, "paper": c.paper, "source": c.source, "claim": c.claim, "check": c.check.words,
            "paper_values": dict(c.paper_values), "paper_units": c.paper_units, "ours": verdict.ours,
            "holds": verdict.holds, "reason": verdict.reason, **verdict.row_fields(), "note": c.note,
            "missed": c.missed if verdict.holds is False else "",
            "status": "missing" if s is None else ("stale" if s.stale else "current"),
            "machine": None if s is None else s.machine, "seconds": None if s is None else s.seconds,
            "finished": None if s is None else s.finished, "command": c.measurement.command(preset),
            "rerun": f"python -m xai_core reproduce --claims {c.id} --preset {preset}",
        })
    return {"preset": preset, "code": code_version(), "claims": rows}
