"""What every service works on: a dataset at a preset with the classifier it explains (a typed
:class:`ModelChoice`), loaded as a :class:`Context`; users' model uploads; and building
explainers on a context (the one place a method is instantiated and prepared)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn

from .. import rng
from ..data import dataset_info, get_dataset
from ..data.base import DatasetInfo, ImageDataset
from ..device import resolve_device
from ..errors import InvalidInputError, XAIError
from ..methods import METHODS, Explainer
from ..methods.base import create
from ..methods.bottleneck import check_layer as check_bottleneck_layer
from ..methods.bottleneck import layer_choices
from ..models import ARCHS, PRETRAINED, build_model, default_arch, load_black_box, load_user_model, predict
from ..models.user_model import UPLOAD_FORMATS, USER_MODELS, check_user_model, model_format
from ..presets import check_preset
from ..progress import Progress, no_progress
from ..store import ArtifactStore

ModelKind = Literal["default", "arch", "manipulated", "user"]
Configs = Mapping[str, Mapping[str, Any]]  # method -> settings that differ from its preset's
USER_MODEL = "your model (ONNX / torch.export)"  # the Model selector's entry for an uploaded file


@dataclass(frozen=True)
class ModelChoice:
    """Which classifier a context explains: the dataset's default black box, another architecture
    (trained on first use, cached apart), an architecture trained with gradient manipulation (DiET
    §5.4), or a user's model file at ``path``. ``arch`` "" means the dataset's default architecture.
    Frozen and hashable, so caches key on it."""

    kind: ModelKind = "default"
    arch: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        if self.kind not in get_args(ModelKind):
            raise XAIError(f"unknown model kind {self.kind!r}; choose from: {', '.join(get_args(ModelKind))}")
        if self.kind == "arch" and not self.arch:
            raise XAIError("a model choice of kind 'arch' names its architecture")

    @property
    def label(self) -> str:
        """How the Model selector names it."""
        if self.kind == "user":
            return f"your model ({Path(self.path).name})" if self.path else USER_MODEL
        arch = self.arch or "default architecture"
        if self.kind == "manipulated":
            return f"{arch}, manipulated gradients"
        return f"{arch} (default black box)" if self.kind == "default" else arch


DEFAULT_MODEL = ModelChoice()


def model_choices(info: DatasetInfo) -> list[ModelChoice]:
    """Models that can explain ``info``: its default architecture first, then the other architectures,
    then the default trained with gradient manipulation (DiET §5.4), then a user's file (path not
    chosen yet). A pretrained default has no alternatives but the user's file."""
    default = default_arch(info)
    user = ModelChoice("user")
    if default in PRETRAINED:
        return [ModelChoice("default", default), user]
    others = [ModelChoice("arch", a) for a in ARCHS if a != default and a not in PRETRAINED]
    return [ModelChoice("default", default), *others, ModelChoice("manipulated", default), user]


@dataclass(frozen=True)
class ContextSpec:
    """A context as data (picklable): what another process needs to load the same one."""

    dataset: str
    preset: str
    seed: int
    device: str  # a torch device string, e.g. "cpu" or "cuda:0"
    model: ModelChoice = DEFAULT_MODEL

    def load(self, store: ArtifactStore | None = None, progress: Progress = no_progress) -> Context:
        return load_context(self.dataset, self.preset, device=torch.device(self.device), seed=self.seed,
                            store=store, progress=progress, model=self.model)


@dataclass
class Context:
    """A dataset at a preset, its test split, and the classifier explained on it."""

    dataset: str
    preset: str
    info: DatasetInfo
    test: ImageDataset
    black_box: nn.Module
    record: dict[str, Any]
    device: torch.device
    seed: int
    store: ArtifactStore
    model: ModelChoice = DEFAULT_MODEL
    _explainers: dict[str, Explainer] = dataclasses.field(default_factory=dict, repr=False)
    _splits: dict[str, ImageDataset] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def spec(self) -> ContextSpec:
        return ContextSpec(self.dataset, self.preset, self.seed, str(self.device), self.model)

    def explainer(self, method: str, progress: Progress = no_progress, **config: Any) -> Explainer:
        """The method on this black box, built (and prepared) once per context and ``config``
        (settings that differ from the preset's, e.g. IBA's ``layer``)."""
        key = _explainer_key(method, config)
        if key not in self._explainers:
            self._explainers[key] = build_explainer(self, method, progress, **config)
        return self._explainers[key]

    def has_explainer(self, method: str, **config: Any) -> bool:
        """Whether :meth:`explainer` has built this one already (then it explains at once)."""
        return _explainer_key(method, config) in self._explainers

    def split(self, name: str) -> ImageDataset | None:
        """Another split of this dataset (e.g. "test_background"), loaded on first use and kept;
        None when the dataset has no such split."""
        if name == getattr(self.test, "split", "test"):
            return self.test
        if name not in self.info.splits:
            return None
        if name not in self._splits:
            self._splits[name] = get_dataset(self.dataset, name, self.preset, store=self.store)
        return self._splits[name]

    def fill(self) -> torch.Tensor:
        """The dataset mean colour (C), the fill every perturbation metric names."""
        return torch.tensor(self.info.mean, dtype=torch.float32, device=self.device)


def _explainer_key(method: str, config: dict[str, Any]) -> str:
    return method if not config else f"{method}{sorted(config.items())}"


