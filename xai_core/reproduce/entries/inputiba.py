"""InputIBA's claims (Zhang et al., NeurIPS 2021, docs/methods/input_iba.md: Table 3 and Figure 5, Figure 4,
Table 2, Figure 3), on
``natural`` (real photos, the pretrained efficientnet_lite0) and ``hard_mnist`` (its digit mask stands in for the
paper's ImageNet bounding boxes).

Every measurement runs IBA, InputIBA and Integrated Gradients with the paper's settings (:data:`PAPER_SETTINGS`:
§4.1 and the authors' ``configs/vgg_imagenet.py``: 10 noise samples per bottleneck, 60 input-bottleneck steps; IG
with 50 points, Appendix D), at every preset; the WGAN keeps the preset's (at ``quick`` 2 generator updates:
at the paper's learning rate λ_G hardly moves, docs/methods/input_iba.md → Measured). Three measurements:

- ``NATURAL``: deletion, insertion and sensitivity-n on all 32 photos of ``natural`` (224 px), five methods.
  Sensitivity-n as the authors' ``tools/sensitivity_n.py`` runs it: only photos whose target probability is
  ≥ 0.6 (16 of the 32 for the top-1 on efficientnet_lite0), n from 10^0 to 10^4.5 pixels (half decades, 10 n;
  the authors' 0.1-decade grid, ``counts=paper``, costs 4.2× the forwards), 100 sets per n (the authors' code;
  the paper's text: 200). Cost on 2 CPU cores (estimates, not timed as a whole): InputIBA with 60 × 10
  input-bottleneck passes ~7.5× its quick stage 3, the two curves ~10 min, sensitivity-n 5 × 16 × 10 × 100
  forwards at ~45/s ≈ 30 min: about an hour; a GPU job at the paper preset.
- ``LOCALISATION``: EHR (and IoU, mass in signal) on the first 100 hard_mnist test images (64 px, cnn_light), four
  methods: a few minutes (IBA's and InputIBA's per-image optimisation at 64 px) once the black box is cached.
- ``SANITY``: cascading randomisation on 16 hard_mnist images, six methods: every method re-explains the 16 images
  after each of 5 cascade steps: a few minutes.
"""
from __future__ import annotations

from typing import Any

from ...metrics import CurveValue
from ..claims import (Claim, Measurement, all_of, at_most, best, metric_value, metric_values, number, ordering,
                      register_claim)

PAPER = "inputiba"
#: the paper's settings of the methods the InputIBA claims run (§4.1, Appendix D; the authors' config: IBA
#: ``batch_size=10``, input IBA ``opt_steps=60, batch_size=10``; IG 50 points from 0 in normalised space)
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "iba": {"samples": 10},
    "input_iba": {"samples": 10, "input_steps": 60, "input_samples": 10},
    "integrated_gradients": {"steps": 50},
}
#: sensitivity-n as the authors' tools/sensitivity_n.py runs it (see the module docstring)
PAPER_SENSITIVITY = {"counts": "paper_coarse", "min_probability": 0.6, "masks_per_n": 100}


def _measurement(dataset: str, methods: list[str], metrics: list[str], n: int, **metric_settings: Any) -> Measurement:
    """An evaluate measurement with the paper's settings of those of ``methods`` that have them."""
    params: dict[str, Any] = {"methods": methods, "metrics": metrics, "n": n,
                              "configs": {m: c for m, c in PAPER_SETTINGS.items() if m in methods}}
    if metric_settings:
        params["metric_settings"] = metric_settings
    return Measurement("evaluate", dataset, params)


NATURAL = _measurement("natural", ["gradient", "integrated_gradients", "gradcam", "iba", "input_iba"],
                       ["deletion", "insertion", "sensitivity_n"], 32, sensitivity_n=PAPER_SENSITIVITY)
LOCALISATION = _measurement("hard_mnist", ["gradient", "gradcam", "iba", "input_iba"], ["iou", "mass_in_signal", "ehr"],
                            100)
SANITY = _measurement("hard_mnist", ["random", "gradient", "integrated_gradients", "gradcam", "iba", "input_iba"],
                      ["sanity"], 16)

NATURAL_NOTE = ("ours: the 32 photos of `natural` (224 px; foolbox's ImageNet samples and scikit-image / "
                "scikit-learn photos) on the pretrained efficientnet_lite0, the paper's method settings (InputIBA: "
                "10 + 60 optimisation steps with 10 noise samples; the quick preset's short WGAN); the paper: 2,000 "
                "ImageNet images on VGG-16. Deletion fills with the dataset mean colour (= 0 in normalised space, "
                "the paper's black), insertion starts from a σ = 15 px blur (the paper's)")
