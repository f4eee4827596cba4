"""DiET's claims (Bhalla et al., NeurIPS 2023, docs/methods/diet.md: Tables 1, 2, 4–6 and Figure 5), on
``hard_mnist`` and ``spurious_patch``.

The quick preset runs five measurements (times from docs/measured.md's "DiET" section, 2 CPU cores):

- ``MAIN``: hard_mnist, DiET and four baselines, 200 test images (Tables 1 and 2). DiET's quick fit dominates:
  ~33 min from an empty cache on the shared 2-core machine (docs/measured.md's older idle-machine timing: 139 s), then
  ~0.5 s per image to explain (~2 min); the baselines and metrics take ~1 min more.
- ``MASKING``: Table 6 on the same fit, 200 images: forward passes only, under a minute once MAIN has run.
- ``SWEEP``: Figure 5's mask scale u = 2, 4, 8 on 100 images (quick only: the preset's u is 4 at 64 px). u = 4 is
  MAIN's fit (the fit's cache key has no test-time settings); u = 2 and u = 8 are two more DiET fits (each about
  as long as MAIN's) plus ~1 min of test masks per value. The sweep in docs/measured.md also ran u = 16
  (0.893, the lowest):
  left out here to save a fit. ``SWEEP_PAPER`` (u = 4, 8, 16 at 224 px) is the paper preset's version.
- ``MANIPULATED``: §5.4 on the gradient-manipulated black box, 200 images: its training (~4 min) plus one DiET fit on
  it (as long as MAIN's) and the baselines (~2 min).
- ``SPURIOUS``: spurious_patch, 200 images (113 with a patch): one DiET fit on 1-channel 64-px images (not timed on
  its own in docs/measured.md; at most MAIN's) plus ~2 min.

From an empty cache DiET's quick claims cost five DiET fits (about 2.5 h at ~30 min each on the busy machine; ~12
min at the older 139 s) and ~15 min besides; every fit is cached by the services and shared between measurements.
"""
from __future__ import annotations

from typing import Any

from ..claims import (Claim, Measurement, all_of, at_least, best, metric_values, ordering, ratio,
                      register_claim)

PAPER = "diet"
BASELINES = ["gradient", "smoothgrad", "gradcam", "fullgrad"]
MAIN = Measurement("evaluate", "hard_mnist", {
    "methods": ["diet", *BASELINES],
    "metrics": ["iou", "mass_in_signal", "faithfulness", "faithfulness_simplified", "pixel_perturbation",
                "pixel_perturbation_black_box"],
    "n": 200})
MASKING = Measurement("masking", "hard_mnist", {"methods": ["diet"], "n": 200})
SWEEP = Measurement("sweep", "hard_mnist", {"method": "diet", "setting": "u", "values": [2, 4, 8],
                                            "metric": "pixel_perturbation", "n": 100}, presets=("quick",))
SWEEP_PAPER = Measurement("sweep", "hard_mnist", {"method": "diet", "setting": "u", "values": [4, 8, 16],
                                                  "metric": "pixel_perturbation", "n": 100}, presets=("paper",))
MANIPULATED = Measurement("evaluate", "hard_mnist", {
    "methods": ["diet", "gradient", "smoothgrad", "gradcam", "integrated_gradients"],
    "metrics": ["iou", "faithfulness", "faithfulness_simplified"], "n": 200}, model="manipulated")
SPURIOUS = Measurement("evaluate", "spurious_patch", {
    "methods": ["diet", "gradient", "smoothgrad", "gradcam"],
    "metrics": ["iou", "faithfulness", "faithfulness_simplified"], "n": 200})

NOTE = ("ours: quick preset (64 px, cnn_light, DiET tuned on 1,500 training images for 2 of the 5 rounds, u = 4; "
        "the paper: 224 px ResNet-18, u = 8), the first 200 test images")
IOU_LABELS = {"DiET": "diet", "FullGrad": "fullgrad", "Grad-CAM": "gradcam", "SmoothGrad": "smoothgrad",
              "gradient": "gradient"}
F_V = "diet (tuned model)"  # region_masking's name for DiET's tuned model
MASKED = (0.2, 0.8)  # the fractions both the paper's Table 6 and our run have


# -- readers for results that are not evaluate()'s -----------------------------------------------------
def _faithfulness(result: dict[str, Any], method: str = "diet") -> dict[str, float | None]:
    return {**metric_values("faithfulness", {"original": method})(result),
            **metric_values("faithfulness_simplified", {"simplified": method})(result)}


def _masked(result: dict[str, Any], model: str = F_V) -> dict[str, float | None]:
    """region_masking's {"fractions", "models": {model: {region: [accuracy per fraction]}}} → one value
    per region and fraction of :data:`MASKED` (None where the run has no such fraction)."""
    fractions = [round(float(f), 6) for f in result.get("fractions", [])]
    regions = result.get("models", {}).get(model, {})
    out: dict[str, float | None] = {}
    for share in MASKED:
        for region in ("distractor", "signal", "random"):
            values = regions.get(region)
            i = fractions.index(share) if share in fractions else None
            out[f"{region} {share:.0%}"] = (None if values is None or i is None or i >= len(values)
                                            else float(values[i]))
    return out


