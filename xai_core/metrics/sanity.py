"""Cascading parameter randomisation (Adebayo et al., 2018), as InputIBA §4.3 runs it for every
method: re-initialise the model's parametrised layers from the output towards the input, explain
the same images again after each step, and compare each map with the original by SSIM. A map
that explains the model changes (SSIM falls towards 0); one that ignores the weights stays at 1.

Layers are the modules with parameters of their own (Conv, Linear, BatchNorm, …) in registration
order (``named_modules``), which is the forward order for sequential networks; the cascade
randomises the last ``k`` of them. Layer ``j`` (counted from the top) is always re-drawn from
the seed ``seed + j``, under a forked RNG, so the global random state is untouched and every
step count sees the same weights. Registered here as ``sanity``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from skimage.metrics import structural_similarity
from torch import nn

from .. import rng
from ..errors import InvalidInputError
from ..progress import Progress, no_progress
from .base import X_KEY, EvalInputs, Metric, register_metric
from .localisation import minmax_normalise

NORM_LAYERS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
DEFAULT_SANITY_STEPS = 6  # evaluations, including the original model (0 layers randomised)
SSIM_WINDOW = 7  # scikit-image's default; smaller (odd) for images under 7 px


@dataclass
class SanityResult:
    """SSIM between the original map and the map after each cascade step, per image."""

    fractions: torch.Tensor  # T float: k / L, share of parametrised layers randomised
    counts: torch.Tensor  # T long: k, layers randomised (from the top)
    layers: list[str]  # the L parametrised layers, input → output (randomised from the end)
    ssim: torch.Tensor  # B×T float64 (NaN when the method cannot re-explain)


def parametrised_layers(model: nn.Module, include_norm: bool = True) -> list[tuple[str, nn.Module]]:
    """Modules with parameters of their own, in registration order (input → output for
    sequential networks). ``include_norm=False`` leaves normalisation layers out (they keep
    their trained values)."""
    out = []
    for name, module in model.named_modules():
        if next(module.parameters(recurse=False), None) is None:
            continue
        if not include_norm and isinstance(module, NORM_LAYERS):
            continue
        out.append((name, module))
    return out


def cascade_counts(n_layers: int, steps: int = DEFAULT_SANITY_STEPS) -> list[int]:
    """Layers randomised at each evaluation: 0 (the original), then ``steps − 1`` counts spread
    evenly over 1 … ``n_layers`` (rounded, duplicates dropped), always ending at ``n_layers``."""
    if steps < 2:
        raise InvalidInputError(f"steps must be at least 2 (the original and all layers), got {steps}")
    if n_layers <= 0:
        return [0]
    if steps == 2:
        return [0, n_layers]
    spread = torch.round(torch.linspace(1, n_layers, steps - 1, dtype=torch.float64)).long().tolist()
    return [0] + sorted(set(spread))


def randomise_layer(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters in place from ``seed``, global RNG untouched:
    ``reset_parameters()`` where the module has one (BatchNorm: γ = 1, β = 0 and running
    statistics reset), else each parameter re-drawn from N(0, σ²), σ its own standard deviation
    (1 for single values)."""
    cuda = sorted({p.device.index or 0 for p in module.parameters(recurse=False) if p.is_cuda})
    with rng.building(), torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.random.default_generator.manual_seed(seed)  # only the generators forked here
        for i in cuda:
            torch.cuda.default_generators[i].manual_seed(seed)
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
            return
        for p in module.parameters(recurse=False):
            sd = float(p.std()) if p.numel() > 1 else 1.0
            p.normal_(0.0, sd if sd > 0 else 1.0)


def cascade(
    model: nn.Module, counts: list[int], *, include_norm: bool = True, seed: int = 0
) -> Iterator[tuple[int, nn.Module]]:
    """Yield ``(k, copy)`` for each ``k`` in ``counts`` (ascending): a deep copy of ``model`` whose
    top ``k`` parametrised layers are re-initialised (cumulatively; ``model`` is not touched)."""
    randomised = copy.deepcopy(model)
    names = [n for n, _ in parametrised_layers(model, include_norm)]
    modules = dict(randomised.named_modules())
    top_down = [modules[n] for n in reversed(names)]
    done = 0
    for k in counts:
        for j in range(done, k):
            randomise_layer(top_down[j], seed + j)
        done = max(done, k)
        yield k, randomised


