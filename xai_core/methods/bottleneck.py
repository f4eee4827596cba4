"""The per-sample information bottleneck of IBA (Schulz et al. 2020), shared by :mod:`.iba` and
:mod:`.input_iba`: feature statistics, a hook that swaps a layer's output, the per-unit KL and
the batched optimisation of the bottleneck masks (one parameter set per image, all images and
all noise samples in one forward pass).

Everything is in the layer's *normalised* units ``r = (R − μ_R) / σ_R``: the bottleneck is
``z = λ·r + (1 − λ)·ε`` with ``ε ~ N(0, 1)``, i.e. ``Z = λR + (1 − λ)ε'`` with
``ε' ~ N(μ_R, σ_R)`` as the paper writes it, and its KL against ``N(0, 1)`` is
``−log(1 − λ) + ((1 − λ)² + λ²r²) / 2 − 1/2`` per unit.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import ImageDataset
from ..errors import XAIError
from ..imaging import gaussian_blur
from ..progress import Progress, no_progress
from ..store import ArtifactStore
from ..models.views import model_view
from .base import model_fingerprint
from .noise import ImageNoise

STATS_KIND = "feature_stats"
MIN_STD = 1e-2  # units that barely vary: the prior's σ is clamped here (avoids a KL blowing up)
ACTIVE_SHARE = 0.01  # a unit is "active" when non-zero on more than 1 % of the images (IBA's threshold)


def bottleneck_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The layer to put the bottleneck on: ``name`` or the model's ``iba_layer``."""
    name = name or getattr(model, "iba_layer", None)
    if not name:
        raise XAIError("the information bottleneck needs a Python model with named layers "
                       "(user models — ONNX, torch.export, TorchScript — cannot be hooked); pick a built-in architecture")
    try:
        return name, model.get_submodule(name)
    except AttributeError:
        layers = [n for n, m in model.named_modules() if n and len(list(m.children())) > 0][:12]
        raise XAIError(f"the model has no layer {name!r}; e.g. {', '.join(layers)}") from None


def layer_choices(model: nn.Module, example: torch.Tensor, depth: int = 3) -> list[str]:
    """Named layers a bottleneck can sit on, in registration order: convolutions and blocks of
    layers at most ``depth`` levels deep whose output on ``example`` is a B×C×h×w feature map."""
    view = model_view(model)  # the hooks below stay on this private copy
    candidates = {n: m for n, m in view.named_modules()
                  if n and n.count(".") < depth and (isinstance(m, nn.Conv2d) or len(list(m.children())) > 0)}
    spatial: set[str] = set()
    for n, m in candidates.items():
        m.register_forward_hook(lambda _m, _i, out, n=n: spatial.add(n) if torch.is_tensor(out)
                                and out.ndim == 4 else None)
    with torch.no_grad():
        view(example)
    return [n for n in candidates if n in spatial]


def check_layer(model: nn.Module, name: str | None, example: torch.Tensor) -> str:
    """``name`` (or the model's default) when a bottleneck can sit there; otherwise one line
    listing the layers that can."""
    name, _ = bottleneck_layer(model, name)
    choices = layer_choices(model, example)
    if name not in choices:
        raise XAIError(f"layer {name!r} does not output a feature map, so it cannot hold a bottleneck; "
                       f"choose one of: {', '.join(choices)}")
    return name


