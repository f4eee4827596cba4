"""MEED/AIL's claims (Liang et al., KDD 2020, Tables 2–4; docs/methods/meed.md), on ``mnist38`` and
``fashion_pullover_shirt``."""
from __future__ import annotations

from ..claims import Check, Claim, Measurement, all_of, at_least, metric_values, ordering, ratio, register_claim

PAPER = "meed"
# SEN as the paper: normalised by ||E(x)|| (Yeh et al.'s and the MEED authors' code), the baselines explaining the
# softmax output (App. B.2); both are the metric's defaults, named here so the command says so
TABLE3 = Measurement("evaluate", "mnist38", {"methods": ["meed", "l2x", "gradient", "input_x_gradient"],
                                             "metrics": ["fs_fu", "sen"], "n": 200,
                                             "metric_settings": {"sen": {"output": "softmax", "normalise": True}}},
                     presets=("quick", "paper"))
# the paper's adversarial term on Fashion-MNIST (§4.0.3, App. B.1): sliced Wasserstein, 128 directions, weight 1
# (MEED's default there since version 2; named so the command says so)
TABLE4 = Measurement("evaluate", "fashion_pullover_shirt", {"methods": ["meed", "l2x", "gradient", "input_x_gradient"],
                                                            "metrics": ["fs_fu"], "n": 500,
                                                            "configs": {"meed": {"adversary": "swd"}}})
TABLE2 = Measurement("components", "mnist38", {"method": "meed", "metrics": ["fs_fu"], "n": 200})
NOTE = "ours: quick preset (10 epochs), the offline 800 / 200 mnist38 digits (the paper: 11,982 / 1,984), 200 images"

register_claim(Claim(
    "meed.mnist_fidelity", PAPER, "Table 3",
    "On MNIST 3 vs 8 (k = 25 pixels), MEED's selection keeps the black box's class (FS-M ≥ 97 %) and its "
    "unselected pixels carry less of it than L2X's (lower FU-M)",
    {"MEED FS-M": 0.9904, "MEED FU-M": 0.7470, "L2X FU-M": 0.9118},
    TABLE3,
    lambda r: {**metric_values("fs_fu", {"MEED FS-M": "meed"}, "fs_m")(r),
               **metric_values("fs_fu", {"MEED FU-M": "meed", "L2X FU-M": "l2x"}, "fu_m")(r)},
    all_of(at_least("MEED FS-M", 0.97), ordering(["MEED FU-M", "L2X FU-M"], lower_is_better=True)),
    note=NOTE))

register_claim(Claim(
    "meed.mnist_sen", PAPER, "Table 3",
    "MEED's explanations are at least 10× more stable under ±0.2 noise than Gradient's and Gradient × Input's "
    "(SEN 6.11 vs 139 / 120)",
    {"MEED SEN": 6.11, "Gradient SEN": 139.0, "GI SEN": 120.0},
    TABLE3,
    metric_values("sen", {"MEED SEN": "meed", "Gradient SEN": "gradient", "GI SEN": "input_x_gradient"}),
    all_of(ratio("MEED SEN", "Gradient SEN", 10), ratio("MEED SEN", "GI SEN", 10)),
    note=NOTE + "; SEN normalised by ||E(x)|| as the paper's (Yeh et al.'s and the authors' eval_sensitivity2 "
                "divide by it), gradient and Gradient × Input explaining the softmax probability (App. B.2)",
    paper_units="%",
    missed="the baselines match the paper (gradient 1.22, Gradient × Input 0.99 against its 1.39 / 1.20, 2026-12-08); "
           "MEED's own SEN, 0.49, is 8× the paper's 0.061, so the gap is MEED's stability, not the metric. Why "
           "its selection moves more under ±0.2 noise at the quick preset (10 epochs on the 800 offline digits; "
           "the paper: 100 epochs on 11,982) is not measured; the paper preset's 100 epochs would test the "
           "epochs: `python -m xai_core reproduce --claims meed.mnist_sen --preset paper` (GPU)."))

# meed.mnist_sen_raw retired: its premise (the paper's SEN is unnormalised) is wrong; the authors' code normalises.

register_claim(Claim(
    "meed.fashion_fidelity", PAPER, "Table 4",
    "On Fashion-MNIST (pullover vs shirt, k = 64), MEED's selection keeps the black box's class (FS-M ≥ 95 %)",
    {"MEED FS-M": 0.978},
    TABLE4,
    metric_values("fs_fu", {"MEED FS-M": "meed"}, "fs_m"),
    at_least("MEED FS-M", 0.95),
    note="ours: quick preset (10 epochs on 6,000 of the 12,000 training images), 500 test images; the adversarial "
         "term is the paper's sliced Wasserstein distance (128 random directions, weight 1)",
    missed="the fit's own history (training FS-M per epoch, services.tasks.fit_history; the 2026-12-08 run): FS-M "
           "0.779 after epoch 1, 0.592 after epoch 2, then climbing slowly, 0.62-0.75 to epoch 10 (test: 0.758), "
           "while the approximator on the selection agrees with the black box 0.57 -> 0.89 -> 0.99 from epoch 3 and "
           "the one on the rest stays at chance (0.50-0.52): from epoch 2 the explainer is rewarded for a selection "
           "A_s can read from its shape (the combinatorial shortcut), not one f_b can read on the zero-filled "
           "image. Whether more epochs keep raising FS-M (it rose 0.59 -> 0.75 over epochs 2-10) or the paper's "
           "scale avoids the shortcut is untested: `python -m xai_core evaluate --dataset fashion_pullover_shirt "
           "--preset quick --methods meed --metrics fs_fu --set meed.epochs=30 --n 500`, and `python -m xai_core "
           "reproduce --claims meed.fashion_fidelity --preset paper` (GPU)."))

IMAGE_ABLATION = ("the paper's only ablation (Table 2) is on IMDB text, which we do not have, and it reports none on "
                  "images (its Figure 3, FS-M with vs without the prior, is the Train page's comparison); our "
                  "mnist38 values are shown for information")


def not_applicable(reason: str) -> Check:
    """A check that judges nothing: the paper's numbers are on data we do not have (verdict n/a, the reason)."""
    return Check(f"not applicable: {reason}", lambda ours, paper: (None, f"not applicable: {reason}"))


register_claim(Claim(
    "meed.ablation", PAPER, "Table 2",
    "On IMDB (text), each of MEED's output feedback and AIL raises FS-M (98.48 vs 92.47 without output feedback, "
    "78.31 without AIL); the prior leaves it (98.38) and only speeds the first epochs (its Figure 3)",
    {"MEED": 0.9848, "w/o output": 0.9247, "w/o AIL": 0.7831, "w/o prior": 0.9838},
    TABLE2,
    metric_values("fs_fu", {"MEED": "meed", "w/o output": "meed (w/o output)", "w/o AIL": "meed (w/o AIL)",
                            "w/o prior": "meed (w/o prior)"}, "fs_m"),
    not_applicable(IMAGE_ABLATION),
    note=NOTE + "; the paper's Table 2 is on IMDB"))
