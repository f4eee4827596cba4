"""The MEED/AIL paper's evaluation metrics (its §4.0.2, Tables 3–4; docs/methods/protocols.md), for every method:

- :func:`feature_fidelity` (``fs_fu``): a map's top-k feature units (:func:`selected_features`:
  :func:`xai_core.units.feature_unit` units, max-pooled) keep the image (``x_S = x·sel``) or are
  removed from it (``x_U = x·(1 − sel)``), zero fill in pixel space as the paper imputes zeros; per
  image, whether the black box's top-1 on ``x_S`` / ``x_U`` agrees with its top-1 on ``x`` (FS-M /
  FU-M), and the same for approximators A'_S / A'_U, the black box's architecture re-initialised and
  trained on the masked training images (FS-A / FU-A; ``EvalInputs.approximators``, see
  :mod:`xai_core.services.approximators`). A group metric: four 0/1 values per image, their means are
  the agreements. High FS and low FU: the selected features carry the decision.
- :func:`max_sensitivity` (``sen``): Yeh et al.'s max-sensitivity of the explanation under uniform
  noise in [−r, r] (Captum's ``sensitivity_max``), normalised by ||E(x)|| as Yeh et al.'s and the MEED
  authors' code (``eval_sensitivity2``) divide, the maximum over the samples (the MEED reference code keeps
  the last sample: a bug not copied), noise drawn per image (:class:`xai_core.noise.ImageNoise`). Methods
  re-run on the model explain its softmax probability of the target by default (:func:`softmax_output`:
  the MEED paper's Keras models end in a softmax, App. B.2).

Registered here: fs_fu, sen.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import torch
from captum.metrics import sensitivity_max
from torch import nn

from .. import units
from ..errors import InvalidInputError, XAIError
from ..models.inference import model_device
from ..noise import ImageNoise
from .base import EvalInputs, Metric, register_metric

SEN_RADIUS = 0.2  # MEED: ±0.2 uniform noise
SEN_SAMPLES = 10
SEN_OUTPUTS = ("softmax", "logit")  # what methods re-run on the model explain: p_t (the MEED paper) or the logit
_SOFTMAX_ON: ContextVar[object | None] = ContextVar("sen_softmax_output", default=None)


# -- fs_fu ---------------------------------------------------------------------------------------
def explanation_size(image_size: int, k: int | None = None) -> tuple[int, int]:
    """(unit side, k) for an image: MEED's :func:`~xai_core.units.feature_unit`, and ``k`` (None: 10 %
    of the units, :func:`~xai_core.units.default_k` of no named dataset), checked (one line)."""
    unit = units.feature_unit(image_size)
    k = units.default_k("", image_size) if k is None else int(k)
    units.check_k(image_size, unit, k)
    return unit, k


def selected_features(scores: torch.Tensor, unit: int, k: int) -> torch.Tensor:
    """B×H×W bool: the pixels of a map's top-``k`` units of ``unit`` px, each unit scored by the
    maximum of the map over it (ties: lower row-major unit index)."""
    return units.to_pixels(units.top_units(units.pool(scores, unit, "max"), k), unit)


@torch.no_grad()
def feature_fidelity(
    black_box: nn.Module,
    x: torch.Tensor,
    keep: torch.Tensor,
    selected: nn.Module | None = None,
    unselected: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Per image (B float, 0/1), whether a model's top-1 on ``x·keep`` (``fs_*``) and on
    ``x·(1 − keep)`` (``fu_*``) equals ``black_box``'s top-1 on ``x``: ``fs_m``/``fu_m`` with the black
    box itself, ``fs_a``/``fu_a`` with the ``selected``/``unselected`` approximators when given.
    ``keep``: B×H×W bool (all channels of a kept pixel are kept; the rest is zero)."""
    if x.ndim != 4 or keep.shape != (x.shape[0], *x.shape[2:]):
        raise InvalidInputError(f"images must be B×C×H×W and the selection B×H×W, got {tuple(x.shape)} and "
                                f"{tuple(keep.shape)}")
    device = model_device(black_box, fallback=x.device)
    x = x.to(device)
    sel = keep.to(device)[:, None].to(x.dtype)
    x_s, x_u = x * sel, x * (1 - sel)
    y = black_box(x).argmax(1)
    out = {"fs_m": black_box(x_s).argmax(1) == y, "fu_m": black_box(x_u).argmax(1) == y}
    if selected is not None and unselected is not None:
        out["fs_a"] = selected(x_s.to(model_device(selected, device))).argmax(1).to(device) == y
        out["fu_a"] = unselected(x_u.to(model_device(unselected, device))).argmax(1).to(device) == y
    return {key: value.float() for key, value in out.items()}


