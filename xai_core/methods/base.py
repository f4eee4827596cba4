"""The one Explainer interface for every method (Captum-style: one class per method, one
``explain`` signature), its declared :class:`Capabilities`, and the ``METHODS`` registry.

A method implements ``_explain(x, target, masks, progress) -> Explanation`` for one chunk of
images; the base does the chunking (sized for throughput, halved on out-of-memory), the
ground-truth check and the concatenation. Nothing of a call is kept on the instance: one
explainer serves every browser session and job thread of a server process.

All methods work in [0, 1] pixel space (models normalise internally) and return scores
B×H×W where higher means more important.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from ..chunks import chunk_size, run_chunked
from ..data.base import DatasetInfo, ImageDataset
from ..errors import XAIError
from ..progress import Progress, no_progress
from ..registry import Registry
from ..store import ArtifactStore
from .config import MethodConfig


@dataclass(frozen=True)
class Panel:
    """Extras a method shows together below the maps (DoRaR's reconstructions, MEED's selected-only
    inputs): the pages draw each ``kind`` their own way, and leave these extras out of the plain list."""

    kind: str  # "reconstructions" or "selected_inputs": the drawing the pages use
    inputs: tuple[str, ...]  # the ``Explanation.extras`` keys shown, in order
    captions: tuple[str, ...]  # one caption per input


@dataclass(frozen=True)
class Paper:
    """What the About page says about a method: its title, where it comes from, one paragraph."""

    title: str
    citation: str
    summary: str

    @property
    def short(self) -> str:
        """The title's name part, e.g. "DiET" of "DiET — Distractor Erasure Tuning"."""
        return self.title.split(" — ")[0]


@dataclass(frozen=True)
class Capabilities:
    """What a method declares about itself; services, pages and the CLI act on these."""

    trained: bool = False  # trains components of its own before explaining (cached per black box)
    prepares: bool = False  # prepares cheap cached data from the training split (IBA's feature statistics)
    per_instance: bool = False  # runs an optimisation per image at explain time
    reference: bool = False  # a bound every table shows (ground truth, random), not an explanation
    takes_layer: bool = False  # accepts ``layer=`` (a named layer of the model, e.g. IBA's bottleneck)
    sweeps: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # settings worth a sweep, with values
    # the method without each of its components (a paper's ablation table): label → the settings that remove it
    ablations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    selection: bool = False  # defines a binary selection beside the scores
    simplified: bool = False  # defines its own simplified image x_s (extras[SIMPLIFIED])
    needs_ground_truth: bool = False
    signed: bool = False  # scores can be negative
    label_free: bool = False  # the map does not depend on the class asked for (the contract test checks it)
    tunes_model: bool = False  # explains a model of its own (DiET's tuned copy, COMET's selector + predictor)
    panel: Panel | None = None  # extras shown together below the maps

    def __post_init__(self) -> None:
        object.__setattr__(self, "sweeps", MappingProxyType(dict(self.sweeps)))
        object.__setattr__(self, "ablations", MappingProxyType({k: MappingProxyType(dict(v))
                                                                for k, v in self.ablations.items()}))

    @property
    def kind(self) -> str:
        """The one-word label the CLI and the Train page show."""
        if self.reference:
            return "reference"
        if self.trained:
            return "trained"
        return "per-instance" if self.per_instance else "post-hoc"

    @property
    def needs(self) -> str:
        """What the method needs before it can explain, in words."""
        return NEEDS[self.kind]

    @property
    def uses_train_split(self) -> bool:
        """Whether building it reads the training split (training or statistics)."""
        return self.trained or self.prepares

    @property
    def rerunnable(self) -> bool:
        """Whether it can cheaply explain again with another model (the sanity check): not when
        that means training again."""
        return not self.trained


NEEDS = {
    "reference": "nothing (a bound every table shows)",
    "post-hoc": "the black box only",
    "trained": "the black box, then its own training (cached once per dataset)",
    "per-instance": "the black box; an optimisation per image at explain time",
}


@dataclass
class Explanation:
    """What a method says about a batch of images."""

    scores: torch.Tensor  # B×H×W float, higher = more important (may be signed)
    selection: torch.Tensor | None = None  # B×H×W bool where the method defines a binary mask
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # method-specific views, B×…
    model: nn.Module | None = None  # the model explained (the black box unless the method tunes one)
    settings: dict[str, Any] = field(default_factory=dict)  # the method's settings: fill, resolution, k …


#: ``Explanation.extras`` key of the method's own simplified image x_s (B×C×H×W), where it defines one
#: (DiET): the faithfulness metric scores the explained model on it instead of a cut-out of the selection
SIMPLIFIED = "simplified"


