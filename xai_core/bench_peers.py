"""``bench --sections peers``: the same model, images and maps through our code and through the peers a
user would pick for speed alone, called directly: Captum (Saliency, IntegratedGradients,
NoiseTunnel(Saliency), LayerGradCam) and Quantus (PixelFlipping; RelevanceMassAccuracy where the
dataset has masks). Each pair runs interleaved (ours, peer, ours, peer …) after one warm-up each;
the median of the rounds (at least ``repeats``; more, up to 50, while a pair's rounds took under 10 s) is
reported with the ratio ours/peer and the quartiles of its round-by-round values (in wall seconds, and in
this process's CPU seconds, which other work on a shared machine distorts less), the model's own batched forward
throughput (the limit a perturbation metric can reach) and how far the two sides agree.

Settings are matched, never tuned for either side: IG from the same mean-colour baseline with the same
Gauss-Legendre steps, SmoothGrad with the same σ and samples, both with the same images per pass as
ours (Captum's defaults would put every copy of every image in one pass); Grad-CAM on the same layer.
SmoothGrad's maps differ by their noise (ours is seeded per image, Captum draws from the global
generator), so its agreement is below 1 by design. Deletion and Pixel-Flipping see the same map as
its rank (our tie rule, so both remove the same pixels in the same order), the same fill (the
dataset mean colour: a per-feature baseline in Quantus' replacement function) and the same pixels per
step; Quantus needs a stride that divides H·W, so both take the whole-pixel stride nearest to our
default 51 evaluations, and ours evaluates the unperturbed image too (one more forward per image,
counted). Speed lives here, not in tests; Quantus is a development dependency (requirements-dev.txt).
"""
from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import services
from .bench_timing import timed
from .device import describe_device
from .errors import MissingDataError, XAIError
from .methods.base import Explainer
from .methods.captum_base import fill_colour
from .metrics.localisation import mass_in_signal
from .metrics.perturbation import DEFAULT_STEPS, deletion
from .metrics.perturbing import images_per_pass
from .models.inference import eval_mode
from .progress import Progress, no_progress
from .ranking import pixel_ranks

#: image side → the dataset (and so the model) that size is timed on
SIZES = {64: "hard_mnist", 224: "natural"}
QUANTUS_BATCH = 64  # Quantus' default batch_size: images per forward of its perturbation loop
MISSING_QUANTUS = "the peers section needs Quantus (a development dependency): pip install -r requirements-dev.txt"


@dataclass(frozen=True)
class Rounds:
    """How often each call is timed: at least ``least`` rounds, more (up to ``most``) while the rounds so
    far took under ``budget_s`` seconds, so a pair of milliseconds gets fifty and an IG of seconds five."""

    least: int = 5
    budget_s: float = 10.0
    most: int = 50

    def more(self, done: int, spent: float) -> bool:
        return done < self.least or (done < self.most and spent < self.budget_s)


Times = list[tuple[float, float]]  # (wall, CPU) seconds of one call, round by round


def _median(times: Times, k: int = 0) -> float:
    return statistics.median(t[k] for t in times)


@dataclass(frozen=True)
class Timing:
    """Medians of the interleaved calls: wall seconds and this process's CPU seconds (on a machine shared
    with other work the wall time is stretched by it, the CPU time much less); with the quartiles of the
    round-by-round wall ratio ours/peer, the spread a single median hides."""

    ours: float
    peer: float
    ours_cpu: float
    peer_cpu: float
    rounds: int = 0
    ratio_quartiles: tuple[float, float] = (float("nan"), float("nan"))

    @classmethod
    def of(cls, ours: Times, peer: Times) -> Timing:
        per_round = [o[0] / max(p[0], 1e-12) for o, p in zip(ours, peer)]
        q1, _, q3 = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else per_round * 3
        return cls(_median(ours), _median(peer), _median(ours, 1), _median(peer, 1), len(per_round), (q1, q3))

    def fields(self, ours_work: float = 1.0, peer_work: float = 1.0) -> dict[str, Any]:
        """The JSON fields; the ratios per unit of work (e.g. per forward) when the sides do different amounts."""
        per_work = peer_work / ours_work
        return {"ours_seconds": self.ours, "peer_seconds": self.peer, "ours_cpu_seconds": self.ours_cpu,
                "peer_cpu_seconds": self.peer_cpu, "ratio": self.ours / self.peer * per_work,
                "ratio_quartiles": [q * per_work for q in self.ratio_quartiles], "rounds": self.rounds,
                "cpu_ratio": self.ours_cpu / max(self.peer_cpu, 1e-12) * per_work}


