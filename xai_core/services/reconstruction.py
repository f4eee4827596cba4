"""The a1a2 protocol's training half (DoRaR's evaluation scheme, docs/methods/protocols.md): for one explainer, its
maps of the training images pooled into units (computed once per method and settings), then, per
unit size, n_e and seed, fresh generators G1/G2 trained for its top-n_e units. Both are store
entries (atomic, checksummed), so an evaluation repeated or split into shards trains nothing twice.
The ``a1a2`` metric (:mod:`xai_core.metrics.units`) calls :meth:`GeneratorFitter.fit` per seed."""
from __future__ import annotations

from functools import cached_property
from typing import Any

import torch

from .. import rng, units
from ..methods.base import Explainer
from ..methods.reconstruction import (
    MLP_MAX_VALUES, QUICK_LARGE, GeneratorRecipe, PixelNoise, Reconstructor, make_generator, train_generators,
)
from ..progress import Progress, no_progress
from .context import Context
from .training_maps import TrainingMaps

VERSION = 1  # bump when the recipe's code changes: old generators stop matching
SEEDS = {"smoke": 2, "quick": 3, "paper": 5}
EPOCHS = {"smoke": 2, "quick": 30, "paper": 80}
TRAIN_IMAGES: dict[str, int | None] = {"smoke": 200, "quick": 4000, "paper": None}
NOISE_IMAGES = 5000


class GeneratorFitter:
    """Fits (or loads) G1/G2 for ``explainer``'s unit selections on ``ctx``'s training split."""

    def __init__(self, ctx: Context, explainer: Explainer, block: int = 1, progress: Progress = no_progress) -> None:
        self.ctx, self.explainer, self.block, self.progress = ctx, explainer, block, progress
        self.default_seeds = SEEDS.get(ctx.preset, 3)

    def defaults(self) -> dict[str, Any]:
        """The preset's epochs and training images (the quick preset's scaled down on large images)."""
        preset, info = self.ctx.preset, self.ctx.info
        out = {"epochs": EPOCHS.get(preset, 30), "train_images": TRAIN_IMAGES.get(preset)}
        if preset == "quick" and info.channels * info.image_size ** 2 > MLP_MAX_VALUES:
            out.update(QUICK_LARGE)
        return out

    @cached_property
    def maps(self) -> TrainingMaps:
        return TrainingMaps(self.ctx, self.explainer, self.block, self.progress, "a1a2")

    @cached_property
    def noise(self) -> PixelNoise:
        return PixelNoise.from_dataset(self.maps.train, NOISE_IMAGES)

    def fit(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
            train_images: int | None = None) -> Reconstructor:
        """G1/G2 for the explainer's top-``n_e`` units of ``size`` px, trained with ``seed``."""
        defaults = self.defaults()
        recipe = GeneratorRecipe(epochs=int(epochs or defaults["epochs"]))
        limit = train_images or defaults["train_images"]
        n = len(self.maps.train) if limit is None else min(len(self.maps.train), int(limit))
        spec = {**self.maps.spec, "units": size, "n_e": n_e, "seed_generators": seed, "recipe": recipe.__dict__, "n": n,
                "version": VERSION}
        payload = self.ctx.store.get_or_create(
            "generators", spec, lambda: self._train_generators(size, n_e, seed, recipe, n))
        c, h = self.ctx.info.channels, self.ctx.info.image_size
        with rng.building():
            g1, g2 = (make_generator(recipe.kind, c, h) for _ in range(2))
        g1.load_state_dict(payload["g1"])
        g2.load_state_dict(payload["g2"])
        dev = self.ctx.device
        return Reconstructor(g1.to(dev).eval().requires_grad_(False), g2.to(dev).eval().requires_grad_(False),
                             self.noise, seed, payload["history"])

    def _train_generators(self, size: int, n_e: int, seed: int, recipe: GeneratorRecipe, n: int) -> dict[str, Any]:
        keep = units.to_pixels(units.top_units(self.maps.unit_scores(size, n), n_e), size)
        fitted = train_generators(self.ctx.black_box, lambda idx: self.maps.train.batch(idx.tolist()).x, keep, self.noise,
                                  recipe, seed=seed, device=self.ctx.device, progress=self.progress)
        return {"g1": _cpu(fitted.g1), "g2": _cpu(fitted.g2), "history": fitted.history}

def _cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