@contextmanager
def replaced_output(layer: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Within the block, ``layer``'s output ``R`` is replaced by ``fn(R)``."""
    handle = layer.register_forward_hook(lambda _m, _i, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


class _Captured(Exception):
    def __init__(self, out: torch.Tensor) -> None:
        self.out = out


def layer_output(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's output for ``x``; the rest of the network is not run. ``model`` must be a
    private view (:func:`~xai_core.models.views.model_view`) and ``layer`` one of its modules:
    the functions below put temporary hooks on it."""
    def stop(out: torch.Tensor) -> torch.Tensor:
        raise _Captured(out)

    try:
        with replaced_output(layer, stop):
            model(x)
    except _Captured as got:
        return got.out
    raise XAIError("the bottleneck layer is not used in the model's forward pass")


def forward_with(model: nn.Module, layer: nn.Module, x: torch.Tensor, z: torch.Tensor, samples: int,
                 expand: bool) -> torch.Tensor:
    """Logits when ``layer`` outputs ``z`` ((B·samples)×…) for the B images ``x``. With ``expand``
    the layers before the bottleneck run once per image and the batch grows at the layer
    (see :func:`expands_at_layer`); otherwise the input is repeated."""
    with replaced_output(layer, lambda _r: z):
        return model(x if expand else x.repeat_interleave(samples, 0))


def expands_at_layer(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> bool:
    """Whether the batch may grow at ``layer``: true when nothing after it still uses the
    B-sized batch (no skip connection around it). Probed once on two images: expanding must
    give the same logits as repeating the input."""
    probe = torch.rand((2, *x.shape[1:]), generator=torch.Generator().manual_seed(0)).to(x.device)
    with torch.no_grad():
        z = layer_output(model, layer, probe.repeat_interleave(2, 0))
        try:
            expanded = forward_with(model, layer, probe, z, 2, expand=True)
        except RuntimeError:
            return False
        repeated = forward_with(model, layer, probe, z, 2, expand=False)
    return expanded.shape == repeated.shape and torch.allclose(expanded, repeated, rtol=1e-4, atol=1e-5)


def input_normalisation(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's input (mean, std), 1×C×1×1: normalised = (pixel − mean) / std."""
    c = x.shape[1]
    mean = getattr(model, "mean", None)
    std = getattr(model, "std", None)
    if mean is None or std is None:
        return torch.zeros(1, c, 1, 1, device=x.device), torch.ones(1, c, 1, 1, device=x.device)
    return mean.to(x.device), std.to(x.device)


# -- feature statistics ---------------------------------------------------------------------
@dataclass
class FeatureStats:
    """Per-unit statistics of a layer's output over training images (each C×h×w)."""

    mean: torch.Tensor
    std: torch.Tensor
    active: torch.Tensor  # bool: units non-zero on more than ACTIVE_SHARE of the images
    images: int

    def to(self, device: torch.device) -> "FeatureStats":
        return FeatureStats(self.mean.to(device), self.std.to(device), self.active.to(device), self.images)


def _augmented(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A horizontally flipped, shifted copy (up to 1/8 of the side): used only when the train split
    has fewer images than the statistics ask for (e.g. the 32 ``natural`` photos)."""
    h, w = x.shape[-2:]
    dy, dx = (int(v) for v in torch.randint(-(h // 8), h // 8 + 1, (2,), generator=gen))
    return torch.roll(x.flip(-1), shifts=(dy, dx), dims=(-2, -1))


def estimate_stats(
    model: nn.Module, layer: nn.Module, data: ImageDataset, n: int, device: torch.device,
    seed: int = 0, batch_size: int = 64, progress: Progress = no_progress,
) -> FeatureStats:
    """Mean, std and activity of ``layer``'s units over ``n`` training images (cycling through
    flipped, shifted copies when the split is smaller than ``n``)."""
    gen = torch.Generator().manual_seed(seed)
    sums: list[torch.Tensor] = []  # Σr, Σr², #(r ≠ 0) per unit
    seen, epoch = 0, 0
    with torch.no_grad():
        while seen < n:
            for batch in data.loader(batch_size=batch_size):
                x = batch.x[: n - seen]
                r = layer_output(model, layer, (_augmented(x, gen) if epoch else x).to(device)).double()
                parts = [r.sum(0), (r * r).sum(0), (r != 0).sum(0).double()]
                sums = parts if not sums else [a + b for a, b in zip(sums, parts)]
                seen += len(x)
                progress(seen, n, "feature statistics")
                if seen >= n:
                    break
            epoch += 1
    mean, mean_sq, active = (t / seen for t in sums)
    std = (mean_sq - mean**2).clamp_min(0).sqrt()
    return FeatureStats(mean.float(), std.float().clamp_min(MIN_STD), active > ACTIVE_SHARE, seen)


def cached_stats(
    model: nn.Module, layer_name: str, data: ImageDataset, store: ArtifactStore, n: int,
    device: torch.device, seed: int = 0, progress: Progress = no_progress,
) -> FeatureStats:
    """:func:`estimate_stats`, computed once per (model weights, layer, dataset, n, seed) and cached."""
    spec = {"model": model_fingerprint(model), "layer": layer_name, "data": data.info.spec(), "n": n,
            "seed": seed, "version": 1}
    def build() -> dict[str, Any]:
        view = model_view(model).to(device)
        s = estimate_stats(view, view.get_submodule(layer_name), data, n, device, seed, progress=progress)
        return {"mean": s.mean.cpu(), "std": s.std.cpu(), "active": s.active.cpu(), "images": s.images}

    p = store.get_or_create(STATS_KIND, spec, build)
    return FeatureStats(p["mean"], p["std"], p["active"], int(p["images"])).to(device)


# -- the bottleneck --------------------------------------------------------------------------
def smooth(lam: torch.Tensor, sigma: float) -> torch.Tensor:
    """IBA smooths the mask with a Gaussian (σ in the mask's own pixels) per channel."""
    return gaussian_blur(lam, sigma) if sigma > 0 else lam


def feature_kl(lam: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """KL(N(λr, (1−λ)²) ‖ N(0, 1)) per unit, in nats (``r`` in normalised units)."""
    one_minus = (1 - lam).clamp_min(1e-6)
    return -torch.log(one_minus) + (one_minus**2 + (lam * r) ** 2) / 2 - 0.5


@dataclass
class FeatureBottleneck:
    """Result of IBA on a feature layer for B images."""

    lam: torch.Tensor  # B×C×h×w, the smoothed mask λ*
    capacity: torch.Tensor  # B×C×h×w, per-unit KL in nats (0 on inactive units)
    r: torch.Tensor  # B×C×h×w, the images' features in normalised units
    history: list[float]


def optimise_feature_bottleneck(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor, stats: FeatureStats, *,
    beta: float, steps: int, lr: float, samples: int, sigma: float, init: float, noise: ImageNoise,
    expand: bool = False, progress: Progress = no_progress, label: str = "IBA on features",
) -> FeatureBottleneck:
    """IBA: per image, ``min_α CE(target) + β·mean KL`` with Adam, ``samples`` noise draws a step.
    Each image's loss is its own (summed over images), so batching does not change a mask's path."""
    b = len(x)
    with torch.no_grad():
        r = (layer_output(model, layer, x) - stats.mean) / stats.std
    alpha = torch.full_like(r, init, requires_grad=True)
    opt = torch.optim.Adam([alpha], lr=lr)
    tgt = target.repeat_interleave(samples)
    history = []
    for step in range(steps):
        lam = smooth(torch.sigmoid(alpha), sigma)
        eps = noise.randn(samples, *r.shape[1:])
        z = (lam[:, None] * r[:, None] + (1 - lam[:, None]) * eps).flatten(0, 1) * stats.std + stats.mean
        ce = F.cross_entropy(forward_with(model, layer, x, z, samples, expand), tgt, reduction="none").view(b, samples)
        kl = feature_kl(lam, r) * stats.active
        loss = ce.mean(1) + beta * kl.flatten(1).mean(1)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
        history.append(float(loss.detach().mean()))
        progress(step + 1, steps, label, loss=history[-1])
    with torch.no_grad():
        lam = smooth(torch.sigmoid(alpha), sigma)
        capacity = feature_kl(lam, r) * stats.active
    return FeatureBottleneck(lam.detach(), capacity.detach(), r, history)


def capacity_map(capacity: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """IBA's attribution: per-unit capacity summed over channels, in bits, resized to the input
    (bilinear) — B×H×W."""
    bits = capacity.sum(1, keepdim=True) / math.log(2)
    return F.interpolate(bits, size=size, mode="bilinear", align_corners=False)[:, 0]
