"""The ground-truth mask as an attribution: the upper reference on datasets that have one."""
from __future__ import annotations

import torch

from .base import Capabilities, Explainer, Explanation, Paper, register


@register
class GroundTruth(Explainer):
    """Ground-truth signal mask (upper reference; datasets with masks only)."""

    name = "ground_truth"
    paper = Paper(
        "Ground truth (reference)",
        "—",
        "The true object mask, where the dataset has one: the best any localisation metric can do.")
    caps = Capabilities(reference=True, needs_ground_truth=True, label_free=True)

    def _explain(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> Explanation:
        assert masks is not None  # the base refuses calls without ground truth
        return Explanation(masks.float())
