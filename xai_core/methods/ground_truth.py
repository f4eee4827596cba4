"""The ground-truth mask as an attribution: the upper reference on datasets that have one."""
from __future__ import annotations

import torch

from .base import Explainer, register


@register
class GroundTruth(Explainer):
    """Ground-truth signal mask (upper reference; datasets with masks only)."""

    name = "ground_truth"
    kind = "reference"
    needs_ground_truth = True

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None, progress) -> torch.Tensor:
        assert masks is not None
        return masks.float()