DELETION_NOTE = (
    ". The run in docs/measured.md (quick settings: 20 input steps, 4 samples; labels where known): IG 0.049 < "
    "InputIBA 0.069 < gradient 0.119 < IBA 0.131 < Grad-CAM 0.152. Why IG deletes best here while the paper's "
    "IG scores worst is not measured. It is not that IG's baseline is deletion's fill: both are 0 in normalised "
    "space here, and so in the authors' code (captum IG with baseline 0 and deletion to zeros, both on "
    "normalised tensors); nor the authors' 8-bit PNG maps (rounding ours to 8 bits changes nothing, measured "
    "for issue 26). Left: the model (efficientnet_lite0 against VGG-16) and the images (32 photos, half of "
    "them below 0.6 target probability, against ImageNet validation images); the run that would test the "
    "model: this measurement on an ImageNet-class VGG-16 black box (not offered offline)")
MNIST_NOTE = ("ours: hard_mnist (64 px, cnn_light), the paper's method settings (InputIBA: 60 input steps, 10 noise "
              "samples), quick preset otherwise; the paper: ImageNet on VGG-16")
LABELS = {"InputIBA": "input_iba", "IBA": "iba", "Grad-CAM": "gradcam", "IG": "integrated_gradients",
          "gradient": "gradient"}


def _sanity(result: dict[str, Any]) -> dict[str, float | None]:
    """The sanity curve (x: share of parametrised layers randomised, output layer first; y: mean SSIM with the
    original map) → each method's SSIM at the first cascade step with at least half the layers randomised, and
    InputIBA's with all of them."""
    out: dict[str, float | None] = {}
    for label, method in {**LABELS, "random": "random"}.items():
        out[label] = _ssim_at(result, method, 0.5)
    out["InputIBA, all layers"] = _ssim_at(result, "input_iba", 1.0)
    return out


def _ssim_at(result: dict[str, Any], method: str, share: float) -> float | None:
    curve = metric_value(result, method, "sanity")
    if not isinstance(curve, CurveValue):
        return None
    for x, y in zip(curve.x, curve.y):
        if x >= share - 1e-9:
            return number(y)
    return None


register_claim(Claim(
    "inputiba.deletion", PAPER, "Table 3 (Figure 5a)",
    "Deleting the pixels InputIBA ranks first destroys the prediction fastest: deletion AUC InputIBA < IBA < "
    "Grad-CAM < Integrated Gradients",
    {"InputIBA": 0.045, "IBA": 0.090, "Grad-CAM": 0.133, "IG": 0.210},
    NATURAL, metric_values("deletion", LABELS),
    ordering(["InputIBA", "IBA", "Grad-CAM", "IG"], lower_is_better=True),
    note=NATURAL_NOTE + DELETION_NOTE,
    missed="with the paper's settings (2026-12-08) the order is IG 0.048 < InputIBA 0.080 < IBA 0.122 < Grad-CAM 0.153 "
           "on 32 photos, and the intervals overlap for every neighbouring pair (IG [0.024, 0.080], InputIBA "
           "[0.047, 0.122]): at n = 32 this run cannot order IG and InputIBA. Why IG deletes well here is not "
           "measured (see the note). Telling them apart needs more photos than `natural`'s 32 (the same at every "
           "preset); the paper's 2,000 ImageNet validation images are not available offline, so no command here "
           "can tell them apart"))

register_claim(Claim(
    "inputiba.insertion", PAPER, "Table 3 (Figure 5a)",
    "Inserting the pixels InputIBA and IBA rank first restores the prediction fastest: insertion AUC InputIBA > "
    "Grad-CAM > Integrated Gradients and IBA > Grad-CAM (the paper's InputIBA and IBA tie: 0.710 / 0.713)",
    {"InputIBA": 0.710, "IBA": 0.713, "Grad-CAM": 0.703, "IG": 0.358},
    NATURAL, metric_values("insertion", LABELS),
    all_of(ordering(["InputIBA", "Grad-CAM", "IG"]), ordering(["IBA", "Grad-CAM"])),
    note=NATURAL_NOTE + ". The run in docs/measured.md (quick settings): InputIBA 0.507, IBA 0.362, Grad-CAM 0.328, "
                        "IG 0.289, gradient 0.285"))

