"""DiET's claims (Bhalla et al., NeurIPS 2023, docs/methods/diet.md: Tables 1, 2, 4–6 and Figure 5), on
``hard_mnist`` and ``spurious_patch``.

The quick preset runs six measurements (times from docs/measured.md's "DiET" section, 2 CPU cores):

- ``MAIN``: hard_mnist, DiET and four baselines, 200 test images (Tables 1 and 2). DiET's quick fit dominates:
  ~33 min from an empty cache on the shared 2-core machine (docs/measured.md's older idle-machine timing: 139 s), then
  ~0.5 s per image to explain (~2 min); the baselines and metrics take ~1 min more.
- ``FAITHFULNESS``: Table 2's agreement on 1,000 test images with f_v tuned on all 8,000 training images (the quick
  fit tunes on 1,500): one DiET fit about five times MAIN's, then 1,000 test masks (~1 s each).
- ``MASKING``: Table 6 on the same fit, 200 images, the signal = DiET's own rounded test masks (the paper's, App. 8):
  200 more DiET test masks to optimise (~2 min at quick), then forward passes.
- ``SWEEP``: Figure 5's mask scale u = 1, 2, 4 on 100 images (quick only). The paper's best u = 8 of 224 px gives
  28×28 mask cells; at 64 px the preset's u = 2 gives 32×32 (u = 4: 16×16, the paper's u ≈ 14–16; u = 1: every
  pixel). u = 2 is MAIN's fit (the fit's cache key has no test-time settings); u = 1 and u = 4 are two more DiET
  fits (each about as long as MAIN's) plus ~1 min of test masks per value. Judged where the paper judges (Table 7:
  90–99 % masked), image by image (:class:`~xai_core.reproduce.claims.SweepBand`). ``SWEEP_PAPER`` (u = 4, 8, 16
  at 224 px) is the paper preset's version.
- ``MANIPULATED``: §5.4 on the gradient-manipulated black box, 200 images: its training (~4 min, plus up to 10 extra
  epochs until its gradient IoU is ≤ 0.05; the claims are judged only once it is) plus one DiET fit on it (as long
  as MAIN's) and the baselines (~2 min).
- ``SPURIOUS``: spurious_patch, 200 images (113 with a patch): one DiET fit on 1-channel 64-px images (not timed on
  its own in docs/measured.md; at most MAIN's) plus ~2 min.

From an empty cache DiET's quick claims cost five DiET fits (about 2.5 h at ~30 min each on the busy machine; ~12
min at the older 139 s) and ~15 min besides; every fit is cached by the services and shared between measurements.
"""
from __future__ import annotations

from typing import Any

from ..claims import (Claim, Measurement, all_of, at_least, at_most, best, best_paired, joined_values, metric_values,
                      ordering, provided, ratio, register_claim, sweep_band)

PAPER = "diet"
BASELINES = ["gradient", "smoothgrad", "gradcam", "fullgrad"]
MAIN = Measurement("evaluate", "hard_mnist", {
    "methods": ["diet", *BASELINES],
    "metrics": ["iou", "mass_in_signal", "faithfulness", "faithfulness_simplified", "pixel_perturbation",
                "pixel_perturbation_black_box"],
    "n": 200})
#: Table 2's agreement with the interval the issue asks for: 1,000 test images (0.945 on 200 is 11 disagreements, an
#: interval that contains 0.95) and f_v tuned on the whole training split (all 8,000 images; the quick fit tunes on
#: 1,500)
FAITHFULNESS = Measurement("evaluate", "hard_mnist", {
    "methods": ["diet"], "metrics": ["faithfulness", "faithfulness_simplified"], "n": 1000,
    "configs": {"diet": {"train_images": 8000}}})
MASKING = Measurement("masking", "hard_mnist", {"methods": ["diet"], "n": 200})
SWEEP = Measurement("sweep", "hard_mnist", {"method": "diet", "setting": "u", "values": [1, 2, 4],
                                            "metric": "pixel_perturbation", "n": 100}, presets=("quick",))
SWEEP_PAPER = Measurement("sweep", "hard_mnist", {"method": "diet", "setting": "u", "values": [4, 8, 16],
                                                  "metric": "pixel_perturbation", "n": 100}, presets=("paper",))
MANIPULATED = Measurement("evaluate", "hard_mnist", {
    "methods": ["diet", "gradient", "smoothgrad", "gradcam", "integrated_gradients"],
    "metrics": ["iou", "faithfulness", "faithfulness_simplified"], "n": 200}, model="manipulated")
SPURIOUS = Measurement("evaluate", "spurious_patch", {
    "methods": ["diet", "gradient", "smoothgrad", "gradcam"],
    "metrics": ["iou", "faithfulness", "faithfulness_simplified"], "n": 200})

