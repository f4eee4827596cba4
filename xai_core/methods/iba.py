"""IBA (Schulz et al. 2020, "Restricting the flow"): a per-sample information bottleneck on a
feature layer; the attribution is the bottleneck's capacity summed over channels, resized to
the input. Also stage 1 of InputIBA (docs/methods/input_iba.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.base import ImageDataset
from ..models.views import model_view
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from .base import Capabilities, Explainer, Explanation, Paper, register
from .bottleneck import FeatureStats, cached_stats, capacity_map, check_layer, expands_at_layer, optimise_feature_bottleneck
from .config import MethodConfig
from .noise import ImageNoise


@dataclass(frozen=True)
class FeatureConfig(MethodConfig):
    """The feature bottleneck (InputIBA §4.1 / IBA; the paper's values at ``paper``): β 10, 10 Adam
    steps at lr 1, 10 noise samples, σ = 1 smoothing, α initialised at 5; statistics over 1000 images."""

    beta: float = 10.0
    steps: int = 10
    lr: float = 1.0
    samples: int = 4
    sigma: float = 1.0
    init: float = 5.0
    stats_images: int = 500
    layer: str = ""  # "" = the model's own bottleneck layer (its ``iba_layer``, about 1/8 of the input)
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"samples": 10, "stats_images": 1000},
        "smoke": {"steps": 4, "samples": 2, "stats_images": 64},
    }


#: the class the bottleneck's cross-entropy keeps: whatever the caller explains (services.targets_for)
TARGET_NOTE = ("the class explained: the black box's top-1 in evaluations (--target label: the label), the chosen "
               "class on Explore; the authors' code: the label")


class BottleneckExplainer(Explainer):
    """Shared base of IBA and InputIBA: the feature layer, its cached statistics, the settings."""

    caps = Capabilities(per_instance=True, prepares=True, takes_layer=True)
    Config: ClassVar[type[FeatureConfig]] = FeatureConfig
    scores_note: ClassVar[str] = ""
    max_chunk = 16  # images optimised together (each with its own noise samples)

    def __init__(self, model: nn.Module, info, **kwargs: Any) -> None:
        super().__init__(model, info, **kwargs)
        self.expand = expands_at_layer(*self._view(), self._example())  # a property of model and layer, probed once
        self.stats: FeatureStats | None = None  # set once by prepare(), before the explainer is shared

    def _example(self) -> torch.Tensor:
        return torch.zeros(1, self.info.channels, self.info.image_size, self.info.image_size, device=self.device)

    def _resolve(self, config: FeatureConfig) -> FeatureConfig:
        return config.replace(layer=check_layer(self.model, config.layer or None, self._example()))

    def prepare(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        """The layer's feature statistics (seconds; cached per model, layer and dataset)."""
        self.stats = cached_stats(self.model.to(self.device), self.config.layer, train, store,
                                  self.config.stats_images, self.device, self.seed, progress)

    def settings(self) -> dict[str, Any]:
        stats = f"mean/std per unit over {self.stats.images} training images" if self.stats else "not estimated"
        return {**self.config.as_dict(), "feature_stats": stats, "target": TARGET_NOTE,
                "noise": "N(μ_R, σ_R) per unit (IBA's prior)", "scores": self.scores_note}

    def _view(self) -> tuple[nn.Module, nn.Module]:
        """A private view of the model and its bottleneck layer: the bottleneck's hooks go there,
        never on the model other sessions and jobs are using."""
        view = model_view(self.model)
        return view, view.get_submodule(self.config.layer)

    def _feature_bottleneck(self, net: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor,
                            noise: ImageNoise, label: str, progress: Progress):
        if self.stats is None:
            raise RuntimeError("call prepare() first (services.build_explainer does)")
        c = self.config
        return optimise_feature_bottleneck(
            net, layer, x, target, self.stats, beta=c.beta, steps=c.steps, lr=c.lr, samples=c.samples,
            sigma=c.sigma, init=c.init, noise=noise, expand=self.expand, progress=progress, label=label,
        )

    def _noise(self, x: torch.Tensor) -> ImageNoise:
        return ImageNoise(x, self.seed)


@register
class IBA(BottleneckExplainer):
    """IBA: information-bottleneck capacity on a feature layer (bits), resized to the input."""

    name = "iba"
    paper = Paper(
        "IBA — Information Bottleneck Attribution",
        "Schulz, Sixt, Tombari & Landgraf. Restricting the Flow: Information Bottlenecks for Attribution. ICLR "
        "2020.",
        "Per image, replaces a hidden layer's features by a mix of the features and noise, λ·R + (1−λ)·ε, and "
        "learns the mix so that the prediction survives with as little information as possible. The map is the "
        "information (bits) each location still lets through, resized to the input: coarse but faithful.")
    scores_note = "capacity summed over channels (bits), bilinear to the input"

    def _explain(self, x, target, masks, progress) -> Explanation:
        fb = self._feature_bottleneck(*self._view(), x, target, self._noise(x), "IBA on features", progress)
        return Explanation(capacity_map(fb.capacity, tuple(x.shape[-2:])))
