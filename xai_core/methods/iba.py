"""IBA (Schulz et al. 2020, "Restricting the flow"): a per-sample information bottleneck on a
feature layer; the attribution is the bottleneck's capacity summed over channels, resized to
the input. Also stage 1 of InputIBA (SPEC §4.2)."""
from __future__ import annotations

from typing import Any

import torch

from ..data.base import ImageDataset
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from .base import Explainer, register
from torch import nn

from ..models.views import model_view
from .bottleneck import (
    FeatureStats,
    cached_stats,
    check_layer,
    capacity_map,
    expands_at_layer,
    optimise_feature_bottleneck,
)
from .noise import ImageNoise

#: the paper's feature-bottleneck settings (InputIBA §4.1 / IBA): β 10, 10 Adam steps at lr 1,
#: 10 noise samples, σ = 1 smoothing, α initialised at 5; statistics over 1000 images
FEATURE_PAPER = {"beta": 10.0, "steps": 10, "lr": 1.0, "samples": 10, "sigma": 1.0, "init": 5.0, "stats_images": 1000}
FEATURE_DEFAULTS = {
    "paper": FEATURE_PAPER,
    "quick": {**FEATURE_PAPER, "samples": 4, "stats_images": 500},
    "smoke": {**FEATURE_PAPER, "steps": 4, "samples": 2, "stats_images": 64},
}


class BottleneckExplainer(Explainer):
    """Shared base of IBA and InputIBA: the feature layer, its cached statistics, the settings."""

    kind = "per-instance"
    takes_layer = True
    scores_note: str = ""
    batch_size = 16  # images optimised together (each with its own noise samples)
    defaults: dict[str, dict[str, Any]] = FEATURE_DEFAULTS

    def __init__(self, model, info, **kwargs: Any) -> None:
        super().__init__(model, info, **kwargs)
        self.config = {**self.defaults.get(self.preset, self.defaults["quick"]), **self.config}
        example = torch.zeros(1, info.channels, info.image_size, info.image_size, device=self.device)
        self.layer_name = check_layer(self.model, self.config.get("layer"), example)
        self.config["layer"] = self.layer_name
        self.expand = expands_at_layer(*self._view(), example)  # a property of model and layer, probed once
        self.stats: FeatureStats | None = None

    @property
    def needs_fit(self) -> bool:
        return True  # the feature statistics (seconds; cached per model, layer and dataset)

    def fit(self, train: ImageDataset, store: ArtifactStore, progress: Progress = no_progress) -> None:
        self.stats = cached_stats(self.model.to(self.device), self.layer_name, train, store,
                                  int(self.config["stats_images"]), self.device, self.seed, progress)

    def settings(self) -> dict[str, Any]:
        stats = f"mean/std per unit over {self.stats.images} training images" if self.stats else "not estimated"
        return {**self.config, "feature_stats": stats, "target": "the label where known, else the prediction",
                "noise": "N(μ_R, σ_R) per unit (IBA's prior)", "scores": self.scores_note}

    def _view(self) -> tuple[nn.Module, nn.Module]:
        """A private view of the model and its bottleneck layer: the bottleneck's hooks go there,
        never on the model other sessions and jobs are using."""
        view = model_view(self.model)
        return view, view.get_submodule(self.layer_name)

    def _feature_bottleneck(self, net: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor,
                            noise: ImageNoise, label: str, progress: Progress):
        if self.stats is None:
            raise RuntimeError("call fit() first (services.build_explainer does)")
        c = self.config
        return optimise_feature_bottleneck(
            net, layer, x, target, self.stats, beta=c["beta"], steps=c["steps"], lr=c["lr"],
            samples=c["samples"], sigma=c["sigma"], init=c["init"], noise=noise,
            expand=self.expand, progress=progress, label=label,
        )

    def _noise(self, x: torch.Tensor) -> ImageNoise:
        return ImageNoise(x, self.seed)


@register
class IBA(BottleneckExplainer):
    """IBA: information-bottleneck capacity on a feature layer (bits), resized to the input."""

    name = "iba"

    scores_note = "capacity summed over channels (bits), bilinear to the input"

    def _attribute(self, x, target, masks, progress):
        fb = self._feature_bottleneck(*self._view(), x, target, self._noise(x), "IBA on features", progress)
        return capacity_map(fb.capacity, tuple(x.shape[-2:]))
