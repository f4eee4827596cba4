"""Hand-computable models and maps shared by the metric tests."""
from __future__ import annotations

import torch
from torch import nn

from xai_core.metrics import EvalInputs

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class PixelModel(nn.Module):
    """Two classes; logit of class 1 = gain·(x[c, i, j] − 0.5), class 0 = 0. Prediction: the pixel
    is brighter than 0.5. Softmax depends on that one pixel only."""

    def __init__(self, i: int = 0, j: int = 0, c: int = 0, gain: float = 1.0) -> None:
        super().__init__()
        self.i, self.j, self.c, self.gain = i, j, c, gain
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.gain * (x[:, self.c, self.i, self.j] - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], dim=1)


class MeanModel(nn.Module):
    """Logit of class 1 = gain·(mean of channel 0 − 0.5): a smooth function of every pixel."""

    def __init__(self, gain: float = 8.0) -> None:
        super().__init__()
        self.gain = gain
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.gain * (x[:, 0].mean((1, 2)) - 0.5) + self.anchor
        return torch.stack([torch.zeros_like(v), v], dim=1)


def scores_with_rank(h: int, w: int, pixel: int, rank: int) -> torch.Tensor:
    """An H×W map (distinct values) where flat pixel ``pixel`` has rank ``rank`` (0 = top)."""
    ranks = torch.arange(h * w)
    ranks[pixel], ranks[rank] = rank, pixel
    return -ranks.float().view(h, w)


def make_inputs(seed: int, masks: bool = True) -> EvalInputs:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 6, 6, generator=g)
    model = PixelModel()
    labels = model(x).argmax(1)
    return EvalInputs(
        model=model, black_box=model, x=x, labels=labels, target=labels,
        scores=torch.rand(3, 6, 6, generator=g), masks=(torch.rand(3, 6, 6, generator=g) < 0.3) if masks else None,
        fill=torch.tensor([0.2]),
    )


def linear_model(c: int = 3, h: int = 8, w: int = 8, classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, classes)).eval()


def input_times_weight(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The exact additive attribution of a linear model with a zero fill, summed over channels."""
    w = model[1].weight.detach()[target].view(x.shape)
    return (x * w).sum(1)


def gradient_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    model.eval()
    out = model(x).gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(out, x)
    return grad.abs().sum(1)