# -- sen -----------------------------------------------------------------------------------------
def uniform_noise(x: torch.Tensor, radius: float, samples: int, seed: int) -> torch.Tensor:
    """B×samples×C×H×W uniform draws in [−radius, radius), row b from image b's own stream (seeded by
    its pixels and ``seed``): an image gets the same noise in any batch."""
    return (ImageNoise(x, seed).rand(samples, *x.shape[1:]) * 2 - 1) * radius


def max_sensitivity(
    explain: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    radius: float = SEN_RADIUS,
    samples: int = SEN_SAMPLES,
    seed: int = 0,
) -> torch.Tensor:
    """Max-sensitivity per image (B float): ``max_s ||explain(x + δ_s) − explain(x)|| / ||explain(x)||``
    (Frobenius norms over H×W; a zero ``explain(x)`` divides by 1, as Captum's
    ``sensitivity_max`` does, which computes it), over ``samples`` noise draws ``δ_s`` uniform in
    [−radius, radius] per pixel and channel (:func:`uniform_noise`: per image streams; pixel space,
    not clamped). ``explain``: B×C×H×W → B×H×W scores for the same B images in order (it is called
    with B images at a time, once per noise sample, plus once on ``x``)."""
    if x.ndim != 4:
        raise InvalidInputError(f"images must be B×C×H×W, got shape {tuple(x.shape)}")
    if int(samples) < 1:
        raise InvalidInputError(f"sen needs at least one noise sample, got {samples}")
    b = x.shape[0]
    noise = uniform_noise(x, float(radius), int(samples), int(seed)).to(x.device)
    drawn = [0]  # noise samples handed out so far (Captum may ask for them in several chunks)

    def perturb(inputs: torch.Tensor | tuple[torch.Tensor, ...], perturb_radius: float) -> torch.Tensor:
        images = inputs[0] if isinstance(inputs, tuple) else inputs  # rows: each image repeated m times
        m = images.shape[0] // b
        start = drawn[0]
        drawn[0] += m
        return images + noise[:, start:start + m].reshape(images.shape)

    def explanation(inputs: torch.Tensor | tuple[torch.Tensor, ...]) -> Any:
        images = inputs[0] if isinstance(inputs, tuple) else inputs
        m = images.shape[0] // b
        grouped = images.reshape(b, m, *images.shape[1:])
        with torch.enable_grad():  # Captum calls under no_grad; gradient methods need autograd
            maps = [explain(grouped[:, s]).detach().float() for s in range(m)]
        out = torch.stack(maps, 1).reshape(b * m, *maps[0].shape[1:])
        return (out,) if isinstance(inputs, tuple) else out  # Captum reads a tuple back for its tuple of x

    return sensitivity_max(explanation, x, perturb_func=perturb, perturb_radius=float(radius),
                           n_perturb_samples=int(samples), norm_ord="fro")


@contextmanager
def softmax_output(model: nn.Module) -> Iterator[None]:
    """Within the block, and only in this thread's context, ``model`` returns softmax probabilities over
    dim 1 instead of logits: a forward hook gated by a context variable set to this call's own token, so
    other threads running the same shared model (and other such blocks) still get its logits. Hooks are
    copied into :func:`~xai_core.models.views.model_view` views, so methods that explain a view see it too."""
    token = object()

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
        return torch.softmax(output, 1) if _SOFTMAX_ON.get() is token else None

    handle = model.register_forward_hook(hook)
    reset = _SOFTMAX_ON.set(token)
    try:
        yield
    finally:
        _SOFTMAX_ON.reset(reset)
        handle.remove()