NOTE = ("ours: quick preset (64 px, cnn_light, DiET tuned on 1,500 training images for 2 of the 5 rounds, u = 2: "
        "32×32 mask cells; the paper: 224 px ResNet-18, u = 8: 28×28), the first 200 test images")
IOU_LABELS = {"DiET": "diet", "FullGrad": "fullgrad", "Grad-CAM": "gradcam", "SmoothGrad": "smoothgrad",
              "gradient": "gradient"}
F_V = "diet (tuned model)"  # region_masking's name for DiET's tuned model
MASKED = (0.2, 0.8)  # the fractions both the paper's Table 6 and our run have
KEPT = (0.01, 0.1)  # the pixels kept where the paper judges mask scale (Figure 5, Table 7: 90–99 % masked)


# -- readers for results that are not evaluate()'s -----------------------------------------------------
#: DiET's agreement with the black box on the original and the simplified images, with their intervals
_faithfulness = joined_values(metric_values("faithfulness", {"original": "diet"}),
                              metric_values("faithfulness_simplified", {"simplified": "diet"}))


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


def _band(values: list[int], best: int):
    """setting_sweep's per-image pixel-perturbation accuracy → per u its mean over images of each image's mean
    over the kept fractions of :data:`KEPT` (``"u = 2"``), and ``best``'s paired advantage over each other u
    (``"u = 2 − u = 1"``, with ``… low`` / ``… high``: its 95 % paired-bootstrap interval)."""
    return sweep_band("diet", "u", values, *KEPT, paired=best)


# -- Table 1 and Table 2: hard_mnist --------------------------------------------------------------------
BASELINE_LABELS = {k: v for k, v in IOU_LABELS.items() if k != "DiET"}
register_claim(Claim(
    "diet.iou_best", PAPER, "Table 1",
    "On Hard MNIST, DiET's masks overlap the digit best: IoU of DiET above that of every baseline "
    "(FullGrad, Grad-CAM, SmoothGrad, gradient)",
    {"DiET": 0.461, "FullGrad": 0.389, "Grad-CAM": 0.295, "SmoothGrad": 0.252, "gradient": 0.117},
    MAIN, metric_values("iou", IOU_LABELS),
    all_of(*(ordering(["DiET", b]) for b in BASELINE_LABELS)),
    note=NOTE + ". The run in docs/measured.md (u = 4, older code) missed it: DiET 0.308 against SmoothGrad 0.318 "
                "(issue target ≥ 0.40). u = 4 at 64 px gives 16×16 cells, the paper's u ≈ 14–16 at 224 px rather "
                "than its u = 8: the ground truth itself, pooled into u = 4 cells and upsampled bilinearly, reaches "
                "IoU 0.623 [0.605, 0.643], into u = 2 cells 0.897 [0.887, 0.908] (first 200 test images, "
                "scripts/diet_cell_ceiling.py, results/diet_cell_ceiling_quick.json; the paper's 28×28 cells at "
                "224 px: 0.838). The paper's 'Input Grad' is our gradient",
    missed="DiET's IoU grows with the cell size at the quick preset, against the ground truth's ceiling: u = 1 "
           "0.169, u = 2 (the preset) 0.254, u = 4 0.308 (first 200 test images, the mask-scale sweep's fits, one "
           "code version: python -m xai_core ablate --dataset hard_mnist --preset quick --methods diet --sweep "
           "u=1,2,4 --metric iou --n 200, results/diet_iou_u_sweep_quick.json), all below SmoothGrad's 0.318, while "
           "the cells' ceiling falls from 0.897 (u = 2) to 0.623 (u = 4). The paper's 5 rounds instead of the quick "
           "preset's 2 do not close the gap: 0.265 [0.242, 0.289] against 0.252 [0.230, 0.276] on the same 200 "
           "images (2026-12-08: python -m xai_core evaluate --dataset hard_mnist --preset quick --methods diet --set "
           "diet.rounds=5 --metrics iou,mass_in_signal --n 200, results/diet_rounds5_iou_quick.json). Left: the "
           "paper's scale (224 px, ResNet-18): python -m xai_core reproduce --claims diet.iou_best --preset paper"))

