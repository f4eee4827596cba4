"""Metrics on a map's top n_e explanation units (DoRaR, docs/methods/protocols.md; units as in :mod:`xai_core.units`).

- ``a1a2``, the DoRaR paper's evaluation scheme (its Fig. 11) for any explainer: fresh generators
  G1/G2 are trained, per seed, for the method's own top-n_e units on the training split
  (``EvalInputs.reconstruction``, see :mod:`xai_core.services.reconstruction`); ``a1`` = the black
  box's accuracy on G1's reconstructions from the selected units, ``a2`` = on G2's from the
  complement; mean ± std over seeds. Generators reconstruct rather than the black box seeing noise
  directly (the artifacts problem); the removed units are noise from each pixel's empirical
  distribution (not a fill that leaks the mask's shape: EPITE); a low ``a2`` shows the class is not
  left in the complement.
- ``hit_rate`` (the paper's Table V idea): the share of the top-n_e units that overlap the ground truth.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import units
from ..errors import XAIError
from .base import EvalInputs, Metric, register_metric

UNIT_NOTES = {"units_rule": "a map's unit score = its mean over the unit; the top n_e by a stable sort "
                            "(ties: lower row-major unit index)"}
UNIT_AUTO = {"units": "about a 7×7 grid (4 px at 28 px, 8 at 64, 32 at 224)"}


def unit_size(inputs: EvalInputs, size: int | None, n_e: int) -> int:
    """The unit side for ``inputs``' images (auto when None), checked with ``n_e``."""
    image_size = inputs.x.shape[-1]
    size = int(size or units.default_size(image_size))
    units.check_units(image_size, size, n_e)
    return size


def _a1a2(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    fitter = inputs.reconstruction
    if fitter is None:
        raise XAIError("a1a2 trains generators on the training split: run it through services.evaluate")
    n_e = int(p["n_e"])
    size = unit_size(inputs, p["units"], n_e)
    keep = units.selection(inputs.scores, size, n_e)
    predict = torch.no_grad()(lambda x: inputs.black_box(x).argmax(1))
    y = predict(inputs.x)
    a1, a2 = [], []
    for seed in range(int(p["seeds"] or fitter.default_seeds)):
        reconstruct = fitter.fit(size, n_e, seed, epochs=p["epochs"], train_images=p["train_images"])  # trains once
        r1, r2 = reconstruct(inputs.x, keep)
        a1.append(predict(r1) == y)
        a2.append(predict(r2) == y)
    return {"a1": torch.stack(a1, 1).float(), "a2": torch.stack(a2, 1).float()}


def _hit_rate(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    n_e = int(p["n_e"])
    size = unit_size(inputs, p["units"], n_e)
    chosen = units.top_units(units.pool(inputs.scores, size), n_e)
    truth = units.pool(inputs.masks.float(), size) > 0
    return {"hit_rate": (chosen & truth).flatten(1).sum(1).float() / n_e}


register_metric(Metric(
    name="a1a2", kind="seeded", needs_ground_truth=False, fn=_a1a2, primary="a1",
    parameters={"units": None, "n_e": 4, "seeds": None, "epochs": None, "train_images": None},
    auto={**UNIT_AUTO, "seeds": "2 at smoke, 3 at quick, 5 at paper",
          "epochs": "at most 2 at smoke, 30 at quick (20 on images of > 1,024 values), 80 at paper; stops once the "
                    "loss changes < 1 % per epoch",
          "train_images": "200 at smoke, 4,000 at quick (2,000 on images of > 1,024 values), the whole training "
                          "split at paper"},
    notes={**UNIT_NOTES,
           "noise": "each removed pixel (per channel) from that pixel's empirical distribution over the training "
                    "split (pixel space), seeded per image",
           "generators": "fresh G1 (selected units) and G2 (complement) per seed: the paper's MLP D→D→D for images "
                         "of ≤ 1,024 values, else a conv encoder–decoder; Adam 5e-4, betas (0.5, 0.999), batch 100, "
                         "loss CE(f_b(G(·)), f_b's top-1) + 1·mean|x − G(·)|; cached per method, settings, n_e, seed",
           "score": "accuracy = agreement of the black box's top-1 on G's reconstruction with its top-1 on x",
           "a1": "from the selected units (higher is better)", "a2": "from the complement (lower is better)"},
    description="DoRaR's a1/a2: black-box accuracy on generators' reconstructions from the top-n_e units / the rest",
))

register_metric(Metric(
    name="hit_rate", kind="scalar", needs_ground_truth=True, fn=_hit_rate, primary="hit_rate",
    parameters={"units": None, "n_e": 4}, auto=UNIT_AUTO,
    notes={**UNIT_NOTES, "hit": "a selected unit with at least one ground-truth pixel"},
    description="share of the top-n_e units that overlap the ground truth (DoRaR's Table V)",
))
