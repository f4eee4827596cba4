"""The services the CLI and the pages share: load a dataset with its black box, build (and fit)
explainers, explain samples, evaluate methods × metrics. Nothing here knows about Streamlit."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import dataset_info, dataset_names, get_dataset
from .data.base import Batch, DatasetInfo, ImageDataset
from .device import resolve_device
from .errors import InvalidInputError, MissingDataError, XAIError
from .methods import METHODS, Explainer, Explanation
from .jobs import MANAGER, Job
from .methods.base import NEEDS, SIMPLIFIED
from .metrics import METRICS, REGIONS, EvalInputs, aggregate, aggregate_scalar, merge_batches, region_masking_accuracy
from .models import ARCHS, PRETRAINED, black_box_state, build_model, default_arch, load_black_box, load_user_model, predict
from .models.user_model import UPLOAD_FORMATS, USER_MODELS, check_user_model, model_format
from .presets import check_preset
from .progress import Progress, no_progress, prefixed
from .store import ArtifactStore


@dataclass
class Context:
    """A dataset at a preset, its test split, and the black box trained on it."""

    dataset: str
    preset: str
    info: DatasetInfo
    test: ImageDataset
    black_box: nn.Module
    record: dict[str, Any]
    device: torch.device
    seed: int
    store: ArtifactStore
    _explainers: dict[str, Explainer] = dataclasses.field(default_factory=dict, repr=False)

    def explainer(self, method: str, progress: Progress = no_progress, **config: Any) -> Explainer:
        """The method on this black box, built (and fitted) once per context and ``config``
        (settings that differ from the preset's, e.g. IBA's ``layer``)."""
        key = method if not config else f"{method}{sorted(config.items())}"
        if key not in self._explainers:
            self._explainers[key] = build_explainer(self, method, progress, **config)
        return self._explainers[key]

    def fill(self) -> torch.Tensor:
        """The dataset mean colour (C), the fill every perturbation metric names."""
        return torch.tensor(self.info.mean, dtype=torch.float32, device=self.device)


def load_context(
    dataset: str,
    preset: str = "quick",
    *,
    device: str | torch.device = "auto",
    seed: int = 0,
    store: ArtifactStore | None = None,
    progress: Progress = no_progress,
    train_if_missing: bool = True,
    model_path: str | None = None,
    arch: str | None = None,
    manipulated: bool = False,
) -> Context:
    """Dataset + test split + black box (trained now, with progress, unless cached), or the
    user's classifier at ``model_path`` (ONNX, torch.export or TorchScript; pixel-space input;
    checked and validated in a sandbox, see :mod:`xai_core.models.user_model`) instead.
    ``arch`` picks another architecture than the dataset's default (trained and cached apart);
    ``manipulated`` trains it with the gradient-manipulation loss (DiET §5.4)."""
    check_preset(preset)
    store = store or ArtifactStore()
    store.check()  # a cache folder that cannot hold results: one line before any work
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    info = dataset_info(dataset, preset)
    test = get_dataset(dataset, "test", preset, store=store)
    if model_path:
        model = load_user_model(model_path, info, validation_images(test), device=dev)
        record: dict[str, Any] = {"arch": model.arch, "user_model": True}
    else:
        model, record = load_black_box(
            dataset, preset, seed=seed, device=dev, store=store, progress=progress, train_if_missing=train_if_missing,
            arch=arch, manipulated=manipulated,
        )
        if manipulated:
            record = {**record, "arch": f"{record['arch']} (manipulated gradients)"}
    return Context(dataset, preset, info, test, model, record, dev, seed, store)


#: uploaded model files kept (least recently used evicted beyond either bound)
MAX_USER_MODELS, MAX_USER_MODEL_BYTES = 8, 2 * 2**30


def validation_images(test: ImageDataset, n: int = 4) -> torch.Tensor:
    """The first ``n`` test images: what a user's model must handle before it is accepted."""
    return test.batch(list(range(min(n, len(test))))).x