def load_context(
    dataset: str,
    preset: str = "quick",
    *,
    device: str | torch.device = "auto",
    seed: int = 0,
    store: ArtifactStore | None = None,
    progress: Progress = no_progress,
    train_if_missing: bool = True,
    model: ModelChoice = DEFAULT_MODEL,
) -> Context:
    """Dataset + test split + the chosen classifier: a black box (trained now, with progress,
    unless cached) or the user's model file (ONNX, torch.export or TorchScript; pixel-space input;
    loaded and run only in a jailed worker process, see :mod:`xai_core.models.user_model`)."""
    check_preset(preset)
    store = store or ArtifactStore()
    store.check()  # a cache folder that cannot hold results: one line before any work
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    info = dataset_info(dataset, preset)
    test = get_dataset(dataset, "test", preset, store=store)
    if model.kind == "user":
        if not model.path:
            raise XAIError("no model file chosen")
        net = load_user_model(model.path, info, validation_images(test), device=dev)
        record: dict[str, Any] = {"arch": net.arch, "user_model": True}
    else:
        manipulated = model.kind == "manipulated"
        net, record = load_black_box(dataset, preset, seed=seed, device=dev, store=store, progress=progress,
                                     train_if_missing=train_if_missing, arch=model.arch or None,
                                     manipulated=manipulated)
        if manipulated:
            record = {**record, "arch": f"{record['arch']} (manipulated gradients)"}
    return Context(dataset, preset, info, test, net, record, dev, seed, store, model)


# -- users' model files --------------------------------------------------------------------------
#: uploaded model files kept (least recently used evicted beyond either bound)
MAX_USER_MODELS, MAX_USER_MODEL_BYTES = 8, 2 * 2**30


def validation_images(test: ImageDataset, n: int = 4) -> torch.Tensor:
    """The first ``n`` test images: what a user's model must handle before it is accepted."""
    return test.batch(list(range(min(n, len(test))))).x


def save_user_model(data: bytes, filename: str, dataset: str, preset: str,
                    store: ArtifactStore | None = None) -> Path:
    """Check an uploaded model file (ONNX or torch.export) for ``dataset`` in its jailed worker and
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


# -- explainers on a context ---------------------------------------------------------------------
def build_explainer(ctx: Context, method: str, progress: Progress = no_progress, *, model: nn.Module | None = None,
                    prepare: bool = True, **config: Any) -> Explainer:
    """Instantiate a method on the context's black box (or ``model``) and prepare it (train or load,
    estimate statistics) where it uses the training split; ``prepare=False`` only instantiates
    (e.g. to ask :meth:`~xai_core.methods.base.Explainer.is_ready`)."""
    explainer = create(method, model or ctx.black_box, ctx.info, preset=ctx.preset, device=ctx.device, seed=ctx.seed,
                       **config)
    if prepare and explainer.caps.uses_train_split:
        explainer.prepare(get_dataset(ctx.dataset, "train", ctx.preset, store=ctx.store), ctx.store, progress)
    return explainer


# -- the class explained -------------------------------------------------------------------------
Target = Literal["top1", "label"]
TOP1: Target = "top1"  # the black box's own decision, as all five papers explain: evaluations' default
LABEL: Target = "label"  # the dataset's label where known (the model's top-1 where unknown, label −1)
TARGETS: tuple[Target, ...] = (TOP1, LABEL)
TARGET_LABELS = {TOP1: "the black box's top-1 (the papers)", LABEL: "the label"}  # how pages name them
_EXPLAINED: ContextVar[Target] = ContextVar("explained_class", default=TOP1)


def check_target(target: str) -> Target:
    """``target`` if it names a class to explain (:data:`TARGETS`), else one line."""
    if target not in TARGETS:
        raise XAIError(f"the class explained is one of {', '.join(TARGETS)}, not {target!r}")
    return target  # type: ignore[return-value]


def targets_for(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, target: str = LABEL) -> torch.Tensor:
    """The classes to explain: the model's own top-1 (``target="top1"``), or the label where known
    (``"label"``, the default of the pages' per-sample views) and the top-1 where unknown (label −1)."""
    check_target(target)
    if target == LABEL and (labels >= 0).all():
        return labels
    pred = predict(model, x).argmax(1).to(labels.device)
    return pred if target == TOP1 else torch.where(labels >= 0, labels, pred)


@contextmanager
def explaining(target: str) -> Iterator[None]:
    """Within this block, work that explains training images on its own (the maps behind a1a2's
    generators and fs_fu's approximators, :class:`~.training_maps.TrainingMaps`) explains ``target``:
    an evaluation's shard sets it around its metrics, so those maps explain the class its test maps do."""
    token = _EXPLAINED.set(check_target(target))
    try:
        yield
    finally:
        _EXPLAINED.reset(token)


def explained_class() -> Target:
    """The class explained in the enclosing :func:`explaining` block (:data:`TOP1` outside any)."""
    return _EXPLAINED.get()


def bottleneck_layers(ctx: Context) -> tuple[list[str], str | None]:
    """Layers an information bottleneck (IBA, InputIBA) can sit on, and the model's default;
    ([], None) for models that cannot be hooked (user models)."""
    default = getattr(ctx.black_box, "iba_layer", None)
    if not default:
        return [], None
    example = torch.zeros(1, ctx.info.channels, ctx.info.image_size, ctx.info.image_size, device=ctx.device)
    return layer_choices(ctx.black_box, example), default


def check_layer(info: DatasetInfo, layer: str, arch: str | None = None) -> str:
    """Before any training: ``layer`` must be a feature-map layer of the dataset's architecture
    (checked on an untrained copy); one line listing the layers that can hold a bottleneck otherwise."""
    with rng.building():
        model = build_model(arch or default_arch(info), info)
    return check_bottleneck_layer(model, layer, torch.zeros(1, info.channels, info.image_size, info.image_size))


def layer_configs(methods: Sequence[str], layer: str | None) -> Configs:
    """``configs`` that move every method taking a layer (IBA, InputIBA) to ``layer`` (None or
    "" = each model's default)."""
    return {m: {"layer": layer} for m in methods if layer and METHODS.get(m).caps.takes_layer}
