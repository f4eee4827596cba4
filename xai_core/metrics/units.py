"""Metrics on a map's top n_e explanation units (DoRaR, docs/methods/protocols.md; units as in :mod:`xai_core.units`).

- ``a1a2``, the DoRaR paper's evaluation scheme (its Fig. 11) for any explainer: fresh generators
  G1/G2 are trained, per seed, for the method's own top-n_e units on the training split
  (``EvalInputs.reconstruction``, see :mod:`xai_core.services.reconstruction`); ``a1`` = the black
  box's accuracy on G1's reconstructions from the selected units, ``a2`` = on G2's from the
  complement; mean ± std over seeds. Generators reconstruct rather than the black box seeing noise
  directly (the artifacts problem); the removed units are noise from each pixel's empirical
  distribution (not a fill that leaks the mask's shape: EPITE); a low ``a2`` shows the class is not
  left in the complement. With ``controls`` (default on), each seed adds two controls beside them:
  ``a1_position``, from a generator that sees only *where* the method's units are (the binary mask, no pixel),
  and ``a1_random`` / ``a2_random``, from G1/G2 trained and scored on n_e random units per image (the floor).
  A high ``a1_position`` says the class leaks through the selection's layout (the EPITE problem).
- ``hit_rate`` (the paper's Table V idea): the share of the top-n_e units that overlap the ground truth.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import units
from ..errors import XAIError
from ..noise import ImageNoise
from .base import EvalInputs, Metric, register_metric

UNIT_NOTES = {"units_rule": "a map's unit score = its mean over the unit; the top n_e by a stable sort "
                            "(ties: lower row-major unit index)"}
UNIT_AUTO = {"units": "about a 7×7 grid (4 px at 28 px, 8 at 64, 32 at 224)"}
CONTROLS = ("a1_position", "a1_random", "a2_random")  # a1a2's controls, per seed, with ``controls`` on


def unit_size(inputs: EvalInputs, size: int | None, n_e: int) -> int:
    """The unit side for ``inputs``' images (auto when None), checked with ``n_e``."""
    image_size = inputs.x.shape[-1]
    size = int(size or units.default_size(image_size))
    units.check_units(image_size, size, n_e)
    return size


def random_selection(x: torch.Tensor, size: int, n_e: int, seed: int) -> torch.Tensor:
    """B×H×W bool: ``n_e`` units of ``size`` px drawn uniformly per image, from a stream seeded by the image's
    pixels and ``seed`` (stream −1 − seed: apart from the reconstructions' noise; the same in any batch)."""
    g = units.grid(x.shape[-1], size)
    return units.to_pixels(units.top_units(ImageNoise(x, -1 - seed).rand(g, g), n_e), size)


def _a1a2(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    fitter = inputs.reconstruction
    if fitter is None:
        raise XAIError("a1a2 trains generators on the training split: run it through services.evaluate")
    n_e = int(p["n_e"])
    size = unit_size(inputs, p["units"], n_e)
    keep = units.selection(inputs.scores, size, n_e)
    predict = torch.no_grad()(lambda x: inputs.black_box(x).argmax(1))
    y = predict(inputs.x)
    keys = ("a1", "a2") + (CONTROLS if p["controls"] else ())
    out: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    fit = {"epochs": p["epochs"], "train_images": p["train_images"]}
    for seed in range(int(p["seeds"] or fitter.default_seeds)):
        r1, r2 = fitter.fit(size, n_e, seed, **fit)(inputs.x, keep)  # trains once
        out["a1"].append(predict(r1) == y)
        out["a2"].append(predict(r2) == y)
        if p["controls"]:
            out["a1_position"].append(predict(fitter.fit_position(size, n_e, seed, **fit)(keep)) == y)
            r1, r2 = fitter.fit_random(size, n_e, seed, **fit)(inputs.x, random_selection(inputs.x, size, n_e, seed))
            out["a1_random"].append(predict(r1) == y)
            out["a2_random"].append(predict(r2) == y)
    return {k: torch.stack(v, 1).float() for k, v in out.items()}


def _hit_rate(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    n_e = int(p["n_e"])
    size = unit_size(inputs, p["units"], n_e)
    chosen = units.top_units(units.pool(inputs.scores, size), n_e)
    truth = units.pool(inputs.masks.float(), size) > 0
    return {"hit_rate": (chosen & truth).flatten(1).sum(1).float() / n_e}


register_metric(Metric(
    name="a1a2", kind="seeded", needs_ground_truth=False, fn=_a1a2, primary="a1",
    parameters={"units": None, "n_e": 4, "seeds": None, "epochs": None, "train_images": None, "controls": True},
    auto={**UNIT_AUTO, "seeds": "2 at smoke, 3 at quick, 5 at paper",
          "epochs": "at most 2 at smoke, 30 at quick (20 on images of > 1,024 values), 80 at paper; stops once the "
                    "loss (its cross-entropy / ln 10) changes < 1 % per epoch",
          "train_images": "200 at smoke, 4,000 at quick (2,000 on images of > 1,024 values), the whole training "
                          "split at paper"},
    notes={**UNIT_NOTES,
           "noise": "each removed pixel (per channel) from that pixel's empirical distribution over the training "
                    "split (pixel space), seeded per image",
           "generators": "fresh G1 (selected units) and G2 (complement) per seed: the paper's MLP D→D→D for images "
                         "of ≤ 1,024 values, else a conv encoder–decoder; Adam 5e-4, betas (0.5, 0.999), batch 100, "
                         "loss CE(f_b(G(·)), f_b's top-1) / ln 10 (base-10 logs, as the authors' code) "
                         "+ 1·mean|x − G(·)|; cached per method, settings, n_e, seed",
           "score": "accuracy = agreement of the black box's top-1 on G's reconstruction with its top-1 on x",
           "a1": "from the selected units (higher is better)", "a2": "from the complement (lower is better)",
           "a1_position": "control (controls=true): a fresh G of the same recipe and objective whose input is only "
                          "the selected units' binary mask (1 kept, 0 elsewhere; no pixel, no noise); the class "
                          "the layout alone gives (lower is better: less of a1 is the position leak)",
           "a1_random": "control (controls=true): G1/G2 trained and scored on n_e random units per image (training "
                        "images: seeded by the seed; test images: by the image and the seed), the same for every "
                        "method (one entry per seed): the floor a1 should beat (read as a1: higher is better)",
           "a2_random": "control: G2's accuracy on the complement of the random units (read as a2: lower is better)",
           "controls_cost": "per seed, one more generator per method (position) and one G1/G2 pair shared by "
                            "every method (random); controls=false skips both"},
    description="DoRaR's a1/a2: black-box accuracy on generators' reconstructions from the top-n_e units / the rest",
))

register_metric(Metric(
    name="hit_rate", kind="scalar", needs_ground_truth=True, fn=_hit_rate, primary="hit_rate",
    parameters={"units": None, "n_e": 4}, auto=UNIT_AUTO,
    notes={**UNIT_NOTES, "hit": "a selected unit with at least one ground-truth pixel"},
    description="share of the top-n_e units that overlap the ground truth (DoRaR's Table V)",
))