def _sweep(values: list[int], method: str = "diet"):
    """setting_sweep's {"summary": {method: {u: the metric's headline}}} → ``{"u = 4": AUC, …}``; the keys are
    ints as the service returns them, strings once the JSON has been written and read back."""
    def read(result: dict[str, Any]) -> dict[str, float | None]:
        summary = result.get("summary", {}).get(method, {})
        out = {}
        for u in values:
            v = summary.get(u, summary.get(str(u)))
            out[f"u = {u}"] = None if v is None else float(v)
        return out

    return read


# -- Table 1 and Table 2: hard_mnist --------------------------------------------------------------------
register_claim(Claim(
    "diet.iou_ordering", PAPER, "Table 1",
    "On Hard MNIST, DiET's masks overlap the digit best: IoU DiET > FullGrad > Grad-CAM > SmoothGrad > gradient",
    {"DiET": 0.461, "FullGrad": 0.389, "Grad-CAM": 0.295, "SmoothGrad": 0.252, "gradient": 0.117},
    MAIN, metric_values("iou", IOU_LABELS),
    ordering(list(IOU_LABELS)),
    note=NOTE + ". The run in docs/measured.md missed it: DiET 0.308 ties SmoothGrad 0.318 (issue target ≥ 0.40). At "
                "64 px the "
                "strokes are 2–4 px wide, so even the ground truth pooled into u = 4 cells and upsampled reaches "
                "IoU 0.62; DiET keeps the smallest part of the digit that keeps f_v's class, and with a solid fill a "
                "digit's outline is as good evidence as its strokes. The paper's 'Input Grad' is our gradient"))

register_claim(Claim(
    "diet.faithfulness", PAPER, "Table 2",
    "DiET's tuned model f_v agrees with the black box f_b on the original images and on DiET's simplified "
    "images (≥ 0.95 each; the paper: 0.996 / 0.987 on Hard MNIST)",
    {"original": 0.996, "simplified": 0.987},
    MAIN, _faithfulness,
    all_of(at_least("original", 0.95), at_least("simplified", 0.95)),
    note=NOTE + "; simplified = each test image on its own rounded DiET mask (upsampled bilinearly as in "
                "training), the mean colour elsewhere (the authors' script scores the training images)"))

# -- Table 6: signal vs distractor --------------------------------------------------------------------------
register_claim(Claim(
    "diet.signal_distractor", PAPER, "Table 6",
    "DiET's f_v keeps its accuracy when distractor pixels are erased but not when signal pixels are: with 80 % "
    "of a region filled, accuracy on masked distractor > on masked signal and > on random pixels",
    {"distractor 20%": 0.971, "signal 20%": 0.772, "random 20%": 0.965,
     "distractor 80%": 0.960, "signal 80%": 0.339, "random 80%": 0.587},
    MASKING, _masked,
    all_of(ordering(["distractor 80%", "signal 80%"]), ordering(["distractor 80%", "random 80%"])),
    note=NOTE + "; masked pixels filled with the dataset mean colour, signal = the ground-truth digit (the "
                "paper's table comes with its CelebA results, signal = the regions DiET's masks show). In "
                "docs/measured.md the "
                "run (f_v, 20 / 50 / 80 %: distractor 0.935 / 0.83 / 0.75, signal 0.95 / 0.915 / 0.855, random "
                "0.905 / 0.535 / 0.14) misses the signal half: filling the digit's pixels repaints it as a grey "
                "digit on its coloured background, and its shape is the evidence (even 100 % of the signal filled "
                "leaves the black box at 0.89)"))

# -- Figure 5: mask scale ----------------------------------------------------------------------------------
register_claim(Claim(
    "diet.mask_scale", PAPER, "Figure 5",
    "A middle mask scale is best: pixel-perturbation AUC on f_v at u = 4 (the quick preset's u; 16×16 masks at "
    "64 px) at least that of finer (u = 2) and coarser (u = 8) masks",
    {}, SWEEP, _sweep([2, 4, 8]),
    best("u = 4", ["u = 2", "u = 8"]),
    note=NOTE + ", 100 images; the paper gives Figure 5's curves, no numbers (u = 8 of 224 px best: 28×28 masks, "
                "about ours at u = 4 of 64 px). The sweep in docs/measured.md: u = 2 / 4 / 8 / 16: 0.936 / 0.951 / "
                "0.930 / "
                "0.893 (fits of older code); learning rates scale with the number of mask cells"))