# -- registration --------------------------------------------------------------------------------
def _fs_fu(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    unit, k = explanation_size(inputs.x.shape[-1], p["k"] if p["k"] is not None else inputs.k)
    keep = selected_features(inputs.scores, unit, k)
    selected = unselected = None
    if p["approximators"]:
        fitter = inputs.approximators
        if fitter is None:
            raise XAIError("fs_fu trains approximators on the training split: run it through services.evaluate "
                           "(or set approximators=False for fs_m and fu_m only)")
        fitted = fitter.fit(unit, k, int(p["seed"]), epochs=p["epochs"], train_images=p["train_images"])
        selected, unselected = fitted.selected, fitted.unselected
    return feature_fidelity(inputs.black_box, inputs.x, keep, selected, unselected)


def _sen(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    explain = inputs.explain_again
    if explain is None:
        raise XAIError("sen re-explains noisy copies of the images: run it through services.evaluate")
    if p["output"] not in SEN_OUTPUTS:
        raise InvalidInputError(f"sen: output must be one of {', '.join(SEN_OUTPUTS)}, got {p['output']!r}")
    # methods re-run on the model (reexplain wired: not the trained ones) take the target's output from it
    softmax = p["output"] == "softmax" and inputs.reexplain is not None
    with softmax_output(inputs.model) if softmax else nullcontext():
        sen = max_sensitivity(explain, inputs.x, radius=p["radius"], samples=p["samples"], seed=p["seed"])
        if not p["normalise"]:  # a diagnostic: the same maximum times ||E(x)|| (E of the same output)
            norm = explain(inputs.x).flatten(1).norm(dim=1).to(sen.device)
            sen = sen * torch.where(norm > 0, norm, torch.ones_like(norm))
    return {"sen": sen}


K_AUTO = ("the method's own k where it has one (meed, l2x), else the dataset's: 25 on mnist38, 64 on "
          "fashion_pullover_shirt (the paper's), else 10 % of the units")
register_metric(Metric(
    name="fs_fu", kind="group", needs_ground_truth=False, fn=_fs_fu, primary="fs_m",
    description="MEED fidelity (Tables 3–4): agreement with the black box's top-1 on the top-k features only "
                "(FS) and on the rest (FU), by the black box (-M) and by retrained approximators (-A)",
    parameters={"k": None, "seed": 0, "approximators": True, "epochs": None, "train_images": None},
    auto={"k": K_AUTO,
          "epochs": "2 at smoke, 5 at quick, 20 at paper",
          "train_images": "256 at smoke, 6,000 at quick, the whole training split at paper"},
    notes={
        "units_rule": "features = single pixels up to 32 px, 4×4 blocks above (where 4 divides the image); a "
                      "block's score = the map's maximum over it; the top k by a stable sort (ties: lower row-major "
                      "unit index)",
        "fill": "zero in pixel space (the paper imputes zeros): x_S = x·sel keeps the top-k features, "
                "x_U = x·(1 − sel) removes them; all channels",
        "score": "agreement of a model's top-1 on x_S or x_U with the black box's top-1 on x (0/1 per image; "
                 "the mean over images is the agreement)",
        "fs_m": "the black box on x_S (higher is better)",
        "fu_m": "the black box on x_U (lower is better)",
        "fs_a": "approximator A'_S on x_S (higher is better)",
        "fu_a": "approximator A'_U on x_U (lower is better)",
        "approximator_training": "A'_S and A'_U: the black box's architecture re-initialised, trained with "
                                 "cross-entropy against the black box's top-1 on the full image, on the first "
                                 "train_images training images masked by the method's own top-k selection "
                                 "(x·sel and x·(1 − sel)); Adadelta (torch defaults: lr 1, rho 0.9, eps 1e-6, "
                                 "as the paper), batch 128, seeded by seed; cached per method, settings, "
                                 "dataset, k and seed",
        "approximators_off": "approximators=False: fs_m and fu_m only (no training)",
        "headline": "fs_m",
        "aggregation": "per value: mean and sample std over images (value_std), images counted (value_n)",
    },
))
register_metric(Metric(
    name="sen", kind="scalar", needs_ground_truth=False, fn=_sen, primary="sen", higher_is_better=False,
    description="MEED SEN: max-sensitivity of the map under uniform noise in [-r, r] (Yeh et al. 2019, lower = "
                "more stable)",
    parameters={"radius": SEN_RADIUS, "samples": SEN_SAMPLES, "seed": 0, "normalise": True, "output": "softmax"},
    notes={
        "score": "max over the samples of ||E(x + δ) − E(x)||_F / ||E(x)||_F, normalised (Captum's "
                 "sensitivity_max; Yeh et al.'s reference code and the MEED authors' eval_sensitivity2 divide by "
                 "||E(x)|| too; a zero map divides by 1); normalise=False: max ||E(x + δ) − E(x)||_F, a diagnostic "
                 "that depends on each method's scale (not the papers' form)",
        "explanation": "E = the same method (settings, explained class) re-explaining the noisy images, maps "
                       "post-processed like the scored ones",
        "explained_output": "output=softmax (default, the MEED paper's: its baselines explain its Keras models' "
                            "softmax output, App. B.2): methods re-run on the model (gradient, Gradient × Input, "
                            "SmoothGrad, IG, Grad-CAM, FullGrad, LIME; IBA's loss then reads probabilities) explain "
                            "the target's softmax probability, for E(x) and every E(x + δ); output=logit: the "
                            "target's logit, as the scored maps. Trained methods (meed, l2x, diet, comet, dorar) "
                            "explain as they were trained (MEED's z reads f_b's probabilities)",
        "noise": "δ uniform in [−radius, radius] per pixel and channel, in pixel space, not clamped to [0, 1]; "
                 "drawn from a stream seeded by the image's pixels and seed (the same image gets the same noise "
                 "in any batch)",
        "maximum": "the maximum over the samples (the MEED reference code keeps the last sample: a bug not "
                   "copied)",
    },
))
