"""About: one paragraph per method with its paper, and how to read each chart."""
from __future__ import annotations

import streamlit as st

from pages import common
from xai_core import services

common.sidebar()
st.title("About")
st.markdown(
    "Attribution Explorer compares feature-attribution methods on images: five published methods, the classic "
    "post-hoc baselines, and the evaluation protocols their papers use, side by side on the same black box. "
    "Every result names its settings (fill colour, steps, target class) so numbers stay comparable."
)

# (method name in the registry, title, paper, paragraph)
PUBLISHED = [
    ("diet", "DiET — Distractor Erasure Tuning",
     "Bhalla, Srinivas & Lakkaraju. Discriminative Feature Attributions: Bridging Post Hoc Explainability and "
     "Inherent Interpretability. NeurIPS 2023.",
     "Learns a low-resolution binary mask per training image together with a copy of the black box, tuned so that "
     "it predicts the same class from the masked image as the black box does from the full one. The mask keeps "
     "only the discriminative pixels (the signal) and erases distractors, which are filled with a solid colour. "
     "To explain an image, a fresh mask is optimised against the frozen tuned copy: the heatmap is that mask "
     "(continuous, before rounding), the selection its rounding, and the simplified image what the copy sees."),
    ("dorar", "DoRaR — Double-sided Remove and Reconstruct",
     "Qin, Amariucai, Qiao, Guan & Fu. A Comprehensive and Reliable Feature Attribution Method: Double-sided "
     "Remove and Reconstruct (DoRaR).",
     "Trains a selector that keeps n_e explanation units (s_e×s_e pixel chunks, e.g. 4 chunks of 4×4 px) per "
     "image, together with two generators: G1 reconstructs the image from the selected units, G2 from the rest, "
     "the removed part filled with background noise drawn for each pixel from that pixel's empirical "
     "distribution over the training set. The selector is trained so that the black box keeps its prediction on "
     "G1's reconstruction and loses it on G2's (prediction and reconstruction losses on both sides; a relaxed "
     "top-n_e in training, the hard top-n_e at test time). It answers two problems. *Artifacts*: a classifier "
     "fed masked inputs sees images off its training distribution, so pixels can look important only because "
     "their removal confuses it; DoRaR shows the black box generators' reconstructions, never masked images. "
     "*EPITE* (encoding the prediction in the explanation): a selector trained with its own predictor can "
     "encode the class in the mask's shape (the paper's example: 72 % accuracy from one irrelevant pixel); "
     "per-pixel noise, unlike a constant or blurred fill, does not give the shape away, and the complement is "
     "trained and scored too: a mask that leaks the class through its shape leaves a complement that still "
     "predicts well. Explore outlines the selected units (red on the ground-truth object, yellow off it, as in "
     "the paper's Fig. 13) beside G1's and G2's reconstructions; each n_e is its own trained selector."),
    ("comet", "COMET — Comprehensive attribution with a feature detector",
     "Zhang, Lee & Wang. Comprehensive Attribution: Inherently Explainable Vision Model with Feature Detector.",
     "An inherently explainable model: a selector S(x) scores every pixel in [0, 1] and a predictor sees only "
     "the kept part, x_s = S(x)·x + (1 − S(x))·mean colour; the prediction it explains is the predictor's on x_s. "
     "Two problems of such selector–predictor pairs motivate it. *Incompleteness*: the selector keeps just "
     "enough evidence for the prediction (a dog's head) and masks out the rest (its body), so the map is not "
     "comprehensive. *Interlocking*: early in training the selector picks noise, the predictor learns to read "
     "that noise, and the selector is rewarded for picking it again. COMET adds a feature detector — the black "
     "box itself, frozen — that sees only what was masked out, x_1−s; the selector is penalised whenever the "
     "detector still recognises the class there (−a·CE of the detector), which pushes all discriminative "
     "evidence into the map and breaks the loop, since the detector never fits the selector's noise. A "
     "hinge keeps the mask at most a share t of the image. Explore shows S(x), x_s and x_1−s, the predictor's "
     "class next to the black box's, and both models' test accuracy (clean and with 10 % of the pixels "
     "removed). `comet_td` is the paper's ablation whose detector is trained on the masked-out regions "
     "instead; `--randomize-labels` (Train: *fit on randomised labels*) fits any trained method on shuffled "
     "labels for the data-randomisation sanity check (the paper's COMET-DR)."),
    ("comet_td", "COMET-TD — COMET with a trainable detector (the paper's ablation)",
     "Zhang, Lee & Wang, as above (Fig. 3).",
     "COMET whose detector starts untrained and learns, jointly with the selector and predictor, to classify the "
     "masked-out regions x_1−s. The paper shows why it is worse: a detector trained on masked-out regions fits "
     "their noise instead of spotting the discriminative features left there, so it penalises the selector "
     "less reliably than the frozen, fully trained black box."),
    ("input_iba", "InputIBA (with IBA) — information-bottleneck attribution",
     "Zhang, Khakzar, Li, Farshad, Kim & Navab. Fine-Grained Neural Network Explanation by Identifying Input "
     "Features with Predictive Information. NeurIPS 2021 (IBA: Schulz et al., ICLR 2020).",
     "Per image, optimises how much noise each feature can take while the prediction survives: IBA at a hidden "
     "layer gives a coarse map, which (through a learned generative prior) guides a second bottleneck on the "
     "input itself for a fine-grained map. Explore shows IBA's feature capacity, the prior λ_G and the final "
     "input mask side by side; the bottleneck layer is a deep layer at about 1/8 of the input."),
    ("iba", "IBA — Information Bottleneck Attribution",
     "Schulz, Sixt, Tombari & Landgraf. Restricting the Flow: Information Bottlenecks for Attribution. ICLR 2020.",
     "Per image, replaces a hidden layer's features by a mix of the features and noise, λ·R + (1−λ)·ε, and "
     "learns the mix so that the prediction survives with as little information as possible. The map is the "
     "information (bits) each location still lets through, resized to the input: coarse but faithful."),
    ("meed", "MEED with AIL — Adversarial Infidelity Learning",
     "Liang, Bai, Cao, Bai & Wang. Adversarial Infidelity Learning for Model Interpretation. KDD 2020.",
     "A trained (amortised) explainer E(x, ŷ) scores every feature unit — pixels up to 32 px, 4×4 max-pooled "
     "blocks above — in one forward pass; the explanation is the top k units of z, the softmax over the units "
     "(k = 25 on `mnist38`, 64 on `fashion_pullover_shirt`, else 10 % of the units; Explore's k picker changes "
     "how many are shown without a refit). *Model-output feedback*: the black box's output ŷ enters E as an "
     "extra input plane. Training draws a soft k-hot mask v by L2X's Gumbel-softmax top-k (τ = 0.5) and trains "
     "two approximators with the black box's architecture to predict ŷ's class: A_s from the selected "
     "features x⊙v (loss L_s), A_u from the rest x⊙(1−v) (L_u). *AIL* (adversarial infidelity learning): "
     "E is trained on L_s plus an adversarial term L_adv that makes the unselected features useless to A_u "
     "(binary tasks: cross-entropy against the flipped target 1 − ŷ; more classes: against the uniform "
     "distribution, a bounded stand-in for the paper's sliced Wasserstein form), so nothing predictive is left "
     "behind and the class cannot hide in the mask's shape. *Prior warm start*: early epochs sample from "
     "z̃ ∝ (z^m · r)^(1/(m+1)) at epoch m, where r = |∇f_b(x)·x| is Gradient × Input pooled to units; the prior "
     "fades as m grows (plus an MAE pull towards z̃ on images above 32 px). Weight of the A_u terms: 1e-3 on "
     "MNIST, 1 elsewhere; Adadelta, batch 128. Explore shows the selected pixels over the image, the "
     "selected-only and unselected-only inputs (zero fill) and the black box's class on each; Train shows the "
     "losses and FS-M per epoch and the paper's Figure 3 (FS-M with vs without the prior); Ablations runs the "
     "paper's Table 2 (MEED without output feedback, without AIL, without the prior)."),
    ("l2x", "L2X — Learning to Explain (MEED's baseline)",
     "Chen, Song, Wainwright & Jordan. Learning to Explain: An Information-Theoretic Perspective on Model "
     "Interpretation. ICML 2018.",
     "MEED's machinery without its three additions: an explainer that sees only x scores the units, a "
     "Gumbel-softmax top-k mask is sampled, and one approximator learns the black box's class from the selected "
     "features; no output feedback, no adversary on the unselected features, no prior. Its FU-M tends to stay "
     "high: the features it leaves out still carry the class."),
]
BASELINES = [
    ("gradient", "Gradient (saliency)", "Simonyan, Vedaldi & Zisserman, ICLR workshop 2014.",
     "The absolute gradient of the class score with respect to each pixel: where a tiny change moves the score."),
    ("input_x_gradient", "Input × Gradient", "Shrikumar et al., 2016.",
     "The gradient times the input: a first-order estimate of each pixel's contribution."),
    ("smoothgrad", "SmoothGrad", "Smilkov et al., 2017.",
     "Gradients averaged over noisy copies of the image, which removes much of the gradient's speckle."),
    ("integrated_gradients", "Integrated Gradients", "Sundararajan, Taly & Yan, ICML 2017.",
     "Gradients integrated along a straight path from a baseline (here the dataset mean colour) to the image; "
     "the attributions sum to the score difference."),
    ("gradcam", "Grad-CAM", "Selvaraju et al., ICCV 2017.",
     "Feature maps of the last convolutional layer weighted by their pooled gradients, upsampled: coarse but "
     "class-specific."),
    ("fullgrad", "FullGrad", "Srinivas & Fleuret, NeurIPS 2019.",
     "Input gradients plus the bias gradients of every layer, aggregated over the network."),
    ("lime", "LIME", "Ribeiro, Singh & Guestrin, KDD 2016.",
     "Fits a weighted linear surrogate of the class score on random copies of the image in which each explanation "
     "unit (the s_e×s_e chunks DoRaR uses) is kept or filled with the dataset mean colour; a unit's score is its "
     "coefficient (signed)."),
    ("random", "Random (reference)", "—", "A random map: the chance level every metric should beat."),
    ("ground_truth", "Ground truth (reference)", "—",
     "The true object mask, where the dataset has one: the best any localisation metric can do."),
]


