"""Signal vs Distractor: does each map land on the object that defines the class (the ground
truth) or on the distractors around it? Thin: widgets + xai_core calls."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui import caches, helpers, job_ui, readiness, sidebar
from xai_core import figures, services, viz

selection = sidebar.sidebar()
ctx = readiness.load_or_stop(selection)
st.title("Signal vs Distractor")
if not ctx.info.has_ground_truth:
    st.info(f"{ctx.dataset} has no ground-truth masks. Pick a dataset that has them (hard_mnist, spurious_patch, "
            "parts, or an image folder with masks) to compare signal and distractor.")
    st.stop()
st.markdown("The green outline is the **signal**: the pixels that define the label. Everything else is a "
            "**distractor**. *mass in signal* is the share of a map's positive mass inside the outline (the "
            "`random` reference gives the chance level); *IoU* compares the map's top pixels with the outline. "
            "Below, the model side: accuracy when part of the signal or of the distractors is erased.")

rows, blocked = caches.offered_methods(*selection)
methods_all = [r.name for r in rows]
with st.form("signal"):
    methods = st.multiselect("Methods", methods_all, format_func=helpers.method_label(rows),
                             default=[m for m in ("random", "gradient", "smoothgrad", "gradcam") if m in methods_all])
    helpers.unavailable_note(blocked, ctx.dataset)
    n = st.slider("Test images", 4, min(500, len(ctx.test)), min(50, len(ctx.test)))
    run = st.form_submit_button("Compare", type="primary")
if run and methods:
    job_ui.run_stored("signal_result", selection, "evaluating …", lambda progress: services.evaluate(
        ctx, methods, ["mass_in_signal", "iou"], n, progress=progress))

result = job_ui.stored_result("signal_result", selection)
if result is not None:
    left, right = st.columns(2)
    left.plotly_chart(figures.scalar_figure(result, "mass_in_signal"), width="stretch")
    right.plotly_chart(figures.scalar_figure(result, "iou"), width="stretch")
    table = figures.scalar_rows(result)
    st.dataframe(table, hide_index=True, width="stretch", column_config=figures.table_labels(table))
    shown = list(result["results"])
else:
    st.info("Choose methods, then compare. The overlays below need no run.")
    shown = methods

st.subheader("Which pixels do the models need? (DiET's Table 6)")
st.caption("Accuracy when a random fraction of the distractor pixels, of the signal pixels, or of all pixels is "
           "replaced by the dataset mean colour; the same pixels for every model. Tuned models of fitted trained "
           "methods (DiET's f_v) are compared with the black box.")
tuned = [r.name for r in rows if r.trained and services.is_ready(ctx, r.name)]
signals = [s for s in services.MASKING_SIGNALS if s != "diet_mask" or "diet" in tuned]
signal = st.radio("Signal", signals, format_func=lambda s: services.MASKING_SIGNALS[s][0], horizontal=True,
                  help="the paper's Table 6 takes the pixels DiET's rounded masks keep (optimising 200 test masks "
                       "first: about 2 min at quick); the ground truth needs no DiET fit")
if st.button("Mask signal vs distractor"):
    job_ui.run_stored("masking_result", selection, "masking …",
                      lambda progress: services.region_masking(ctx, tuned, n=200, signal=signal, progress=progress))
masking = job_ui.stored_result("masking_result", selection)
if masking is not None:
    st.caption(f"Signal: {masking.get('signal_source', 'the ground-truth masks')}.")
    st.dataframe(figures.masking_rows(masking), hide_index=True, width="stretch")

st.subheader("Overlays: the map with the signal outlined")
start = st.number_input("First test sample", 0, max(0, len(ctx.test) - 6), 0, step=6)
indices = list(range(int(start), min(len(ctx.test), int(start) + 6)))
for index in indices:
    x, label, mask = ctx.test.sample(index)
    image = viz.to_uint8(x)
    cols = st.columns(1 + len(shown))
    cols[0].image(viz.contour_overlay(image, mask), caption=f"#{index} · {ctx.info.class_names[label]}",
                  width="stretch")
    if shown:
        heat, _ = viz.render_heatmaps(np.stack([caches.explanation(*selection, m, index)["scores"]
                                                for m in shown]))
        for col, m, h in zip(cols[1:], shown, heat):
            col.image(viz.contour_overlay(h, mask), caption=m, width="stretch")