def alternated(calls: list[Callable[[], Any]], rounds: Rounds,
               device: torch.device) -> tuple[list[Times], list[Any]]:
    """Each of ``calls`` timed in turn (a, b, c, a, b, c …) for as many rounds as ``rounds`` asks, after
    one warm-up call each whose outputs are returned: every call sees the same machine, so ratios between
    them hold on a machine whose speed drifts."""
    outputs = [call() for call in calls]
    times: list[Times] = [[] for _ in calls]
    start, done = time.perf_counter(), 0
    while rounds.more(done, time.perf_counter() - start):
        for call, side in zip(calls, times):
            side.append(timed(call, device))
        done += 1
    return times, outputs


def interleaved(ours: Callable[[], Any], peer: Callable[[], Any], rounds: Rounds,
                device: torch.device) -> tuple[Timing, Any, Any]:
    """:func:`alternated` for one pair: their :class:`Timing` and the warm-up outputs (for the agreement)."""
    (t_ours, t_peer), (a, b) = alternated([ours, peer], rounds, device)
    return Timing.of(t_ours, t_peer), a, b


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Median over images of Pearson's r between the flattened rows of ``a`` and ``b`` (a row that
    is constant on both sides counts 1 if equal, else 0)."""
    a = torch.as_tensor(a).detach().cpu().double().flatten(1)
    b = torch.as_tensor(b).detach().cpu().double().flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = a.norm(dim=1) * b.norm(dim=1)
    same = (a - b).abs().amax(1) <= 1e-12
    r = torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), same.double())
    return float(np.median(r.numpy()))


# -- methods: ours against Captum ---------------------------------------------------------------
@dataclass(frozen=True)
class MethodPeer:
    """The Captum call a user would make for one of our methods: ``run(model, ours, x, target, info)``
    returns B×H×W maps reduced over channels as ours are."""

    peer: str
    run: Callable[[nn.Module, Explainer, torch.Tensor, torch.Tensor, Any], torch.Tensor]


def _saliency(model, ours, x, target, info):
    from captum.attr import Saliency

    return Saliency(model).attribute(x, target=target, abs=True).abs().amax(1)


def _integrated_gradients(model, ours, x, target, info):
    from captum.attr import IntegratedGradients

    steps = ours.config.steps
    return IntegratedGradients(model).attribute(
        x, baselines=fill_colour(info, x), target=target, n_steps=steps, method="gausslegendre",
        internal_batch_size=ours.chunk_size(x) * steps).sum(1)  # ours' images per pass


def _smoothgrad(model, ours, x, target, info):
    from captum.attr import NoiseTunnel, Saliency

    s = ours.config.samples
    per_pass = min(s, max(1, ours.chunk_size(x) * s // len(x)))  # noisy copies of each image per pass
    attr = NoiseTunnel(Saliency(model)).attribute(
        x, nt_type="smoothgrad", nt_samples=s, nt_samples_batch_size=per_pass, stdevs=ours.config.noise_std,
        target=target, abs=True)
    return attr.abs().amax(1)


def _gradcam(model, ours, x, target, info):
    from captum.attr import LayerAttribution, LayerGradCam

    attr = LayerGradCam(model, model.get_submodule(ours.config.layer)).attribute(
        x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(attr, x.shape[-2:], interpolate_mode="bilinear").sum(1)


METHOD_PEERS = {
    "gradient": MethodPeer("captum.attr.Saliency(abs=True)", _saliency),
    "integrated_gradients": MethodPeer("captum.attr.IntegratedGradients(gausslegendre)", _integrated_gradients),
    "smoothgrad": MethodPeer("captum.attr.NoiseTunnel(Saliency, smoothgrad)", _smoothgrad),
    "gradcam": MethodPeer("captum.attr.LayerGradCam(relu_attributions=True)", _gradcam),
}


def _methods(ctx: services.Context, x: torch.Tensor, target: torch.Tensor, rounds: Rounds,
             progress: Progress) -> tuple[dict[str, Any], torch.Tensor]:
    out: dict[str, Any] = {}
    maps: dict[str, torch.Tensor] = {}
    for i, (name, pair) in enumerate(METHOD_PEERS.items()):
        progress(i, len(METHOD_PEERS), f"{name} against Captum")
        ours = services.build_explainer(ctx, name)
        timing, a, b = interleaved(lambda: ours.explain(x, target).scores,  # noqa: B023
                                   lambda: pair.run(ctx.black_box, ours, x, target, ctx.info),  # noqa: B023
                                   rounds, ctx.device)
        maps[name] = a
        out[name] = {"peer": pair.peer, "settings": ours.settings(), "images_per_pass": ours.chunk_size(x),
                     **timing.fields(), "r": pearson(a, b)}
    return out, maps["gradient"]


# -- metrics: ours against Quantus --------------------------------------------------------------
def fill_by_indices(arr: np.ndarray, indices: np.ndarray, fill: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Quantus' ``batch_baseline_replacement_by_indices`` with a per-feature baseline: ``arr`` (N×F)
    copied, feature ``indices`` (N×I) of each row replaced by ``fill[indices]`` (the dataset mean
    colour of that feature's channel; Quantus' own baselines are one value or the image's mean)."""
    out = arr.copy()
    out[np.arange(len(arr))[:, None], indices] = fill[indices]
    return out