def describe(entries: list[tuple[str, str, str, str]]) -> None:
    available = {r.name for r in services.method_rows()}
    for name, title, paper, text in entries:
        state = "available" if name in available else "coming soon"
        st.markdown(f"**{title}** (`{name}`, {state}) — {text}  \n*{paper}*")


st.header("Published methods")
describe(PUBLISHED)
st.header("Baselines and references")
describe(BASELINES)

st.header("How to read the charts")
st.markdown("""
- **Heatmaps** (Explore): brighter = more important for the explained class (the label, or the model's top-1 for
  uploads). *Per-image* scaling makes each map use its full colour range; *shared* keeps one range so methods
  can be compared by brightness. The green outline is the ground-truth object.
- **Pixel perturbation** (Evaluate): keep only the top p % of pixels by the map, fill the rest with the dataset's
  mean colour, and measure accuracy. Higher curves mean the map found the pixels the model needs.
- **Deletion**: remove the most important pixels first; the target probability should fall fast.
  **Lower** area under the curve is better.
- **Insertion**: put the most important pixels back into a blurred image first; the probability should rise
  fast. **Higher** area is better.
- **IoU** and **PxAP**: overlap of the map with the ground-truth mask (top pixels vs mask; precision-recall
  over thresholds). **Mass in signal**: share of the positive attribution inside the mask; the random map's
  value is the chance level.
- **Sensitivity-n**: remove n random pixels many times; the correlation between the map's sum over those
  pixels and the drop of the class score. Higher = the map predicts what removing pixels does.
- **Sanity** (cascading randomisation): re-initialise the model's layers from the top down and compare the new
  map with the original (SSIM). A method that explains the model must change: **lower** is better.
- **EHR** (effective heat ratio): the share of the map's heat above each quantile threshold that lies inside
  the ground truth, averaged over thresholds: rewards maps that are both on the object and sharp.
- **a1 / a2** (Evaluate, metric `a1a2`: DoRaR's evaluation scheme, for any method): each map keeps its top n_e
  units; per method and seed, fresh generators learn to rebuild images from those units (G1) and from the rest
  (G2), the removed part filled with per-pixel noise. a1 and a2 are the black box's accuracy (agreement with its
  prediction on the original) on G1's and G2's reconstructions. **a1 high**: the units carry the class;
  **a2 low**: the rest does not (a high a2 also exposes a mask whose shape gives the class away). On the
  scatter (x = a2, y = a1) the **upper left** is best; bars are ±1 std over the generators' seeds. Compare
  methods at equal n_e and unit size: more or larger units make both a high a1 and a low a2 easier.
- **Hit rate**: the share of the top n_e units that overlap the ground-truth object.
- **Fidelity (removal)** (`fidelity_removal`, COMET's Table 5): remove each map's top 5 / 10 / 20 % pixels (filled
  with the mean colour) and score the explained model's accuracy (COMET: the selector and predictor together, so
  the selector sees the damaged image). **Lower** is better: the removed pixels were the ones it needed. One
  trace per method, accuracy against the share removed.
- **IoU curve** (`iou_curve`, COMET's Table 3): each map scaled to [0, 1], thresholded at t = 0, 0.05, …, 1; the
  IoU of the pixels above t with the ground truth, against t. The area under it (**higher** is better) rewards
  maps that cover the object at every threshold, not just at their peak.
- **Robustness** (`robustness`, COMET's Table 6): PxAP of the maps on the clean images, after 20 % of the pixels
  are removed at random, and on the same objects over new backgrounds (the `test_background` split of `parts`
  and `hard_mnist`). A robust method keeps its clean PxAP in both columns.
- **Data-randomisation check** (Evaluate, bottom): a trained method's IoU-curve AUC and PxAP beside its fit on
  shuffled labels. A method that learned the objects from the labels must fall to near the random map's level.
- **Resolution ablation** (Ablations): the same metric after averaging each map over u×u blocks; a flat line
  means the method's evidence is coarse, a falling one that it relied on fine detail.
- **FS-M / FU-M / FS-A / FU-A** (`fs_fu`, MEED's Tables 3–4; Evaluate's fidelity table and scatter): each map
  keeps its top k feature units (x_S, the rest zero) or loses them (x_U, the top k zeroed). FS-M and FU-M: how
  often the black box's top-1 on x_S / x_U agrees with its top-1 on the full image. FS-A and FU-A: the same with
  approximators A'_S / A'_U (the black box's architecture, retrained on masked training images), which rules out
  the black box simply being confused by zeroed inputs. **FS high** (↑): the selected features carry the
  decision; **FU low** (↓): the rest does not. On the FS-M vs FU-M scatter the **upper left** is best. Compare
  methods at the same k.
- **SEN** (`sen`): max-sensitivity (Yeh et al.) — the largest relative change of the map, ||E(x + δ) − E(x)|| /
  ||E(x)||, over several draws of uniform noise δ in [−0.2, 0.2]. **Lower** is better: a stable explanation.
  The table's *ms / image* is the time spent explaining, per image.
- Every chart prints its settings (fill, steps, model, n) beside it: compare numbers only under equal settings.
""")