register_claim(Claim(
    "inputiba.sensitivity_n", PAPER, "Figure 4a",
    "InputIBA's attributions predict the output drop under random pixel removal best: its sensitivity-n (Pearson "
    "correlation, AUC over n) at least that of IBA, Grad-CAM, the gradient and Integrated Gradients",
    {}, NATURAL, metric_values("sensitivity_n", LABELS),
    best("InputIBA", ["IBA", "Grad-CAM", "gradient", "IG"]),
    note=NATURAL_NOTE + "; sensitivity-n as the authors' code runs it: only the photos whose target probability is "
                        "≥ 0.6 (the result's `passed` and `n` say how many), n from 10⁰ to 10^4.5 pixels in half "
                        "decades (10 n; the authors: 0.1-decade ticks, `--metric-set sensitivity_n.counts=paper`), "
                        "100 random sets per n, removed pixels filled with the dataset mean colour (0 in normalised "
                        "space, as theirs). The AUC is over the fraction of pixels (a linear axis), so it weighs the "
                        "largest n most, the range where the paper has InputIBA above every baseline (n > 10²). The "
                        "paper gives curves, no numbers (1,000 ImageNet images, 200 sets): IG low. Before, on 16 "
                        "hard_mnist images (8 n from 1 % to 80 % of the pixels, quick settings): IG 0.389 > InputIBA "
                        "0.305 > IBA 0.179 > gradient 0.159 > Grad-CAM 0.139"))

register_claim(Claim(
    "inputiba.ehr", PAPER, "Table 2",
    "InputIBA's heat is the most concentrated on the object: effective heat ratio InputIBA > IBA > Grad-CAM, and "
    "InputIBA > the gradient",
    {"InputIBA": 0.476, "IBA": 0.356, "Grad-CAM": 0.283},
    LOCALISATION, metric_values("ehr", {k: v for k, v in LABELS.items() if k != "IG"}),
    all_of(ordering(["InputIBA", "IBA", "Grad-CAM"]), ordering(["InputIBA", "gradient"])),
    note=MNIST_NOTE + ", the first 100 test images; the ground truth is the digit's pixels (the paper: ImageNet "
                      "bounding boxes covering < 33 % of 1,000 images; no ImageNet boxes offline). The run in "
                      "docs/measured.md: "
                      "InputIBA 0.318, IBA 0.187, Grad-CAM 0.177, gradient 0.141"))

register_claim(Claim(
    "inputiba.sanity", PAPER, "Figure 3 (§4.3)",
    "InputIBA passes the parameter-randomisation sanity check: as the layers are re-initialised from the output, "
    "its map departs from the original (SSIM ≤ 0.5 once half the layers, and all of them, are randomised)",
    {}, SANITY, _sanity,
    all_of(at_most("InputIBA", 0.5), at_most("InputIBA, all layers", 0.5)),
    note=MNIST_NOTE + ", 16 images, cnn_light's 9 parametrised layers randomised in 5 steps (1, 3, 5, 7, 9); the "
                      "values are the SSIM at the first step with ≥ half the layers (5 of 9) and at all 9. The paper "
                      "gives curves (1,000 images), no numbers: SSIM 'rapidly moves to 0'. The run in "
                      "docs/measured.md, after 1 "
                      "/ 3 / 5 layers: InputIBA 0.74 / 0.57 / 0.43, IBA 0.64 / 0.40 / 0.25, gradient 0.53 / 0.28 / "
                      "0.16 (the random map stays at 1): InputIBA's map keeps more structure than the gradient "
                      "methods' (part of its input KL term depends on the image, and its prior comes from a feature "
                      "layer below the randomised top)",
    missed="with the paper's settings (60 input steps, 10 samples; 2026-12-08) InputIBA's SSIM after 1 / 3 / 5 / 7 / 9 "
           "randomised layers is 0.764 / 0.664 / 0.551 / 0.310 / 0.326 (std over the 16 images 0.17 at 5 layers, so "
           "its interval, about ±0.08, contains 0.5); with the quick settings (20 input steps, 4 samples) it was "
           "0.43 at 5 layers. It falls below 0.5 from 7 of the 9 layers on; why the paper's settings keep more "
           "structure at 5 is not measured. More images would say whether 0.551 is above 0.5: `python -m "
           "xai_core evaluate --dataset hard_mnist --preset quick --methods input_iba --metrics sanity --set "
           "input_iba.samples=10 --set input_iba.input_steps=60 --set input_iba.input_samples=10 --n 100`"))