def nearest_stride(pixels: int, evaluations: int = DEFAULT_STEPS) -> int:
    """The whole-pixel stride dividing ``pixels`` whose number of steps is nearest ``evaluations − 1``
    (Quantus' Pixel-Flipping needs a stride that divides the feature count)."""
    want = evaluations - 1
    steps = min((k for k in range(1, pixels + 1) if pixels % k == 0), key=lambda k: (abs(k - want), k))
    return pixels // steps


def forward_passes(model: nn.Module, x: torch.Tensor, per_pass: int, images: int) -> Callable[[], None]:
    """A call running ``model`` alone on ``images`` images made of ``x``, ``per_pass`` per forward: the
    most a perturbation metric doing that many forwards at that pass size can reach."""
    batch = x.repeat(-(-images // len(x)), 1, 1, 1)[:images]

    def run() -> None:
        with torch.inference_mode(), eval_mode(model):
            for i in range(0, len(batch), per_pass):
                model(batch[i: i + per_pass])

    return run


def forward_rate(model: nn.Module, x: torch.Tensor, per_pass: int, repeats: int, passes: int = 3) -> float:
    """The model's own throughput (images/s, median of ``repeats``) on ``passes`` full passes of
    ``per_pass`` images made of ``x`` (the section's overview; deletion measures its limit beside itself)."""
    run = forward_passes(model, x, per_pass, passes * per_pass)
    run()
    return passes * per_pass / statistics.median(timed(run, x.device)[0] for _ in range(repeats))


class Stacked(nn.Module):
    """``model`` on images whose C channels are stacked as rows (B×1×CH×W → B×C×H×W, a view).
    Quantus' Pixel-Flipping asserts that its stride divides H·W counted without channels, while its
    loop flips C·H·W features (a 2-D map broadcast over the channels): an RGB image at 64 or 224 px
    has no whole-pixel stride it accepts. Stacked, the assert counts every feature and the loop,
    the features and their order are unchanged."""

    def __init__(self, model: nn.Module, channels: int) -> None:
        super().__init__()
        self.model, self.channels = model, channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.view(len(z), self.channels, z.shape[2] // self.channels, z.shape[3]))


def _deletion(ctx, x, target, scores, masks, rounds, quantus) -> dict[str, Any]:
    b, c, h, w = x.shape
    stride = nearest_stride(h * w)
    steps = h * w // stride
    rank_map = (h * w - pixel_ranks(scores)).float()  # the map's order under our tie rule, no ties left
    fill = ctx.fill()
    metric = quantus.PixelFlipping(
        features_in_step=c * stride, abs=False, normalise=False, perturb_func=fill_by_indices,
        perturb_func_kwargs={"fill": np.repeat(fill.cpu().numpy(), h * w)}, disable_warnings=True)
    xn = x.reshape(b, 1, c * h, w).cpu().numpy()
    an = rank_map[:, None].repeat(1, c, 1, 1).reshape(b, 1, c * h, w).cpu().numpy()
    yn, stacked = target.cpu().numpy(), Stacked(ctx.black_box, c).eval()
    f_ours, f_peer = b * (steps + 1), b * steps
    ours_pass, peer_pass = images_per_pass(None, x), min(QUANTUS_BATCH, b)
    # the model alone on the same number of forwards at each side's pass size, timed in the same rotation:
    # the limit each side could reach at that moment (measured apart, minutes earlier, it drifts by ±30 %)
    (t_ours, t_peer, t_fo, t_fp), (a, q, _, _) = alternated(
        [lambda: deletion(ctx.black_box, x, target, rank_map, steps + 1, fill=fill).probabilities,
         lambda: np.asarray(metric(model=stacked, x_batch=xn, y_batch=yn, a_batch=an, softmax=True,
                                   device=str(ctx.device), batch_size=QUANTUS_BATCH)),
         forward_passes(ctx.black_box, x, ours_pass, f_ours), forward_passes(ctx.black_box, x, peer_pass, f_peer)],
        rounds, ctx.device)
    timing = Timing.of(t_ours, t_peer)
    ours_curve, peer_curve = a[:, 1:].cpu().double(), torch.as_tensor(q, dtype=torch.float64)
    ours_rate, peer_rate = f_ours / timing.ours, f_peer / timing.peer
    at_pass = {ours_pass: f_ours / _median(t_fo), peer_pass: f_peer / _median(t_fp)}  # the model alone, images/s
    limit = max(at_pass.values())
    return {"peer": "quantus.PixelFlipping", "pixels_per_step": stride, "evaluations": steps + 1,
            "ours_forwards": f_ours, "peer_forwards": f_peer,
            **timing.fields(f_ours, f_peer),  # the ratios per forward, ours / peer's
            "forward_images_per_second": {str(k): v for k, v in at_pass.items()},
            "ours_share_of_limit": ours_rate / limit, "peer_share_of_limit": peer_rate / limit,
            "ours_share_at_own_pass": ours_rate / at_pass[ours_pass],
            "peer_share_at_own_pass": peer_rate / at_pass[peer_pass],
            "r": pearson(ours_curve, peer_curve), "max_abs_difference": float((ours_curve - peer_curve).abs().max())}


def _mass_in_signal(ctx, x, target, scores, masks, rounds, quantus) -> dict[str, Any]:
    metric = quantus.RelevanceMassAccuracy(abs=False, normalise=False, disable_warnings=True)
    xn, yn = x.cpu().numpy(), target.cpu().numpy()
    an, sn = scores[:, None].cpu().numpy(), masks[:, None].cpu().numpy().astype(np.float32)
    timing, a, q = interleaved(
        lambda: mass_in_signal(scores, masks),
        lambda: np.asarray(metric(model=ctx.black_box, x_batch=xn, y_batch=yn, a_batch=an, s_batch=sn,
                                  device=str(ctx.device))),
        rounds, ctx.device)
    diff = (a.cpu().double() - torch.as_tensor(q, dtype=torch.float64)).abs()
    return {"peer": "quantus.RelevanceMassAccuracy", **timing.fields(), "max_abs_difference": float(diff.max())}


#: our metric → (its Quantus pair, whether it needs ground-truth masks)
METRIC_PEERS: dict[str, tuple[Callable[..., dict[str, Any]], bool]] = {
    "deletion": (_deletion, False),
    "mass_in_signal": (_mass_in_signal, True),
}


# -- the section ----------------------------------------------------------------------------------
def _size(size: int, preset: str, n: int, device: str, seed: int, rounds: Rounds, quantus: Any,
          progress: Progress) -> dict[str, Any]:
    try:
        ctx = services.load_context(SIZES[size], preset, device=device, seed=seed)
    except MissingDataError as err:  # e.g. the pretrained weights are not installed: nothing is downloaded
        progress(0, 1, f"{size} px skipped: {err}")
        return {"skipped": str(err)}
    batch = ctx.test.batch(list(range(min(n, len(ctx.test))))).to(ctx.device)
    x, masks = batch.x, batch.masks
    target = services.targets_for(ctx.black_box, x, batch.y)
    ours_pass, peer_pass = images_per_pass(None, x), min(QUANTUS_BATCH, len(x))
    rates = {p: forward_rate(ctx.black_box, x, p, rounds.least) for p in sorted({ours_pass, peer_pass})}
    methods, scores = _methods(ctx, x, target, rounds, progress)
    metrics: dict[str, Any] = {}
    for name, (pair, needs_masks) in METRIC_PEERS.items():
        if needs_masks and masks is None:
            metrics[name] = {"skipped": f"{ctx.dataset} has no ground-truth masks"}
            continue
        progress(0, 1, f"{name} against Quantus at {size} px")
        metrics[name] = pair(ctx, x, target, scores, masks, rounds, quantus)
    return {"dataset": f"{ctx.dataset}@{ctx.info.image_size}px", "model": ctx.record.get("arch"),
            "preset": ctx.preset, "device": describe_device(ctx.device), "images": len(x),
            "forward": {"images_per_second": {str(p): r for p, r in rates.items()}, "limit": max(rates.values()),
                        "ours_images_per_pass": ours_pass, "peer_images_per_pass": peer_pass},
            "methods": methods, "metrics": metrics}


def run_peers(*, sizes: list[int] | None = None, preset: str = "quick", n: int = 8, device: str = "auto",
              seed: int = 0, repeats: int = 5, budget_s: float = Rounds.budget_s,
              progress: Progress = no_progress) -> dict[str, Any]:
    """The peers section at each image side in ``sizes`` (default 64 and 224 px; see :data:`SIZES`):
    ``n`` test images, each pair timed interleaved for at least ``repeats`` rounds and more while its rounds
    took under ``budget_s`` seconds (:class:`Rounds`; the median is reported)."""
    sizes = sizes or sorted(SIZES)
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise XAIError(f"unknown peers size(s) {unknown}; choose from: {', '.join(map(str, SIZES))}")
    if repeats < 1 or n < 1:
        raise XAIError(f"the peers section needs at least one image and one repeat, got n={n}, repeats={repeats}")
    try:
        import quantus
    except ImportError as err:
        raise XAIError(MISSING_QUANTUS) from err
    rounds = Rounds(repeats, budget_s)
    out: dict[str, Any] = {"repeats": repeats, "budget_s": budget_s, "captum": _version("captum"),
                           "quantus": quantus.__version__, "sizes": {}}
    with warnings.catch_warnings():  # Captum warns on every call that it set requires_grad on the input
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
        for size in sizes:
            out["sizes"][str(size)] = _size(size, preset, n, device, seed, rounds, quantus, progress)
    return out


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
