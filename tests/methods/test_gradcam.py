"""Grad-CAM follows the evidence a layer carries."""
from __future__ import annotations

import torch

from .helpers import make


def test_gradcam_is_nonnegative_and_follows_evidence(tiny_info):
    """A model whose class-0 logit is the mean brightness of the top-left quadrant: CAM lights up there."""

    class Split(torch.nn.Module):
        """Two feature channels: brightness inside / outside the top-left quadrant."""

        def forward(self, x):
            q = torch.zeros_like(x[:, :1])
            q[..., :6, :6] = 1
            b = x.mean(1, keepdim=True)
            return torch.cat([b * q, b * (1 - q)], 1)

    class Quadrant(torch.nn.Module):
        cam_layer = "split"

        def __init__(self):
            super().__init__()
            self.split = Split()

        def forward(self, x):
            return self.split(x).mean((2, 3))

    x = torch.rand(2, 3, 12, 12)
    cam = make("gradcam", Quadrant().eval(), tiny_info).explain(x, torch.tensor([0, 0])).scores
    assert (cam >= 0).all()
    assert cam[:, :5, :5].mean() > 5 * cam[:, 7:, 7:].mean()
