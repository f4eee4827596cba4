"""Pixel-space wrapper: every model in the zoo takes B×C×H×W images in [0, 1] and normalises
them itself, so methods and metrics never need to know a dataset's mean/std.

Why a wrapper and not a transform in the data pipeline: attribution methods differentiate
the model with respect to its *input*, fill masked pixels with a pixel-space colour and
compare images across datasets; keeping normalisation inside the model makes all of that
happen in one space (pixels) for every dataset and model.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InvalidInputError


class Normalized(nn.Module):
    """``Normalized(net, mean, std)(x) = net((x - mean) / std)``; returns ``net``'s logits.

    ``mean``/``std`` are per-channel buffers (shape 1×C×1×1, saved in the state dict); the
    wrapped network stays reachable as ``.net``. ``cam_layer`` is the dotted name (relative to
    *this* module, so ``model.get_submodule(model.cam_layer)`` works) of the module whose output
    Grad-CAM should use (the last convolutional block), or None when there is none to hook
    (a TorchScript user model). ``iba_layer`` names the default information-bottleneck layer
    (IBA / InputIBA): a deep layer that still keeps spatial resolution, about 1/8 of the input
    like the paper's VGG16 conv4_1; it defaults to ``cam_layer``. ``arch`` names the architecture for display and caching.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        cam_layer: str | None = None,
        iba_layer: str | None = None,
        arch: str = "custom",
    ) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.net = net
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))
        self.cam_layer = cam_layer
        self.iba_layer = iba_layer or cam_layer
        self.arch = arch

    @property
    def channels(self) -> int:
        return int(self.mean.shape[1])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel space [0, 1] → the network's input space."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise InvalidInputError(
                f"{self.arch} expects B×{self.channels}×H×W images, got shape {tuple(x.shape)}"
            )
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, cam_layer={self.cam_layer!r}"