class Explainer:
    """Base class. Subclasses set ``name``, ``caps``, ``paper``, ``Config`` (a :class:`MethodConfig`)
    and implement ``_explain``; methods that need the training split implement ``prepare``."""

    name: ClassVar[str]
    caps: ClassVar[Capabilities] = Capabilities()
    paper: ClassVar[Paper | None] = None  # what the About page says (every registered method has one)
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    max_chunk: ClassVar[int] = 64  # at most this many images per chunk

    def __init__(self, model: nn.Module, info: DatasetInfo, *, preset: str = "quick",
                 device: torch.device | str = "cpu", seed: int = 0, **overrides: Any) -> None:
        self.model = model.eval()
        self.info = info
        self.preset = preset
        self.device = torch.device(device)
        self.seed = seed
        self.explicit = frozenset(overrides)  # the settings the caller chose (the others are the preset's)
        self.config = self._resolve(self.for_dataset(self.Config.for_preset(preset, self.name, **overrides), info))

    @classmethod
    def for_dataset(cls, config: MethodConfig, info: DatasetInfo) -> MethodConfig:
        """Settings that depend only on the dataset filled in and checked (one line for what ``info``
        cannot take); needs no model, so the CLI calls it before any training or loading."""
        return config

    def _resolve(self, config: MethodConfig) -> MethodConfig:
        """Fill settings that depend on the model, the preset or the caller's choices (e.g. a default
        layer); check them."""
        return config

    # -- preparing ---------------------------------------------------------------------------
    def prepare(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """Build what the method needs from the training split (cached in ``store``); called once,
        before the explainer is shared, by :func:`xai_core.services.context.build_explainer`."""

    def is_ready(self, store: ArtifactStore) -> bool:
        """Whether explaining can start without training first."""
        return True

    @property
    def explained_model(self) -> nn.Module:
        """The model whose behaviour this method explains (methods that tune a copy override)."""
        return self.model

    def settings(self) -> dict[str, Any]:
        """The method's settings, printed beside every result."""
        return self.config.as_dict()

    # -- explaining --------------------------------------------------------------------------
    def explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None = None,
                progress: Progress = no_progress, *, chunk: int | None = None) -> Explanation:
        """Explain ``model(x)[target]`` for a batch, ``chunk`` images at a time (default: sized
        for throughput, :meth:`chunk_size`; halved on out-of-memory). ``progress`` hears the stages
        of methods that optimise per image."""
        if self.caps.needs_ground_truth and masks is None:
            raise XAIError(f"{self.name} needs a dataset with ground-truth masks")
        x, target = x.to(self.device), target.to(self.device)
        masks = None if masks is None else masks.to(self.device)
        parts = run_chunked(
            lambda i, j: self._explain(x[i:j], target[i:j], None if masks is None else masks[i:j], progress),
            len(x), chunk or self.chunk_size(x),
        )
        return replace(concat(parts), model=self.explained_model, settings=self.settings())

    def chunk_size(self, x: torch.Tensor) -> int:
        """Images per chunk: about :data:`~xai_core.chunks.PASS_VALUES` input values per pass,
        counting the copies of each image the method runs together (:meth:`expansion`), balanced over
        ``x``'s images (:func:`~xai_core.chunks.chunk_size`)."""
        return chunk_size(x[0].numel() * self.expansion(), self.device, cap=self.max_chunk, items=len(x))

    def expansion(self) -> int:
        """Copies of each image in one forward pass (samples, integration steps)."""
        return 1

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None,
                 progress: Progress) -> Explanation:
        raise NotImplementedError  # pragma: no cover - abstract


def concat(parts: list[Explanation]) -> Explanation:
    """One explanation from per-chunk ones (scores, selection and extras concatenated)."""
    if not parts:
        return Explanation(scores=torch.empty(0))
    first = parts[0]
    return Explanation(
        scores=torch.cat([p.scores.detach().float() for p in parts]),
        selection=None if first.selection is None else torch.cat([p.selection for p in parts]),
        extras={k: torch.cat([p.extras[k].detach() for p in parts]) for k in first.extras},
    )


def model_fingerprint(model: nn.Module) -> str:
    """A hash of a model's parameters and buffers: the cache key of anything fitted to it."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


METHODS: Registry[type[Explainer]] = Registry("method")


def register(cls: type[Explainer]) -> type[Explainer]:
    """Class decorator: register under ``cls.name`` with the first docstring line as help."""
    return METHODS.register(cls.name)(cls)


def create(name: str, model: nn.Module, info: DatasetInfo, *, preset: str = "quick",
           device: torch.device | str = "cpu", seed: int = 0, **overrides: Any) -> Explainer:
    """The one place an explainer is instantiated (not yet prepared)."""
    return METHODS.get(name)(model, info, preset=preset, device=device, seed=seed, **overrides)
