"""The one Explainer interface for every method (Captum-style: one class per method, one
``explain`` signature).

Kinds:
- ``reference``: ground truth and random, the upper and lower bounds every table shows;
- ``post-hoc``: nothing to fit, ``explain`` differentiates the model;
- ``trained``: ``fit`` once (cached in the store), then ``explain`` is cheap;
- ``per-instance``: ``explain`` runs an optimisation per image, batched.

All methods work in [0, 1] pixel space (models normalise internally) and return scores
B×H×W where higher means more important.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.base import DatasetInfo, ImageDataset
from ..errors import XAIError
from ..progress import Progress, no_progress
from ..registry import Registry
from ..store import ArtifactStore


#: what each kind of method needs before it can explain (the Train page shows it)
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
    model: nn.Module  # the model whose behaviour is explained (black box unless the method tunes one)
    settings: dict[str, Any]  # the method's own settings: fill, resolution, k, baseline …
    selection: torch.Tensor | None = None  # B×H×W bool where the method defines a binary mask
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # method-specific views


#: ``Explanation.extras`` key of the method's own simplified image x_s (B×C×H×W), where it defines one
#: (DiET): the faithfulness metric scores the explained model on it instead of a cut-out of the selection
SIMPLIFIED = "simplified"


class Explainer:
    """Base class. Subclasses set ``name``/``kind`` and implement ``_attribute`` (and ``fit``)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "post-hoc"
    signed: ClassVar[bool] = False  # scores can be negative
    needs_ground_truth: ClassVar[bool] = False
    sweeps: ClassVar[dict[str, tuple[Any, ...]]] = {}  # settings worth an ablation sweep, with their values
    takes_layer: ClassVar[bool] = False  # accepts ``layer=`` (a named layer of the model, e.g. IBA's bottleneck)
    batch_size: int = 64  # initial chunk size; halved automatically on out-of-memory

    def __init__(
        self,
        model: nn.Module,
        info: DatasetInfo,
        *,
        preset: str = "quick",
        device: torch.device | str = "cpu",
        seed: int = 0,
        **config: Any,
    ) -> None:
        self.model = model.eval()
        self.info = info
        self.preset = preset
        self.device = torch.device(device)
        self.seed = seed
        self.config = config

    # -- fitting -------------------------------------------------------------------------
    @property
    def needs_fit(self) -> bool:
        return self.kind == "trained"

    def fit(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """Train what the method needs (cached in ``store``). Post-hoc methods need nothing."""

    def is_fitted(self, store: ArtifactStore) -> bool:
        """Whether ``fit`` would only load from ``store`` (trained methods override)."""
        return True

    @property
    def explained_model(self) -> nn.Module:
        """The model whose behaviour this method explains (methods that tune a copy override)."""
        return self.model

    # -- explaining ----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The method's settings, printed beside every result."""
        return dict(self.config)

    def explain(
        self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None = None,
        progress: Progress = no_progress,
    ) -> Explanation:
        """Explain ``model(x)[target]`` for a batch; chunks automatically to fit in memory.
        ``progress`` hears the stages of methods that optimise per image. Nothing of the call is
        kept on the instance: one explainer serves every session and job of a server process."""
        if self.needs_ground_truth and masks is None:
            raise XAIError(f"{self.name} needs a dataset with ground-truth masks")
        x, target = x.to(self.device), target.to(self.device)
        masks = None if masks is None else masks.to(self.device)
        scores = run_chunked(
            lambda i, j: self._attribute(x[i:j], target[i:j], None if masks is None else masks[i:j], progress),
            len(x),
            self,
        )
        return Explanation(scores=scores.detach().float(), model=self.model, settings=self.settings())

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None,
                   progress: Progress) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract


def run_chunked(fn, n: int, owner: Explainer) -> torch.Tensor:
    """Call ``fn(i, j)`` over chunks of ``owner.batch_size`` rows and concatenate; on CUDA
    out-of-memory halve the chunk (remembered on ``owner``) and retry."""
    out, i = [], 0
    while i < n:
        j = min(n, i + owner.batch_size)
        try:
            out.append(fn(i, j))
            i = j
        except torch.OutOfMemoryError:
            if owner.batch_size == 1:
                raise
            owner.batch_size = max(1, owner.batch_size // 2)
            torch.cuda.empty_cache()
    return torch.cat(out) if out else torch.empty(0)


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