register_claim(Claim(
    "diet.mask_scale_paper", PAPER, "Figure 5",
    "At 224 px the paper's u = 8 is best: pixel-perturbation AUC on f_v at u = 8 at least that at u = 4 and u = 16",
    {}, SWEEP_PAPER, _sweep([4, 8, 16]),
    best("u = 8", ["u = 4", "u = 16"]),
    note="paper preset only (224 px, u = 8 by default; a GPU job: five DiET fits at 224 px); the paper gives "
         "Figure 5's curves, no numbers"))

# -- §5.4, Tables 4 and 5: the manipulated black box ---------------------------------------------------------
MANIPULATED_LABELS = {"DiET": "diet", "SmoothGrad": "smoothgrad", "Grad-CAM": "gradcam", "gradient": "gradient",
                      "Integrated Gradients": "integrated_gradients"}
MANIPULATED_NOTE = ("ours: quick preset, cnn_light trained with the gradient-manipulation loss (input gradients "
                    "pushed onto a fixed corner; docs/measured.md: test accuracy 0.931 against the honest 0.963), DiET "
                    "tuned on it, 200 test images")

register_claim(Claim(
    "diet.manipulated_iou", PAPER, "§5.4, Table 5",
    "On a black box manipulated to put its input gradients on an uninformative corner, gradient methods' maps "
    "break and DiET's do not: DiET's IoU is the best and gradient's falls to a third of DiET's or less",
    {"DiET": 0.454, "SmoothGrad": 0.158, "Grad-CAM": 0.040, "gradient": 0.002},
    MANIPULATED, metric_values("iou", MANIPULATED_LABELS),
    all_of(best("DiET", ["SmoothGrad", "Grad-CAM", "gradient", "Integrated Gradients"]),
           ratio("gradient", "DiET", 3)),
    note=MANIPULATED_NOTE + ". On the honest black box gradient's IoU is 0.218 against DiET's 0.308 (1.4×, "
                            "docs/measured.md), so the third tests the break. The run in docs/measured.md (older DiET "
                            "fits): gradient "
                            "0.218 → 0.042, Integrated Gradients 0.162 → 0.029, SmoothGrad 0.317 → 0.149, Grad-CAM "
                            "0.223 → 0.186, DiET 0.316 → 0.254 (a fifth lost; the paper: 0.461 → 0.454). The "
                            "paper's 'Input Grad' is our gradient; its FullGrad (0.333) is not run here"))

register_claim(Claim(
    "diet.manipulated_faithfulness", PAPER, "Table 4",
    "DiET's f_v tuned from the manipulated black box still agrees with it on original and simplified images "
    "(≥ 0.95 each; the paper: 0.990 / 0.980 on Hard MNIST)",
    {"original": 0.990, "simplified": 0.980},
    MANIPULATED, _faithfulness,
    all_of(at_least("original", 0.95), at_least("simplified", 0.95)),
    note=MANIPULATED_NOTE + "; the run in docs/measured.md (older DiET fits): 0.925 / 0.90 (the "
                            "issue's ≥ 0.95 missed there)"))

# -- the spurious patch (the paper's Chest X-ray design) --------------------------------------------------
SPURIOUS_NOTE = ("ours: spurious_patch (MNIST digits with random labels, a barely visible 8×8 noise patch on every "
                 "class-0 image: the paper's Chest X-ray design), quick preset, 200 test images; IoU counts the "
                 "images that have a patch (113 of 200)")

register_claim(Claim(
    "diet.spurious_iou", PAPER, "Table 1 (Chest X-ray)",
    "DiET finds the spurious patch the black box relies on: its IoU with the patch ≥ 0.6 and the best of the methods",
    {"DiET": 0.821, "SmoothGrad": 0.045, "Grad-CAM": 0.000, "gradient": 0.017},
    SPURIOUS, metric_values("iou", {"DiET": "diet", "SmoothGrad": "smoothgrad", "Grad-CAM": "gradcam",
                                    "gradient": "gradient"}),
    all_of(at_least("DiET", 0.6), best("DiET", ["SmoothGrad", "Grad-CAM", "gradient"])),
    note=SPURIOUS_NOTE + "; the run in docs/measured.md: DiET 0.697, Grad-CAM 0.560, gradient 0.554, SmoothGrad 0.125 "
                         "(the "
                         "paper's Grad-CAM scores 0 on X-rays, put down to its centrality bias); the paper's 'Input "
                         "Grad' is our gradient, its FullGrad (0.528) is not run here"))

register_claim(Claim(
    "diet.spurious_faithfulness", PAPER, "Table 2 (Chest X-ray)",
    "On the spurious-patch data DiET's f_v agrees with the black box on original and simplified images (≥ 0.95 "
    "each; the paper: 1.00 / 1.00 on Chest X-ray)",
    {"original": 1.0, "simplified": 1.0},
    SPURIOUS, _faithfulness,
    all_of(at_least("original", 0.95), at_least("simplified", 0.95)),
    note=SPURIOUS_NOTE + "; the run in docs/measured.md: 0.965 / 0.985"))
