"""Benchmarks (``python -m xai_core bench``): black-box training time and accuracy, milliseconds per
image for each method, and each perturbation metric's throughput at 224 px beside the model's own forward
throughput. Speed lives here, not in tests."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import tempfile
import time
from typing import Any

import torch

from . import services
from .bench_timing import timed
from .device import describe_device
from .errors import XAIError
from .methods import METHODS
from .metrics import METRICS, EvalInputs
from .progress import Progress, no_progress
from .store import ArtifactStore
from .units import default_size

NATURAL = "natural"  # the 224-px dataset (pretrained efficientnet_lite0)


def _time_method(ctx: services.Context, name: str, n: int, repeats: int = 2) -> float:
    """Best-of-``repeats`` milliseconds per image explaining ``n`` test images in one call."""
    explainer = services.build_explainer(ctx, name)
    batch = ctx.test.batch(list(range(min(n, len(ctx.test))))).to(ctx.device)
    target = services.targets_for(ctx.black_box, batch.x, batch.y)
    explainer.explain(batch.x[:2], target[:2], None if batch.masks is None else batch.masks[:2])  # warm-up
    best = min(timed(lambda: explainer.explain(batch.x, target, batch.masks), ctx.device)[0] for _ in range(repeats))
    return 1000.0 * best / len(batch.x)


def _per_instance(presets: list[str], sizes: list[int], device: str, seed: int, progress: Progress) -> dict[str, Any]:
    """Seconds per 224-px image for the per-instance methods (IBA, InputIBA) on ``natural``, per
    preset and batch size B (B images optimised together). No warm-up: one run is seconds to minutes."""
    names = [m for m in METHODS if METHODS.get(m).caps.per_instance]
    out: dict[str, Any] = {}
    for preset in presets:
        ctx = services.load_context(NATURAL, preset, device=device, seed=seed)
        for name in names:
            explainer = services.build_explainer(ctx, name)  # feature statistics: cached, not timed
            for b in sizes:
                progress(0, 1, f"{name} ({preset}) on {b} image(s) of {NATURAL}")
                batch = ctx.test.batch(list(range(min(b, len(ctx.test))))).to(ctx.device)
                target = services.targets_for(ctx.black_box, batch.x, batch.y)
                seconds, _ = timed(lambda: explainer.explain(batch.x, target, chunk=b), ctx.device)  # noqa: B023
                out.setdefault(f"{name}@{preset}", {})[f"B={len(batch.x)}"] = seconds / len(batch.x)
    return out


def _metric_throughput(ctx: services.Context, n: int, passes: int = 3, repeats: int = 3) -> dict[str, Any]:
    """Model forwards per second of each perturbation metric on ``n`` test images at its default
    settings (deletion and insertion 51 steps, pixel perturbation its 7 fractions; sensitivity-n at one n,
    its default 100 masks: every n costs the same), best of ``repeats``, beside the model's own batched
    throughput (``passes`` full chunks) at the metrics' chunk size; ``ratio`` = metric / model, target ≥ 0.9
    (building the perturbed images should cost little next to the forward). ``cpu_ratio`` is the same ratio in
    this process's CPU time (on CPU): other work on a shared machine stretches wall time, much less CPU time."""
    from torch import nn

    from .metrics.perturbing import images_per_pass
    from .models.inference import eval_mode

    class Counting(nn.Module):  # the images a metric pushes through the model
        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model, self.images = model, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.images += len(x)
            return self.model(x)

    def best(fn: Any) -> tuple[float, float]:
        """The least wall and the least CPU seconds of ``repeats`` runs after a warm-up."""
        fn()  # warm-up
        runs = [timed(fn, ctx.device) for _ in range(repeats)]
        return min(w for w, _ in runs), min(c for _, c in runs)

    batch = ctx.test.batch(list(range(min(n, len(ctx.test))))).to(ctx.device)
    b, (h, w) = len(batch.x), batch.x.shape[-2:]
    chunk = images_per_pass(None, batch.x)
    images = batch.x.repeat(-(-passes * chunk // b), 1, 1, 1)[: passes * chunk]

    def forward() -> None:
        with torch.inference_mode(), eval_mode(ctx.black_box):
            for i in range(0, len(images), chunk):
                ctx.black_box(images[i : i + chunk])

    model_seconds, model_cpu = best(forward)
    model_rate = len(images) / model_seconds
    counting = Counting(ctx.black_box)
    inputs = EvalInputs(model=counting, black_box=ctx.black_box, x=batch.x, labels=batch.y,
                        target=services.targets_for(ctx.black_box, batch.x, batch.y),
                        scores=torch.rand(b, h, w, generator=torch.Generator().manual_seed(0)).to(ctx.device),
                        masks=None, fill=ctx.fill())
    overrides = {"pixel_perturbation": {}, "deletion": {}, "insertion": {}, "sensitivity_n": {"counts": [h * w // 10]}}
    out: dict[str, Any] = {"dataset": f"{ctx.dataset}@{ctx.info.image_size}px", "images": b,
                           "images_per_pass": chunk, "model_images_per_second": model_rate, "metrics": {}}
    for name, over in overrides.items():
        counting.images = 0
        seconds, cpu = best(lambda: METRICS.get(name)(inputs, **over))  # noqa: B023
        forwards = counting.images // (repeats + 1)
        out["metrics"][name] = {"forwards": forwards, "seconds": seconds, "forwards_per_second": forwards / seconds,
                                "ratio": forwards / seconds / model_rate,
                                "cpu_ratio": forwards / cpu / (len(images) / model_cpu) if cpu > 0 else None}
    return out


def _fits(dataset: str, methods: list[str], preset: str, device: str, seed: int, n: int,
          progress: Progress, a1a2: bool = True) -> dict[str, Any]:
    """Per method on ``dataset``: seconds to fit it (trained methods, from scratch into a temporary
    store), milliseconds per image explaining ``n`` test images in one call, and (``a1a2``) seconds for
    one seed of the a1a2 protocol at n_e = 4 (explaining the training images once, then G1/G2 to convergence)."""
    ctx = services.load_context(dataset, preset, device=device, seed=seed)
    size = default_size(ctx.info.image_size)
    out: dict[str, Any] = {"dataset": dataset, "device": describe_device(ctx.device), "methods": {}}
    with tempfile.TemporaryDirectory(prefix="xai-bench-") as tmp:
        fresh = dataclasses.replace(ctx, store=ArtifactStore(tmp), _explainers={})
        for name in services.check_methods(methods, ctx.info):
            progress(0, 1, f"fitting {name} on {dataset}")
            t0 = time.perf_counter()
            explainer = fresh.explainer(name)
            fit = time.perf_counter() - t0
            row: dict[str, Any] = {"fit_seconds": fit if explainer.caps.trained else None,
                                   "ms_per_image": _time_method(fresh, name, n)}
            if a1a2:
                progress(0, 1, f"a1a2, one seed, for {name} on {dataset}")
                t0 = time.perf_counter()
                generators = services.GeneratorFitter(fresh, explainer).fit(size, 4, 0)
                row.update(a1a2_seconds_per_seed=time.perf_counter() - t0, a1a2_epochs=len(generators.history))
            out["methods"][name] = row
    return out


#: what ``bench`` can time; all but ``fits`` (which trains from scratch), ``peers`` (ours against Captum
#: and Quantus called directly, :mod:`.bench_peers`; Quantus is a development dependency) and ``growth``
#: (evaluation cost against images, shard size and image side, :mod:`.bench_growth`; minutes) run by default
SECTIONS = ("training", "explain", "metrics", "per_instance", "fits", "peers", "growth")
DEFAULT_SECTIONS = SECTIONS[:4]


def run_bench(
    *,
    dataset: str = "hard_mnist",
    preset: str = "quick",
    methods: list[str] | None = None,
    n: int | None = None,
    device: str = "auto",
    seed: int = 0,
    train_datasets: list[str] | None = None,
    bottleneck_presets: list[str] | None = None,
    bottleneck_batches: list[int] | None = None,
    sections: tuple[str, ...] = DEFAULT_SECTIONS,
    fit_dataset: str = "mnist",
    fit_methods: list[str] | None = None,
    fit_a1a2: bool = True,
    sizes: list[int] | None = None,
    repeats: int = 5,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run the benchmarks in ``sections`` and return one JSON-able dict naming machine, device, preset
    and date. ``bottleneck_presets`` (default: ``preset``) and ``bottleneck_batches`` (default 1 and 16)
    set the per-instance timings at 224 px; ``fit_methods`` on ``fit_dataset`` are the ``fits`` (with one a1a2 seed
    each unless not ``fit_a1a2``).
    ``n`` test images (default 32; the ``peers`` section: 8) and, for ``peers``, the image ``sizes`` (64, 224)
    and ``repeats`` interleaved timings per pair."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise XAIError(f"unknown bench section(s) {', '.join(unknown)}; choose from: {', '.join(SECTIONS)}")
    peers_n = n or 8  # the peers section's default: 8 images
    n = n or 32
    methods = methods or [m for m in METHODS if not (METHODS.get(m).caps.trained or METHODS.get(m).caps.per_instance)]
    result: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "preset": preset,
        "sections": list(sections),
    }
    if "training" in sections:
        result["training"] = {}
        for name in train_datasets or []:
            progress(0, 1, f"black box {name}")
            ctx = services.load_context(name, preset, device=device, seed=seed)
            result["training"][name] = {k: ctx.record.get(k) for k in ("arch", "test_accuracy", "train_seconds", "epochs")}
    if "explain" in sections:
        ctx = services.load_context(dataset, preset, device=device, seed=seed)
        result["device"] = describe_device(ctx.device)
        methods = [m for m in services.check_methods(methods) if not (METHODS.get(m).caps.needs_ground_truth and not ctx.info.has_ground_truth)]
        result["ms_per_image"] = {f"{dataset}@{ctx.info.image_size}px": {}}
        for i, name in enumerate(methods):
            progress(i, len(methods), f"{name} on {dataset}")
            result["ms_per_image"][f"{dataset}@{ctx.info.image_size}px"][name] = _time_method(ctx, name, n)
    if "explain" in sections or "metrics" in sections:
        nat = services.load_context(NATURAL, preset, device=device, seed=seed)
    if "explain" in sections:
        key = f"{NATURAL}@{nat.info.image_size}px"
        result["ms_per_image"][key] = {}
        nat_methods = [m for m in methods if not METHODS.get(m).caps.needs_ground_truth]
        for i, name in enumerate(nat_methods):
            progress(i, len(nat_methods), f"{name} on {NATURAL}")
            result["ms_per_image"][key][name] = _time_method(ctx=nat, name=name, n=min(n, 8), repeats=1)
    if "metrics" in sections:
        result["metric_throughput"] = _metric_throughput(nat, min(n, 8))
    if "per_instance" in sections:
        result["seconds_per_image_224px"] = _per_instance(
            bottleneck_presets or [preset], bottleneck_batches or [1, 16], device, seed, progress)
    if "fits" in sections:
        result["fits"] = _fits(fit_dataset, fit_methods or ["dorar"], preset, device, seed, n, progress, fit_a1a2)
    if "peers" in sections:
        from .bench_peers import run_peers

        result["peers"] = run_peers(sizes=sizes, preset=preset, n=peers_n, device=device, seed=seed,
                                    repeats=repeats, progress=progress)
    if "growth" in sections:
        from .bench_growth import run_growth

        result["growth"] = run_growth(dataset=dataset, preset=preset, device=device, seed=seed, progress=progress)
    return result
