"""Helpers shared by the metrics that push perturbed images through a model (perturbation,
sensitivity-n, fidelity removal): input checks, fills, and the forward over chunks of images sized for throughput
(:mod:`xai_core.chunks`): chunks change the speed, not the metric's arithmetic (each image on
its own; only a model's kernels may round differently by batch size)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from torch import nn

from ..chunks import CPU_MAX_ITEMS, PASS_VALUES, chunk_size, run_chunked
from ..errors import InvalidInputError
from ..models.inference import eval_mode
from ..progress import Progress

Fill = float | Sequence[float] | torch.Tensor

#: what ``batch_size=None`` means, as :meth:`Metric.describe` prints it
BATCH_SIZE_AUTO = (f"auto: ≈2^{round(math.log2(PASS_VALUES['cpu']))} input values per pass on CPU "
                   f"(at most {CPU_MAX_ITEMS} images), 2^{round(math.log2(PASS_VALUES['cuda']))} on CUDA")


def as_fill(fill: Fill, x: torch.Tensor) -> torch.Tensor:
    """A fill broadcastable to ``x`` (B×C×H×W), on ``x``'s device and dtype: a number, a per-channel
    colour (C), or a C×H×W / B×C×H×W image. Batch dimension kept at 1 when shared."""
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    b, c, h, w = x.shape
    if f.ndim == 0:
        return f.view(1, 1, 1, 1).expand(1, c, 1, 1)
    if f.ndim == 1:
        if f.shape[0] not in (1, c):
            raise InvalidInputError(f"fill has {f.shape[0]} channels, the images have {c}")
        return f.view(1, -1, 1, 1).expand(1, c, 1, 1)
    if f.ndim == 3:
        f = f.unsqueeze(0)
    if f.ndim != 4 or f.shape[0] not in (1, b) or f.shape[1] not in (1, c) or f.shape[2:] not in ((1, 1), (h, w)):
        raise InvalidInputError(f"fill of shape {tuple(f.shape)} does not match images {tuple(x.shape)}")
    return f


def check_inputs(x: torch.Tensor, scores: torch.Tensor, *per_image: torch.Tensor) -> None:
    """Images B×C×H×W, scores B×H×W and one label/target per image, else InvalidInputError."""
    if x.ndim != 4:
        raise InvalidInputError(f"images must be B×C×H×W, got shape {tuple(x.shape)}")
    if scores.shape != (x.shape[0], *x.shape[2:]):
        raise InvalidInputError(f"scores {tuple(scores.shape)} do not match images {tuple(x.shape)}")
    for t in per_image:
        if t.shape != (x.shape[0],):
            raise InvalidInputError(f"expected {x.shape[0]} labels/targets, got shape {tuple(t.shape)}")


def rows(t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``t[b]``, or ``t`` itself when it is shared by every image (leading dimension 1)."""
    return t if t.shape[0] == 1 else t[b]


def images_per_pass(batch_size: int | None, x: torch.Tensor) -> int:
    """``batch_size`` when given, else :func:`~xai_core.chunks.chunk_size` for one of ``x``'s
    images on its device."""
    if batch_size is not None:
        return max(1, int(batch_size))
    return chunk_size(x[0].numel(), x.device)


def forward_chunked(fn: Callable[[torch.Tensor], torch.Tensor], n: int, size: int, device: torch.device,
                    done: Callable[[int], None] | None = None) -> torch.Tensor:
    """``fn(arange(i, j))`` over the chunks ``[i, j)`` of ``range(n)``, ``size`` rows each
    (:func:`run_chunked`: halved on CUDA out-of-memory), concatenated: n float32 values."""
    parts = run_chunked(lambda i, j: fn(torch.arange(i, j, device=device)).float(), n, size, done)
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.float32, device=device)


def run_steps(
    model: nn.Module,
    top: torch.Tensor,
    rest: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: Progress,
    message: str,
) -> torch.Tensor:
    """Evaluate image (b, t) = ``top`` where rank_b < counts[t], else ``rest``, for every image b
    and step t; ``reduce(logits, b)`` turns each forward's logits into one value per image.
    Returns B×T. Pairs are taken image-major, ``batch_size`` per forward."""
    b_n, h, w = ranks.shape
    t_n = counts.shape[0]
    flat_ranks = ranks.reshape(b_n, -1)
    total = b_n * t_n

    def forward(idx: torch.Tensor) -> torch.Tensor:
        b, t = idx // t_n, idx % t_n
        sel = (flat_ranks[b] < counts[t].unsqueeze(1)).view(-1, 1, h, w)
        return reduce(model(torch.where(sel, rows(top, b), rows(rest, b))), b)

    with torch.inference_mode(), eval_mode(model):
        out = forward_chunked(forward, total, batch_size, ranks.device, lambda done: progress(done, total, message))
    return out.view(b_n, t_n)