register_claim(Claim(
    "diet.iou_baseline_order", PAPER, "Table 1",
    "On Hard MNIST the baselines' IoU falls in the order of the paper's ResNet-18: FullGrad > Grad-CAM > "
    "SmoothGrad > gradient",
    {"FullGrad": 0.389, "Grad-CAM": 0.295, "SmoothGrad": 0.252, "gradient": 0.117},
    MAIN, metric_values("iou", BASELINE_LABELS),
    ordering(list(BASELINE_LABELS)),
    note=NOTE + ". An order of the paper's black box, not a claim about DiET: it may fail on our architecture "
                "(cnn_light: four conv stages, global max pooling). Measured (top-1 explained, 200 images, "
                "results/diet_baselines_iou_quick.json): FullGrad 0.242 [0.229, 0.256], Grad-CAM 0.223 [0.209, "
                "0.236], SmoothGrad 0.318 [0.308, 0.329], gradient 0.219 [0.211, 0.228]: SmoothGrad leads both CAM "
                "methods, its interval apart from theirs. Not the CAMs' resolution: cnn_light's last stage is 8×8 at "
                "64 px as ResNet-18's is 7×7 at 224 px, and the ground truth pooled into 8-px cells still reaches "
                "IoU 0.377 (results/diet_cell_ceiling_quick.json). Why our black box orders them otherwise: not "
                "measured (the paper preset's ResNet-18 would test it: python -m xai_core evaluate --dataset "
                "hard_mnist --preset paper --methods gradient,smoothgrad,gradcam,fullgrad --metrics iou --n 200)"))

register_claim(Claim(
    "diet.faithfulness", PAPER, "Table 2",
    "DiET's tuned model f_v agrees with the black box f_b on the original images and on DiET's simplified "
    "images (≥ 0.95 each; the paper: 0.996 / 0.987 on Hard MNIST)",
    {"original": 0.996, "simplified": 0.987},
    FAITHFULNESS, _faithfulness,
    all_of(at_least("original", 0.95), at_least("simplified", 0.95)),
    note="ours: quick preset (64 px, cnn_light, u = 2) but DiET tuned on all 8,000 training images for 2 of the 5 "
         "rounds, the first 1,000 test images; simplified = each test image on its own rounded DiET mask (upsampled "
         "bilinearly as in training), the mean colour elsewhere (the authors' script scores the training images)"))

# -- Table 6: signal vs distractor --------------------------------------------------------------------------
register_claim(Claim(
    "diet.signal_distractor", PAPER, "Table 6",
    "DiET's f_v keeps its accuracy when distractor pixels are erased but not when signal pixels are: with 80 % "
    "of a region filled, accuracy on masked distractor > on masked signal and > on random pixels",
    {"distractor 20%": 0.971, "signal 20%": 0.772, "random 20%": 0.965,
     "distractor 80%": 0.960, "signal 80%": 0.339, "random 80%": 0.587},
    MASKING, _masked,
    all_of(ordering(["distractor 80%", "signal 80%"]), ordering(["distractor 80%", "random 80%"])),
    note=NOTE + "; masked pixels filled with the dataset mean colour; signal = the pixels DiET's own rounded test "
                "masks keep, distractor = the rest, as the paper's table (with its CelebA results: the regions "
                "DiET's masks show); the result's 'signal' says which. Not yet measured that way at quick. The "
                "older run in docs/measured.md used the ground-truth digit as the signal (`signal_distractor "
                "--signal ground_truth`; f_v, 20 / 50 / 80 %: distractor 0.935 / 0.83 / 0.75, signal 0.95 / 0.915 "
                "/ 0.855, random 0.905 / 0.535 / 0.14) and missed the signal half: filling the digit's pixels "
                "repaints it as a grey digit on its coloured background, and its shape is the evidence"))

# -- Figure 5: mask scale ----------------------------------------------------------------------------------
register_claim(Claim(
    "diet.mask_scale", PAPER, "Figure 5",
    "A middle mask scale is best: where the paper judges it (90–99 % of the pixels masked), f_v's pixel-perturbation "
    "accuracy with u = 2 masks (32×32 cells at 64 px: the counterpart of the paper's best u = 8, 28×28 cells at "
    "224 px) above that with finer (u = 1) and coarser (u = 4, 16×16) masks, image by image",
    {}, SWEEP, _band([1, 2, 4], best=2),
    best_paired("u = 2", ["u = 1", "u = 4"]),
    note=NOTE + ", 100 images; each u's value is the mean over images of the accuracy at 1, 2, 5 and 10 % of the "
                "pixels kept (Table 7's 99 / 98 / 95 / 90 % masked), the differences paired over the same images "
                "(bootstrap, 2000 resamples, seed 0). The paper gives Figure 5's curves, no numbers. The whole-axis "
                "AUC the claim used to judge is ~91 % decided at ≥ 10 % kept, where every u scores ≈ 1 (last run: "
                "u = 2 / 4 / 8: 0.9407 / 0.9406 / 0.9395, fits of older code): still in the JSON's summary. Mask "
                "resolution alone caps IoU at 1.0 / 0.897 / 0.623 for u = 1 / 2 / 4 (results/"
                "diet_cell_ceiling_quick.json). Learning rates scale with the number of mask cells",
    missed="u = 2 is the best of the three on the 100 images (2026-12-08: 0.848 against u = 1 0.785 and u = 4 "
           "0.843) and its lead over u = 1 separates (+0.063 [0.005, 0.120]), but over u = 4 it is +0.005 [-0.038, "
           "0.048]: where the paper judges, u = 2 and u = 4 masks keep f_v's prediction alike at 64 px (the fits of "
           "2026-12-07, older code: +0.043 [-0.003, 0.088]). More images would narrow it (python -m xai_core ablate "
           "--dataset hard_mnist --preset quick --methods diet --sweep u=1,2,4 --metric pixel_perturbation --n 1000)"))

