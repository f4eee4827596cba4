"""The a1a2 protocol's training half (DoRaR's evaluation scheme, docs/methods/protocols.md): for one explainer, its
maps of the training images pooled into units (computed once per method and settings), then, per
unit size, n_e and seed, fresh generators G1/G2 trained for its top-n_e units. Both are store
entries (atomic, checksummed), so an evaluation repeated or split into shards trains nothing twice.
The ``a1a2`` metric (:mod:`xai_core.metrics.units`) calls :meth:`GeneratorFitter.fit` per seed, and for its
controls :meth:`~GeneratorFitter.fit_position` (a generator that sees only where the method's units are) and
:meth:`~GeneratorFitter.fit_random` (G1/G2 on random units: no explainer in its key, so one entry per seed serves
every method)."""
from __future__ import annotations

from functools import cached_property
from typing import Any

import torch

from .. import rng, units
from ..methods.base import Explainer
from ..methods.reconstruction import (
    MLP_MAX_VALUES, QUICK_LARGE, GeneratorRecipe, LayoutReconstructor, PixelNoise, Reconstructor, make_generator,
    random_units, train_generators, train_position_generator,
)
from ..progress import Progress, no_progress
from .context import Context
from .training_maps import TrainingMaps

VERSION = 2  # bump when the recipe's code changes: old generators stop matching (2: CE / ln 10)
SEEDS = {"smoke": 2, "quick": 3, "paper": 5}
EPOCHS = {"smoke": 2, "quick": 30, "paper": 80}
TRAIN_IMAGES: dict[str, int | None] = {"smoke": 200, "quick": 4000, "paper": None}
NOISE_IMAGES = 5000
RANDOM_UNITS_SEED = 1_000_003  # the random control's units come from seed + this (apart from the training stream)


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

    def _setup(self, epochs: int | None, train_images: int | None) -> tuple[GeneratorRecipe, int]:
        defaults = self.defaults()
        recipe = GeneratorRecipe(epochs=int(epochs or defaults["epochs"]))
        limit = train_images or defaults["train_images"]
        n = len(self.maps.train) if limit is None else min(len(self.maps.train), int(limit))
        return recipe, n

    def _spec(self, base: dict[str, Any], size: int, n_e: int, seed: int, recipe: GeneratorRecipe,
              n: int) -> dict[str, Any]:
        return {**base, "units": size, "n_e": n_e, "seed_generators": seed, "recipe": recipe.__dict__, "n": n,
                "version": VERSION}

    def _load(self, recipe: GeneratorRecipe, states: list[dict[str, torch.Tensor]]) -> list[torch.nn.Module]:
        c, h = self.ctx.info.channels, self.ctx.info.image_size
        with rng.building():
            gens = [make_generator(recipe.kind, c, h) for _ in states]
        for g, state in zip(gens, states):
            g.load_state_dict(state)
        return [g.to(self.ctx.device).eval().requires_grad_(False) for g in gens]

    def _images(self, idx: torch.Tensor) -> torch.Tensor:
        return self.maps.train.batch(idx.tolist()).x

    def _selection(self, size: int, n_e: int, n: int) -> torch.Tensor:
        return units.to_pixels(units.top_units(self.maps.unit_scores(size, n), n_e), size)

    def fit(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
            train_images: int | None = None) -> Reconstructor:
        """G1/G2 for the explainer's top-``n_e`` units of ``size`` px, trained with ``seed``."""
        recipe, n = self._setup(epochs, train_images)
        payload = self.ctx.store.get_or_create(
            "generators", self._spec(self.maps.spec, size, n_e, seed, recipe, n),
            lambda: self._pair(self._selection(size, n_e, n), seed, recipe))
        g1, g2 = self._load(recipe, [payload["g1"], payload["g2"]])
        return Reconstructor(g1, g2, self.noise, seed, payload["history"])

    def fit_random(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
                   train_images: int | None = None) -> Reconstructor:
        """The random control: G1/G2 trained (``seed``) on ``n_e`` random units of ``size`` px per training image,
        drawn from seed + :data:`RANDOM_UNITS_SEED`; keyed on the black box and data only (shared by methods)."""
        recipe, n = self._setup(epochs, train_images)
        base = {k: self.maps.spec[k] for k in ("black_box", "data")}
        grid = units.grid(self.ctx.info.image_size, size)

        def train() -> dict[str, Any]:
            picked = random_units(n, grid, n_e, torch.Generator().manual_seed(seed + RANDOM_UNITS_SEED))
            return self._pair(units.to_pixels(picked, size), seed, recipe)

        payload = self.ctx.store.get_or_create(
            "generators", {**self._spec(base, size, n_e, seed, recipe, n), "control": "random"}, train)
        g1, g2 = self._load(recipe, [payload["g1"], payload["g2"]])
        return Reconstructor(g1, g2, self.noise, seed, payload["history"])

    def fit_position(self, size: int, n_e: int, seed: int, *, epochs: int | None = None,
                     train_images: int | None = None) -> LayoutReconstructor:
        """The position control: one G trained (``seed``) on the layout of the explainer's top-``n_e`` units alone
        (the binary mask, no pixels) with G1's objective."""
        recipe, n = self._setup(epochs, train_images)

        def train() -> dict[str, Any]:
            fitted = train_position_generator(self.ctx.black_box, self._images, self._selection(size, n_e, n),
                                              self.noise, recipe, seed=seed, device=self.ctx.device,
                                              progress=self.progress)
            return {"g": _cpu(fitted.g), "history": fitted.history}

        payload = self.ctx.store.get_or_create(
            "generators", {**self._spec(self.maps.spec, size, n_e, seed, recipe, n), "control": "position"}, train)
        (g,) = self._load(recipe, [payload["g"]])
        return LayoutReconstructor(g, self.ctx.info.channels, seed, payload["history"])

    def _pair(self, keep: torch.Tensor, seed: int, recipe: GeneratorRecipe) -> dict[str, Any]:
        fitted = train_generators(self.ctx.black_box, self._images, keep, self.noise, recipe, seed=seed,
                                  device=self.ctx.device, progress=self.progress)
        return {"g1": _cpu(fitted.g1), "g2": _cpu(fitted.g2), "history": fitted.history}


def _cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