def ssim_maps(a: torch.Tensor, b: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """SSIM per image (B float64) between B×H×W maps, each first taken in absolute value (if
    ``absolute``) and min-max normalised to [0, 1] on its own; scikit-image's
    ``structural_similarity`` with ``data_range=1`` and a 7×7 uniform window (the largest odd
    window that fits for smaller images; NaN under 3 px)."""
    if a.shape != b.shape or a.ndim != 3:
        raise InvalidInputError(f"maps must both be B×H×W, got {tuple(a.shape)} and {tuple(b.shape)}")
    prep = (lambda s: s.detach().abs()) if absolute else (lambda s: s.detach())
    na = minmax_normalise(prep(a)).cpu().numpy()
    nb = minmax_normalise(prep(b)).cpu().numpy()
    win = min(SSIM_WINDOW, *a.shape[1:])
    win = win if win % 2 == 1 else win - 1
    if win < 3:
        return torch.full((a.shape[0],), math.nan, dtype=torch.float64)
    return torch.tensor([structural_similarity(na[i], nb[i], data_range=1.0, win_size=win)
                         for i in range(a.shape[0])], dtype=torch.float64)


def sanity_check(
    model: nn.Module,
    scores: torch.Tensor,
    reexplain: Callable[[nn.Module], torch.Tensor] | None,
    steps: int = DEFAULT_SANITY_STEPS,
    *,
    include_norm: bool = True,
    absolute: bool = True,
    seed: int = 0,
    progress: Progress = no_progress,
) -> SanityResult:
    """Cascading randomisation curve per image: SSIM between ``scores`` (the map of ``model``)
    and ``reexplain(randomised model)`` after each :func:`cascade_counts` step. Step 0 compares
    the original map with itself (1, or NaN below 3 px). ``reexplain=None`` (the method cannot be
    re-run on another model) gives NaN everywhere."""
    layers = parametrised_layers(model, include_norm)
    n_layers = len(layers)
    counts = cascade_counts(n_layers, steps)
    b = scores.shape[0]
    out = torch.full((b, max(len(counts), 2)), math.nan, dtype=torch.float64)
    fractions = (torch.tensor(counts, dtype=torch.float64) / n_layers if n_layers
                 else torch.tensor([0.0, 1.0], dtype=torch.float64))  # no layers: an all-NaN curve
    if reexplain is not None and n_layers:
        for i, (k, randomised) in enumerate(cascade(model, counts, include_norm=include_norm, seed=seed)):
            progress(i, len(counts), f"sanity: top {k}/{n_layers} layers randomised")
            other = scores if k == 0 else reexplain(randomised).to(scores.device)
            if other.shape != scores.shape:
                raise InvalidInputError(f"re-explained maps {tuple(other.shape)} != original {tuple(scores.shape)}")
            out[:, i] = ssim_maps(scores, other, absolute)
        progress(len(counts), len(counts), "sanity: done")
    return SanityResult(fractions, torch.tensor(counts, dtype=torch.long), [n for n, _ in layers],
                        out[:, : len(fractions)])


# -- registration -------------------------------------------------------------------------------
def _sanity(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    r = sanity_check(inputs.model, inputs.scores, inputs.reexplain, p["steps"], include_norm=p["include_norm"],
                     absolute=p["absolute"], seed=p["seed"], progress=inputs.progress)
    return {X_KEY: r.fractions, "ssim": r.ssim}


register_metric(Metric(
    name="sanity", kind="curve", needs_ground_truth=False, fn=_sanity, primary="ssim",
    x_label="fraction of parametrised layers randomised (output layer first)", higher_is_better=False,
    description="Sanity check (cascading randomisation): SSIM of the map with the original as layers are "
                "re-initialised from the top (lower = the map depends on the weights)",
    parameters={
        "steps": DEFAULT_SANITY_STEPS,  # evaluations: 0 layers, then counts spread over 1 … L, ending at L
        "include_norm": True,  # normalisation layers count as layers (reset: weight 1, bias 0, running stats 0/1)
        "seed": 0,
        "absolute": True,  # |s| before normalising (Adebayo et al.); False keeps the sign
    },
    notes={
        "layers": "modules with parameters of their own (Conv, Linear, BatchNorm, …) in registration order "
                  "(named_modules); L = their count, x = k/L",
        "order": "cascading from the top: step k re-initialises the last k layers (output side) of a copy",
        "reinit": "reset_parameters() (PyTorch's initialisation) seeded by seed + layer index from the top; "
                  "modules without it: N(0, own std^2); global RNG untouched",
        "randomised_model": "the explained model (the black box for post-hoc methods), deep-copied",
        "normalisation": "each map min-max to [0, 1] on its own",
        "score": "SSIM with the original map: scikit-image structural_similarity, data_range=1, "
                 "7x7 uniform window (smaller odd window under 7 px); step 0 is the original itself (1)",
        "not_rerunnable": "NaN curves where the method cannot re-explain with another model (trained methods: "
                          "refitting per step is too slow; prepared explainers with custom settings)",
    },
))