register_claim(Claim(
    "diet.mask_scale_paper", PAPER, "Figure 5",
    "At 224 px the paper's u = 8 is best: where the paper judges it (90–99 % masked), f_v's pixel-perturbation "
    "accuracy at u = 8 above that at u = 4 and u = 16, image by image",
    {}, SWEEP_PAPER, _band([4, 8, 16], best=8),
    best_paired("u = 8", ["u = 4", "u = 16"]),
    note="paper preset only (224 px, u = 8 by default; a GPU job: five DiET fits at 224 px); the paper gives "
         "Figure 5's curves, no numbers; judged as diet.mask_scale (1–10 % kept, paired bootstrap)"))

# -- §5.4, Tables 4 and 5: the manipulated black box ---------------------------------------------------------
MANIPULATED_LABELS = {"DiET": "diet", "SmoothGrad": "smoothgrad", "Grad-CAM": "gradcam", "gradient": "gradient",
                      "Integrated Gradients": "integrated_gradients"}
MANIPULATED_NOTE = ("ours: quick preset, cnn_light trained with the gradient-manipulation loss (input gradients "
                    "pushed onto a fixed corner; test accuracy 0.943 against the honest 0.963, 2026-12-08), DiET "
                    "tuned on it, 200 test images. Judged only once the black box is verified as manipulated: its "
                    "gradient IoU with the digit ≤ 0.05 on 200 held-out test images (its training record; it trains "
                    "extra epochs until then, at most 10)")

GRADIENT_IOU = "black box gradient IoU"  # the manipulated model's own check (xai_core.models.training)
MANIPULATION_TARGET = 0.05  # verified once its gradient IoU with the digit is at most this (issue 26)
VERIFIED = at_most(GRADIENT_IOU, MANIPULATION_TARGET)


def _gradient_iou(result: dict[str, Any]) -> dict[str, float | None]:
    """The manipulated black box's gradient IoU from its training record (None when the record has no check:
    a model trained before the check existed)."""
    check = result.get("settings", {}).get("black_box", {}).get("manipulation_check") or {}
    iou = check.get("gradient_iou")
    return {GRADIENT_IOU: None if iou is None else float(iou)}


def _with_gradient_iou(read):
    """``read``'s values (and intervals) plus the manipulated black box's gradient IoU."""
    return joined_values(read, _gradient_iou)


register_claim(Claim(
    "diet.manipulated_iou", PAPER, "§5.4, Table 5",
    "On a black box manipulated to put its input gradients on an uninformative corner, gradient methods' maps "
    "break and DiET's do not: DiET's IoU is the best and gradient's falls to a third of DiET's or less",
    {"DiET": 0.454, "SmoothGrad": 0.158, "Grad-CAM": 0.040, "gradient": 0.002},
    MANIPULATED, _with_gradient_iou(metric_values("iou", MANIPULATED_LABELS)),
    provided(VERIFIED, all_of(best("DiET", ["SmoothGrad", "Grad-CAM", "gradient", "Integrated Gradients"]),
                              ratio("gradient", "DiET", 3))),
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
    MANIPULATED, _with_gradient_iou(_faithfulness),
    provided(VERIFIED, all_of(at_least("original", 0.95), at_least("simplified", 0.95))),
    note=MANIPULATED_NOTE + "; the run in docs/measured.md (older DiET fits): 0.925 / 0.90 (the "
                            "issue's ≥ 0.95 missed there)",
    missed="on the simplified images 0.915 [0.875, 0.950] on 200 test images (2026-12-08; the black box verified: "
           "gradient IoU 0.041): the interval reaches 0.95 only at its upper end. The honest model's claim "
           "(diet.faithfulness) is judged on 1,000 images with f_v tuned on all 8,000 training images and holds at "
           "0.972 / 0.950; this one still runs the quick fit (1,500 images) on 200. The run that would tell: "
           "python -m xai_core evaluate --dataset hard_mnist --preset quick --manipulated --methods diet --metrics "
           "faithfulness,faithfulness_simplified --set diet.train_images=8000 --n 1000"))

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
