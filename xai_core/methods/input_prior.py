"""InputIBA's input prior (docs/methods/input_iba.md, stage 2): a Wasserstein GAN per image whose generator is an input
bottleneck ``Z_G = λ_G·x + (1 − λ_G)·ε_G`` and whose "data" are samples of the feature
bottleneck ``Z*`` found by IBA. The critic sees feature maps; the learned ``λ_G`` says which
input pixels produce the informative features.

Batched: B images train B independent generators and B independent critics at once (grouped
convolutions and batched matrix products; one parameter set per image).

Settings (the paper's, Appendix D): RMSprop lr 5e-5 for both, weight clipping 0.01, the critic
updated ``critic_steps`` = 5 times per generator update, ``epochs`` = 20 over ``samples`` = 200
target samples. Critic: 3 convolutions + 2 linear layers (the authors' is far larger: ~64 M
parameters; ours is ``critic_width`` channels wide, stated in the settings).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..progress import Progress, no_progress
from .bottleneck import FeatureBottleneck, FeatureStats, input_normalisation, layer_output
from .noise import ImageNoise


class BatchedCritic(nn.Module):
    """B critics, one per image: input N×B×C×h×w feature maps, output N×B scores."""

    def __init__(self, noise: ImageNoise, channels: int, size: tuple[int, int], width: int) -> None:
        super().__init__()
        images = len(noise.generators)
        self.b, self.width = images, width
        h, w = size
        convs, self.strides, cin = [], [], channels
        for _ in range(3):  # 3×3 convolutions (no bias), stride 2 while the map is larger than 1 pixel
            convs.append(self._param(noise, (width, cin, 3, 3), cin * 9).flatten(0, 1))
            stride = 2 if min(h, w) > 1 else 1
            self.strides.append(stride)
            h, w, cin = -(-h // stride), -(-w // stride), width  # ceil: padding 1
        self.convs = nn.ParameterList([nn.Parameter(c) for c in convs])
        flat = width * h * w
        self.fc1 = nn.Parameter(self._param(noise, (flat, width), flat))
        self.fc2 = nn.Parameter(self._param(noise, (width, 1), width))

    @staticmethod
    def _param(noise: ImageNoise, shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        """B×shape weights, image b's from its own stream (PyTorch's default uniform bound)."""
        return (noise.rand(*shape) * 2 - 1) / math.sqrt(fan_in)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n = f.shape[0]
        h = f.flatten(1, 2)  # N×(B·C)×h×w: image b's channels are group b
        for weight, stride in zip(self.convs, self.strides):
            h = F.leaky_relu(F.conv2d(h, weight, stride=stride, padding=1, groups=self.b), 0.2)
        h = h.view(n, self.b, -1).transpose(0, 1)  # B×N×flat
        h = F.leaky_relu(torch.bmm(h, self.fc1), 0.2)
        return torch.bmm(h, self.fc2)[..., 0].transpose(0, 1)  # N×B

    def clip_(self, c: float) -> None:
        with torch.no_grad():
            for p in self.parameters():
                p.clamp_(-c, c)


@dataclass
class InputPrior:
    """The learned input bottleneck per image."""

    lam: torch.Tensor  # B×1×H×W, λ_G
    init: torch.Tensor  # B×1×H×W, λ_G before training (from the feature capacity)
    history: list[dict[str, float]]


def initial_mask(capacity: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """λ_G's start: the feature capacity summed over channels, resized to the input and scaled to
    [0.01, 0.99] per image. (The authors feed the raw capacity, not in [0, 1], as mask logits.)"""
    cap = F.interpolate(capacity.sum(1, keepdim=True), size=size, mode="bilinear", align_corners=False)
    lo = cap.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = cap.flatten(1).amax(1).view(-1, 1, 1, 1)
    return ((cap - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.01, 0.99)


def train_input_prior(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, fb: FeatureBottleneck, stats: FeatureStats,
    *, epochs: int, samples: int, batch: int, critic_steps: int, lr: float, clip: float, critic_width: int,
    local_sigma: float, noise: ImageNoise, progress: Progress = no_progress,
) -> InputPrior:
    """Fit λ_G (and the generator noise μ_G, σ_G, in normalised input units) so that the features
    of ``Z_G`` are distributed like ``Z* = λ*·r + (1 − λ*)·ε`` (both in the layer's normalised
    units). Fresh target samples are drawn per critic step; ``samples`` sets the number of
    batches per epoch, ceil(samples / batch). One batch of fake features (without gradient)
    serves a generator update's ``critic_steps`` critic updates: the generator does not change
    between them. ``model`` is a private view and ``layer`` one of its modules (hooks go on it)."""
    b, size = len(x), tuple(x.shape[-2:])
    mean, std = input_normalisation(model, x)  # pixel = z·std + mean
    init = initial_mask(fb.capacity, size)
    alpha = torch.logit(init).clone().requires_grad_(True)
    mu = torch.zeros_like(x, requires_grad=True)
    sigma = torch.ones_like(x, requires_grad=True)
    critic = BatchedCritic(noise, fb.r.shape[1], tuple(fb.r.shape[-2:]), critic_width)
    opt_g = torch.optim.RMSprop([alpha, mu, sigma], lr=lr)
    opt_c = torch.optim.RMSprop(critic.parameters(), lr=lr)
    xn = (x - mean) / std

    def fake(grad: bool) -> torch.Tensor:  # batch×B×C×h×w, features of Z_G in normalised units
        with torch.set_grad_enabled(grad):
            lam = torch.sigmoid(alpha)
            local = xn[None] + local_sigma * noise.randn(batch, *x.shape[1:]).transpose(0, 1)
            eps = mu[None] + sigma.abs()[None] * noise.randn(batch, *x.shape[1:]).transpose(0, 1)
            z = (lam[None] * local + (1 - lam[None]) * eps).flatten(0, 1) * std + mean
            f = (layer_output(model, layer, z) - stats.mean) / stats.std
            return f.view(batch, b, *f.shape[1:])

    def real() -> torch.Tensor:
        eps = noise.randn(batch, *fb.r.shape[1:]).transpose(0, 1)
        return fb.lam[None] * fb.r[None] + (1 - fb.lam[None]) * eps

    updates = epochs * math.ceil(samples / batch)
    history = []
    for step in range(updates):
        fixed = fake(grad=False)
        for _ in range(critic_steps):
            loss_c = (critic(fixed).mean(0) - critic(real()).mean(0)).sum()
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
            critic.clip_(clip)
        loss_g = -critic(fake(grad=True)).mean(0).sum()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        history.append({"critic": -float(loss_c.detach()) / b, "generator": float(loss_g.detach()) / b})
        progress(step + 1, updates, "input prior (WGAN)", wasserstein=history[-1]["critic"])
    return InputPrior(torch.sigmoid(alpha).detach(), init, history)
