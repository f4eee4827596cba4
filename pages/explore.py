"""Explore: a dataset sample, the black box's prediction and every chosen method's map side by side.
Thin: widgets and calls into xai_core.services / xai_core.viz only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from pages.common import context, sidebar
from xai_core import services, viz
from xai_core.data import dataset_info
from xai_core.errors import XAIError
from xai_core.methods import METHODS
from xai_core.models import predict
from xai_core.uploads import EXTENSIONS, load_upload

DEFAULT_METHODS = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradcam"]


dataset, preset = sidebar()

try:
    info = dataset_info(dataset, preset)
    ctx = context(dataset, preset)
except XAIError as err:
    st.error(str(err))
    st.stop()

st.title("Explore")
st.caption(info.description)
available = services.usable(METHODS, info)
left, right = st.columns([1, 3])
with left:
    index = st.number_input("Test sample", 0, len(ctx.test) - 1, 0)
with right:
    methods = st.multiselect("Methods", available, default=[m for m in DEFAULT_METHODS if m in available])
with st.expander("Heatmap display"):
    c1, c2, c3 = st.columns(3)
    mode = c1.radio("Colour scale", viz.MODES, format_func=lambda m: m.replace("_", "-"))
    sign = c2.selectbox("Sign", viz.SIGNS)
    clip = c3.slider("Clip at percentile", 90.0, 100.0, 99.0, 0.5)

upload = st.file_uploader("…or upload your own image", type=list(EXTENSIONS),
                          help="PNG, JPEG, WebP or BMP; explained for the model's own top-1 class")
image_tensor = None
if upload is not None:
    try:
        image_tensor = load_upload(upload.getvalue(), info, upload.name)
    except XAIError as err:
        st.error(f"Could not use this upload: {err}. Showing the dataset sample instead.")

try:
    if image_tensor is not None:
        methods = [m for m in methods if m in services.usable(METHODS, replace(info, has_ground_truth=False))]
        batch, explanations = services.explain_images(ctx, methods, image_tensor[None])
    else:
        batch, explanations = services.explain_indices(ctx, methods, [int(index)])
except XAIError as err:
    st.error(str(err))
    st.stop()

image = viz.to_uint8(batch.x[0].cpu())
probs = predict(ctx.black_box, batch.x).softmax(1)[0].cpu()
top = probs.topk(min(3, len(probs)))
label = int(batch.y[0])
st.markdown(
    f"**Label:** {info.class_names[label] if label >= 0 else 'unknown'} · **Prediction:** "
    + ", ".join(f"{info.class_names[int(i)]} ({float(p):.1%})" for p, i in zip(top.values, top.indices))
)

cols = st.columns(2 + len(methods))
cols[0].image(image, caption="image", width="stretch")
if batch.masks is not None:
    cols[1].image(viz.contour_overlay(image, batch.masks[0].cpu()), caption="ground truth", width="stretch")
if methods:
    stack = [explanations[m].scores[0].cpu() for m in methods]
    heat, scales = viz.render_heatmaps(np.stack([s.numpy() for s in stack]), mode=mode, sign=sign, clip_percentile=clip)
    for col, name, h in zip(cols[2:], methods, heat):
        col.image(h, caption=name, width="stretch")
        col.image(viz.overlay(image, h), caption=f"{name} overlay", width="stretch")
    st.image(viz.colourbar(vertical=False, cmap=viz.DEFAULT_DIVERGING_CMAP if sign == "all" else viz.DEFAULT_CMAP),
             caption="colour scale: low → high", width=300)
accuracy = ctx.record.get("test_accuracy")
st.caption(f"Preset: {preset} · black box {ctx.record.get('arch', '?')}"
           + (f" · test accuracy {accuracy:.3f}" if accuracy is not None else " · pretrained"))
