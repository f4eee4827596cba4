"""An explainer's maps of the first training images, pooled into units and cached: what the
protocols that train on a method's own selections start from (DoRaR's a1a2 generators, MEED's
fs_fu approximators). They explain the class the evaluation explains (the black box's top-1 by
default, the label with ``target="label"``), and the store keys them on it."""
from __future__ import annotations

from functools import cached_property
from typing import Any

import torch

from .. import units
from ..data import get_dataset
from ..data.base import ImageDataset
from ..methods.base import Explainer, model_fingerprint
from ..progress import Progress, no_progress
from ..resolution import block_average
from .context import LABEL, Context, check_target, explained_class, targets_for

EXPLAIN_BATCH = 64


class TrainingMaps:
    """``explainer``'s maps of ``ctx``'s training images (``block``: averaged over block×block
    pixels first, as the scored maps are), pooled per unit and cached in the store (kind "unit_scores").
    ``target``: the class explained (:data:`~.context.TARGETS`); None: the enclosing
    :func:`~.context.explaining` block's (the running evaluation shard's; top-1 outside any)."""

    def __init__(self, ctx: Context, explainer: Explainer, block: int = 1, progress: Progress = no_progress,
                 purpose: str = "", target: str | None = None) -> None:
        self.ctx, self.explainer, self.block, self.progress, self.purpose = ctx, explainer, block, progress, purpose
        self.target = explained_class() if target is None else check_target(target)

    @cached_property
    def train(self) -> ImageDataset:
        return get_dataset(self.ctx.dataset, "train", self.ctx.preset, store=self.ctx.store)

    @cached_property
    def spec(self) -> dict[str, Any]:
        """What the maps depend on (and what anything trained on them depends on); maps of the label
        keep the key they had before the class explained was a choice."""
        e = self.explainer
        return {"black_box": model_fingerprint(self.ctx.black_box), "data": self.ctx.info.spec(), "method": e.name,
                "config": e.config.as_dict(), "seed": e.seed, "method_version": getattr(e, "version", 0),
                "block": self.block, **({} if self.target == LABEL else {"target": self.target})}

    def unit_scores(self, size: int, n: int, how: str = "mean") -> torch.Tensor:
        """N×h×w unit scores (the mean, or with ``how="max"`` the maximum, over each size×size unit)
        of the maps of the first ``n`` training images (cached; at size 1 both are the pixel scores
        and share one entry)."""
        def explain() -> dict[str, Any]:
            out = []
            for i in range(0, n, EXPLAIN_BATCH):
                batch = self.train.batch(list(range(i, min(n, i + EXPLAIN_BATCH)))).to(self.ctx.device)
                target = targets_for(self.ctx.black_box, batch.x, batch.y, self.target)
                scores = self.explainer.explain(batch.x, target, batch.masks).scores
                out.append(units.pool(block_average(scores, self.block), size, how).cpu())
                self.progress(min(n, i + EXPLAIN_BATCH), n,
                              f"{self.explainer.name}: explaining training images for {self.purpose}")
            return {"scores": torch.cat(out)}

        spec = {**self.spec, "units": size, "n": n}
        if size > 1 and how != "mean":  # mean-pooled entries keep the key they had before max pooling existed
            spec["pool"] = how
        return self.ctx.store.get_or_create("unit_scores", spec, explain)["scores"]