def save_user_model(data: bytes, filename: str, dataset: str, preset: str,
                    store: ArtifactStore | None = None) -> Path:
    """Check and sandbox-validate an uploaded model file (ONNX or torch.export) for ``dataset`` and
    keep it in the store (LRU-bounded by :data:`MAX_USER_MODELS` and :data:`MAX_USER_MODEL_BYTES`);
    return its path. A refused file is not kept; the error is one line naming the upload."""
    suffix = Path(filename).suffix.lower()
    model_format(filename)
    if suffix not in UPLOAD_FORMATS:
        raise InvalidInputError(f"{filename}: the dashboard takes {' or '.join(UPLOAD_FORMATS)} models "
                                "(TorchScript only from the command line, --model)")
    store = store or ArtifactStore()
    info = dataset_info(dataset, preset)
    test = get_dataset(dataset, "test", preset, store=store)
    path = store.put_blob(USER_MODELS, data, suffix, max_count=MAX_USER_MODELS, max_bytes=MAX_USER_MODEL_BYTES)
    try:
        check_user_model(path, info, validation_images(test), name=filename)
    except XAIError:
        store.discard_blob(path)
        raise
    return path


MANIPULATED = "manipulated:"  # model-choice prefix: the architecture trained with gradient manipulation


def model_choices(info: DatasetInfo) -> list[str]:
    """Models that can explain ``info``: its default architecture first, then the other architectures,
    then the default trained with gradient manipulation (DiET §5.4)."""
    default = default_arch(info)
    if default in PRETRAINED:
        return [default]
    return [default] + [a for a in ARCHS if a != default and a not in PRETRAINED] + [MANIPULATED + default]


def check_methods(names: list[str], info: DatasetInfo | None = None) -> list[str]:
    """Validate method names (and ground-truth needs) before any work starts."""
    return _check(METHODS, names, info)


def check_metrics(names: list[str], info: DatasetInfo | None = None) -> list[str]:
    """Validate metric names (and ground-truth needs) before any work starts."""
    return _check(METRICS, names, info)


def usable(registry: Any, info: DatasetInfo) -> list[str]:
    """The names in ``METHODS`` or ``METRICS`` that work on ``info`` (ground truth where needed)."""
    return [n for n in registry if info.has_ground_truth or not registry.get(n).needs_ground_truth]


def _check(registry: Any, names: list[str], info: DatasetInfo | None) -> list[str]:
    for name in names:
        entry = registry.get(name)  # unknown names raise here
        if info is not None and entry.needs_ground_truth and not info.has_ground_truth:
            raise XAIError(f"{registry.kind} {name!r} needs ground-truth masks, which {info.name} does not have")
    return names


def build_explainer(ctx: Context, method: str, progress: Progress = no_progress, *, model: nn.Module | None = None,
                    **config: Any) -> Explainer:
    """Instantiate a method on the context's black box (or ``model``), fitting it first if it needs fitting."""
    cls = METHODS.get(method)
    explainer = cls(model or ctx.black_box, ctx.info, preset=ctx.preset, device=ctx.device, seed=ctx.seed, **config)
    if explainer.needs_fit:
        explainer.fit(get_dataset(ctx.dataset, "train", ctx.preset, store=ctx.store), ctx.store, progress)
    return explainer


def bottleneck_layers(ctx: Context) -> tuple[list[str], str | None]:
    """Layers an information bottleneck (IBA, InputIBA) can sit on, and the model's default;
    ([], None) for models that cannot be hooked (user models)."""
    from .methods.bottleneck import layer_choices

    default = getattr(ctx.black_box, "iba_layer", None)
    if not default:
        return [], None
    example = torch.zeros(1, ctx.info.channels, ctx.info.image_size, ctx.info.image_size, device=ctx.device)
    return layer_choices(ctx.black_box, example), default


def check_layer(info: DatasetInfo, layer: str, arch: str | None = None) -> str:
    """Before any training: ``layer`` must be a feature-map layer of the dataset's architecture
    (checked on an untrained copy); one line listing the layers that can hold a bottleneck otherwise."""
    from .methods.bottleneck import check_layer as check

    model = build_model(arch or default_arch(info), info)
    return check(model, layer, torch.zeros(1, info.channels, info.image_size, info.image_size))


def layer_configs(methods: Sequence[str], layer: str | None) -> dict[str, dict[str, str]]:
    """``configs`` that move every method taking a layer (IBA, InputIBA) to ``layer`` (None or
    "" = each model's default)."""
    return {m: {"layer": layer} for m in methods if layer and METHODS.get(m).takes_layer}


