"""About: one paragraph per method with its paper, and how to read each chart."""
from __future__ import annotations

import streamlit as st

from pages.ui import sidebar
from xai_core import services

sidebar.sidebar()
st.title("About")
st.markdown(
    "Attribution Explorer compares feature-attribution methods on images: five published methods, the classic "
    "post-hoc baselines, and the evaluation protocols their papers use, side by side on the same black box. "
    "Every result names its settings (fill colour, steps, target class) so numbers stay comparable."
)


def describe(rows: list[services.MethodRow]) -> None:
    """One paragraph per method, from its declared paper card."""
    for row in rows:
        paper = row.paper
        st.markdown(f"**{paper.title}** (`{row.name}`, {row.kind}) — {paper.summary}  \n*{paper.citation}*")


rows = services.method_rows()
st.header("Published methods")
describe([r for r in rows if r.published])
st.header("Baselines and references")
describe([r for r in rows if not r.published])

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