def targets_for(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The class to explain: the label where known, else the model's own top-1 (label −1)."""
    if (labels >= 0).all():
        return labels
    pred = predict(model, x).argmax(1).to(labels.device)
    return torch.where(labels >= 0, labels, pred)


Configs = Mapping[str, Mapping[str, Any]]  # method -> settings that differ from its preset's


def explain_indices(
    ctx: Context, methods: list[str], indices: list[int], progress: Progress = no_progress,
    configs: Configs | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain test samples ``indices`` with each method: (batch, {method: explanation})."""
    return explain_batch(ctx, methods, ctx.test.batch(indices), progress, configs)


def explain_images(
    ctx: Context, methods: list[str], images: torch.Tensor, progress: Progress = no_progress,
    configs: Configs | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain user images (B×C×H×W in [0, 1], e.g. from :func:`xai_core.uploads.load_upload`);
    without labels, each image's target is the model's own top-1."""
    n = len(images)
    batch = Batch(images, torch.full((n,), -1, dtype=torch.long), None, torch.arange(n))
    return explain_batch(ctx, methods, batch, progress, configs)


def explain_batch(
    ctx: Context, methods: list[str], batch: Batch, progress: Progress = no_progress,
    configs: Configs | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain one batch with each method (``configs[method]`` overrides its settings), targets =
    labels (model top-1 where unknown)."""
    check_methods(methods, ctx.info if batch.masks is not None else without_ground_truth(ctx.info))
    batch = batch.to(ctx.device)
    target = targets_for(ctx.black_box, batch.x, batch.y)
    out = {}
    for i, name in enumerate(methods):
        progress(i, len(methods), f"explaining with {name}")
        stage = prefixed(progress, f"{name}: ")  # fitting or per-image optimisation stages
        explainer = ctx.explainer(name, stage, **dict((configs or {}).get(name, {})))
        out[name] = explainer.explain(batch.x, target, batch.masks, progress=stage)
    progress(len(methods), len(methods), "done")
    return batch, out


def predicted_labels(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, black-box top-1) for every test image: what the sample picker filters on."""
    labels, preds = [], []
    for b in ctx.test.loader(batch_size=256):
        labels.append(b.y)
        preds.append(predict(ctx.black_box, b.x.to(ctx.device)).argmax(1).cpu())
    return torch.cat(labels), torch.cat(preds)


OUTCOMES = ("all", "correct", "misclassified")


def sample_indices(labels: torch.Tensor, predictions: torch.Tensor, label: int | None = None,
                   outcome: str = "all") -> list[int]:
    """Test indices whose label is ``label`` (None: any) and whose prediction is ``outcome``."""
    if outcome not in OUTCOMES:
        raise XAIError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    keep = torch.ones_like(labels, dtype=torch.bool) if label is None else labels == label
    if outcome != "all":
        keep &= (predictions == labels) == (outcome == "correct")
    return keep.nonzero().flatten().tolist()


def top_k(ctx: Context, x: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
    """The black box's ``k`` most probable classes for one image (C×H×W): (name, probability)."""
    probs = predict(ctx.black_box, x[None].to(ctx.device)).softmax(1)[0].cpu()
    top = probs.topk(min(k, len(probs)))
    return [(ctx.info.class_names[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def first_as_arrays(explanation: Explanation, class_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """The first image's scores, selection and extras as numpy arrays (for the dashboard's caches,
    which pickle their values). Image-shaped extras stay arrays; class-probability extras
    (``*_probs``, B×K) become a "class (p)" line under ``predictions``."""
    images, predictions = {}, {}
    for key, value in explanation.extras.items():
        first = value[0].detach().cpu().float()
        if first.ndim >= 2:
            images[key] = first.numpy()
        elif key.endswith("_probs") and first.ndim == 1:
            p, k = first.max(0)
            name = class_names[int(k)] if int(k) < len(class_names) else str(int(k))
            predictions[key.removesuffix("_probs")] = f"{name} ({float(p):.1%})"
    selection = explanation.selection
    return {
        "scores": explanation.scores[0].cpu().numpy(),
        "selection": None if selection is None else selection[0].cpu().numpy(),
        "extras": images,
        "predictions": predictions,
        "settings": explanation.settings,
    }


def without_ground_truth(info: DatasetInfo) -> DatasetInfo:
    return dataclasses.replace(info, has_ground_truth=False)


def _reexplainer(
    ctx: Context, method: str, config: Mapping[str, Any], x: torch.Tensor, target: torch.Tensor,
    masks: torch.Tensor | None, postprocess: Callable[[torch.Tensor], torch.Tensor] | None,
) -> Callable[[nn.Module], torch.Tensor]:
    """``model → scores``: a fresh explainer of ``method`` (same ``config``) on ``model``, fitted
    first where a non-trained method needs it (e.g. feature statistics), explaining this batch again."""
    def reexplain(model: nn.Module) -> torch.Tensor:
        scores = build_explainer(ctx, method, model=model, **config).explain(x, target, masks).scores
        return (scores if postprocess is None else postprocess(scores)).to(ctx.device)

    return reexplain


def evaluate(
    ctx: Context,
    methods: list[str],
    metrics: list[str],
    n: int = 100,
    *,
    batch_size: int = 50,
    progress: Progress = no_progress,
    postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    explainers: dict[str, Explainer] | None = None,
    configs: Configs | None = None,
) -> dict[str, Any]:
    """Evaluate methods × metrics on the first ``n`` test images; returns the CLI's JSON shape.
    ``postprocess`` transforms every map before scoring (e.g. the resolution ablation);
    ``explainers`` maps labels in ``methods`` to prepared explainers (e.g. one per setting)."""
    explainers = explainers or {}
    check_methods([m for m in methods if m not in explainers], ctx.info)
    check_metrics(metrics, ctx.info)
    n = min(n, len(ctx.test))
    if n <= 0:
        raise XAIError("--n must be at least 1")
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    method_settings: dict[str, Any] = {}
    spread: dict[str, dict[str, dict[str, Any]]] = {}
    total = len(methods) * ((n + batch_size - 1) // batch_size)
    done = 0
    for name in methods:
        config = dict((configs or {}).get(name, {}))
        explainer = explainers.get(name) or ctx.explainer(name, progress, **config)
        method_settings[name] = explainer.settings()
        # sanity re-explains with randomised models: not for trained methods (a refit per step) nor for
        # prepared explainers with custom settings (label not a method name)
        rerunnable = name in METHODS and METHODS.get(name).kind != "trained"
        per_metric: dict[str, list[dict[str, torch.Tensor]]] = {m: [] for m in metrics}
        seconds = 0.0
        for start in range(0, n, batch_size):
            batch = ctx.test.batch(list(range(start, min(n, start + batch_size)))).to(ctx.device)
            target = targets_for(ctx.black_box, batch.x, batch.y)
            t0 = time.perf_counter()
            expl = explainer.explain(batch.x, target, batch.masks)
            seconds += time.perf_counter() - t0
            inputs = EvalInputs(
                model=expl.model,
                black_box=ctx.black_box,
                x=batch.x,
                labels=batch.y,
                target=target,
                scores=(expl.scores if postprocess is None else postprocess(expl.scores)).to(ctx.device),
                masks=batch.masks,
                fill=ctx.fill(),
                selection=expl.selection,
                simplified=expl.extras.get(SIMPLIFIED),
                reexplain=(_reexplainer(ctx, name, config, batch.x, target, batch.masks, postprocess)
                           if rerunnable else None),
            )
            for m in metrics:
                per_metric[m].append(METRICS.get(m)(inputs))
            done += 1
            progress(done, total, f"{name}: {min(n, start + batch_size)}/{n} images")
        merged = {m: merge_batches(per_metric[m]) for m in metrics}
        results[name] = {m: aggregate(METRICS.get(m), merged[m]) for m in metrics}
        spread[name] = {m: _spread(METRICS.get(m), merged[m]) for m in metrics if METRICS.get(m).kind == "scalar"}
        timings[name] = 1000.0 * seconds / n
    return {
        "dataset": ctx.dataset,
        "preset": ctx.preset,
        "n": n,
        "results": results,
        "settings": {
            "metrics": {m: METRICS.get(m).describe(fill=list(ctx.info.mean)) for m in metrics},
            "methods": method_settings,
            "target": "label (model top-1 where the label is unknown)",
            "fill": {"name": "dataset mean colour", "value": list(ctx.info.mean)},
            "seed": ctx.seed,
            "device": str(ctx.device),
            "black_box": {k: v for k, v in ctx.record.items() if isinstance(v, (int, float, str))},
        },
        "ms_per_image": timings,
        "spread": spread,  # scalar metrics: {"mean", "std", "n"} (n excludes images without ground truth)
    }


MASKING_FRACTIONS = (0.2, 0.5, 0.8)


def check_region_masking(info: DatasetInfo) -> None:
    """Signal vs distractor masking needs the signal: refuse datasets without ground truth before any work."""
    if not info.has_ground_truth:
        raise XAIError(f"signal vs distractor masking needs ground-truth masks, which {info.name} does not have")


def region_masking(
    ctx: Context, methods: Sequence[str] = (), n: int = 200, fractions: tuple[float, ...] = MASKING_FRACTIONS,
    batch_size: int = 100,
) -> dict[str, Any]:
    """DiET's Table 6 for the black box and for every model a chosen method explains instead (DiET's
    f_v): mean accuracy when masking a fraction of the distractor, the signal or random pixels.
    Returns {"fractions", "n", "fill", "models": {model: {region: [accuracy per fraction]}}}."""
    check_region_masking(ctx.info)
    models = {"black box": ctx.black_box}
    for m in methods:
        explained = ctx.explainer(m).explained_model
        if explained is not ctx.black_box:
            models[f"{m} (tuned model)"] = explained
    n = min(n, len(ctx.test))
    out: dict[str, Any] = {}
    for name, model in models.items():
        parts = []
        for start in range(0, n, batch_size):
            batch = ctx.test.batch(list(range(start, min(n, start + batch_size)))).to(ctx.device)
            parts.append(region_masking_accuracy(model, batch.x, batch.y, batch.masks, fractions, ctx.fill(),
                                                 seed=ctx.seed + start))
        out[name] = {r: torch.cat([p[r] for p in parts]).mean(0).tolist() for r in REGIONS}
    return {"fractions": list(fractions), "n": n, "fill": "dataset mean colour", "models": out}


def _spread(metric: Any, per_image: dict[str, torch.Tensor]) -> dict[str, Any]:
    mean, std, n = aggregate_scalar(per_image[metric.primary])
    return {"mean": mean, "std": std, "n": n}


# -- what is trained, and training in the background (the Train page) ------------------------
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


def is_ready(ctx: Context, method: str) -> bool:
    """Whether ``method`` can explain now (trained methods: fitted for this black box and cached)."""
    if method in ctx._explainers or METHODS.get(method).kind != "trained":
        return True
    cls = METHODS.get(method)
    return cls(ctx.black_box, ctx.info, preset=ctx.preset, device=ctx.device, seed=ctx.seed).is_fitted(ctx.store)


def method_rows(ctx: Context) -> list[dict[str, Any]]:
    """One row per method usable on the context's dataset: kind, what it needs, whether ready."""
    return [{"method": name, "kind": METHODS.get(name).kind, "needs": NEEDS[METHODS.get(name).kind],
             "ready": is_ready(ctx, name), "about": METHODS.describe(name)} for name in usable(METHODS, ctx.info)]


def train_black_box_job(dataset: str, preset: str, seed: int = 0, store: ArtifactStore | None = None) -> Job:
    """Train (or load) a black box in the background; one job per (dataset, preset, seed)."""
    def work(progress: Progress) -> dict[str, Any]:
        return load_context(dataset, preset, seed=seed, store=store, progress=progress).record

    key = job_key(store or ArtifactStore(), "black_box", dataset, preset, seed)
    return MANAGER.submit(key, f"black box · {dataset} ({preset})", work)


def sweep_job(ctx: Context, method: str, setting: str, values: list[Any], metric: str, n: int) -> Job:
    """A method-setting sweep (refits per value: minutes) in the background; one job per request."""
    from .ablations import setting_sweep

    key = job_key(ctx.store, "sweep", *_model_parts(ctx), method, f"{setting}={','.join(map(str, values))}", metric, n)
    return MANAGER.submit(key, f"{method} {setting} sweep · {ctx.dataset} ({ctx.preset})",
                          lambda progress: setting_sweep(ctx, method, setting, values, metric, n, progress))


def job_key(store: ArtifactStore, kind: str, *parts: Any) -> str:
    """A job's key: what it builds and in which store (two stores never share a job)."""
    return "/".join([kind, *map(str, parts)]) + f"@{store.root}"


def _model_parts(ctx: Context) -> tuple[Any, ...]:
    return ctx.dataset, ctx.preset, ctx.seed, ctx.record.get("arch", "")


def fit_job_key(ctx: Context, method: str) -> str:
    return job_key(ctx.store, "fit", *_model_parts(ctx), method)


def fit_method_job(ctx: Context, method: str) -> Job:
    """Fit a trained method in the background; one job per (dataset, preset, seed, model, method)."""
    check_methods([method], ctx.info)
    return MANAGER.submit(fit_job_key(ctx, method), f"{method} · {ctx.dataset} ({ctx.preset})",
                          lambda progress: ctx.explainer(method, progress).settings())
