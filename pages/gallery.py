"""Gallery: one method's maps on many samples at once (a 3×3 to 5×5 grid), each captioned with its
label and the black box's prediction, to see patterns a single sample hides. Thin: widgets and
calls into pages.ui / xai_core only."""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages.ui import caches, helpers, readiness, sidebar
from xai_core import services, viz
from xai_core.data.base import DatasetInfo
from xai_core.errors import XAIError

PREFERRED = "gradient"  # the default method where the dataset offers it

selection = sidebar.sidebar()
ctx = readiness.load_or_stop(selection)
info: DatasetInfo = ctx.info

st.title("Gallery")
st.caption("One method's maps on many samples at once, each captioned “label → prediction” (✓ correct, "
           "✗ misclassified): patterns a single sample hides.")


@st.cache_resource(show_spinner=False, max_entries=8)  # a 5×5 grid at 224 px: about 20 MB
def gallery(dataset: str, preset: str, model: services.ModelChoice, method: str, split: str,
            indices: tuple[int, ...], target: str) -> dict[str, Any]:
    """One batched call for the whole grid (numpy arrays), shared by every session of the server."""
    ctx = caches.context(dataset, preset, model)
    with helpers.work_slot():
        return services.explain_gallery(ctx, method, list(indices), split=split, target=target)


offered, blocked = caches.offered_methods(*selection)
rows = [services.method_row(r.name, ctx) for r in offered]  # whether each is ready: now, not cached
names = [r.name for r in rows]
if not names:
    st.info("No method is usable on this dataset.")
    st.stop()

c1, c2, c3 = st.columns([3, 2, 2])
# no defaults on the widgets (set here instead): sidebar.keep_choices restores them after other pages
sidebar.valid_choice("gallery_method", names, PREFERRED if PREFERRED in names else None)
sidebar.valid_choice("gallery_size", list(services.GALLERY_SIZES))
sidebar.valid_choice("gallery_target", list(services.GALLERY_TARGETS))
method = c1.selectbox("Method", names, key="gallery_method", help="the About page explains each method",
                      format_func=helpers.method_label(rows))
helpers.unavailable_note(blocked, ctx.dataset)
size = c2.selectbox("Grid", services.GALLERY_SIZES, key="gallery_size",
                    format_func=lambda n: f"{n}×{n}", help="samples per row and column")
target = c3.selectbox("Explain the class", services.GALLERY_TARGETS, key="gallery_target",
                      help="the black box's prediction (default) or the label; label-free methods (DiET, DoRaR, "
                           "COMET) explain the model's own behaviour, whatever the choice")

splits = services.evaluation_splits(info) or ["test"]
sidebar.valid_choice("gallery_split", splits)
split = (st.selectbox("Split", splits, key="gallery_split", help="where the samples come from")
         if len(splits) > 1 else splits[0])
labels, preds = (caches.predicted_labels(*selection) if split == "test" else caches.split_labels(*selection, split))
known = bool((labels >= 0).all())
c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
sidebar.valid_choice("gallery_class", ["any", *info.class_names])
sidebar.valid_choice("gallery_outcome", list(services.OUTCOMES))
st.session_state.setdefault("gallery_seed", 0)
cls = c1.selectbox("Class", ["any", *info.class_names], disabled=not known, key="gallery_class",
                   help="only samples of this label")
outcome = c2.selectbox("Prediction", services.OUTCOMES, disabled=not known, key="gallery_outcome",
                       help="correct: the black box predicts the label; misclassified: it does not")
seed = c3.number_input("Shuffle (0: the first samples)", min_value=0, max_value=2**31 - 1, step=1,
                       key="gallery_seed",
                       help="another number draws other samples among those matching the filters; the same number "
                            "always draws the same ones")
options = services.sample_indices(labels, preds, None if cls == "any" else info.class_names.index(cls),
                                  outcome if known else "all")
if not options:
    st.warning(f"No {split} sample matches these filters.")
    st.stop()
indices = services.gallery_indices(options, size * size, int(seed))
st.caption(f"{len(indices)} of {len(options)} matching {split} samples.")

if not readiness.training_notice(ctx, [method]):
    st.stop()  # a trained method not fitted yet: the notice offers a background fit

try:
    with st.spinner(f"Explaining {len(indices)} samples with {method} …"):
        result = gallery(*selection, method, split, tuple(indices), target)
except XAIError as err:
    st.error(str(err))
    st.stop()
except Exception as err:  # a bug: logged with its traceback; one line here
    helpers.show_error(helpers.failed(f"{method} on the gallery", err))
    st.stop()

with st.expander("Heatmap display"):
    d1, d2, d3 = st.columns(3)
    mode = d1.radio("Colour scale", viz.MODES, format_func=lambda m: m.replace("_", "-"), key="gallery_mode",
                    help="per-image: each map uses its own range; shared: one range over the whole grid")
    sign = d2.selectbox("Sign", viz.SIGNS, key="gallery_sign", help="which sign of the scores to show")
    st.session_state.setdefault("gallery_clip", 99.0)
    clip = d3.slider("Clip at percentile", 90.0, 100.0, step=0.5, key="gallery_clip",
                     help="saturate the top scores")

heat, _ = viz.render_heatmaps(result["scores"], mode=mode, sign=sign, clip_percentile=clip)
names_of = info.class_names


def caption(i: int) -> str:
    """"#index · label → prediction ✓/✗" of the grid's ``i``-th sample."""
    label, pred = int(result["labels"][i]), int(result["predictions"][i])
    said = names_of[label] if 0 <= label < len(names_of) else "?"
    return f"#{indices[i]} · {said} → {names_of[pred]} {'✓' if pred == label else '✗'}"


shown = []
for i in range(len(indices)):
    shown.append(viz.overlay(result["images"][i], heat[i]))
    if result["masks"] is not None:
        shown[-1] = viz.contour_overlay(shown[-1], result["masks"][i])
for start in range(0, len(indices), size):
    for col, i in zip(st.columns(size), range(start, min(start + size, len(indices)))):
        col.image(shown[i], caption=caption(i), width="stretch")
st.caption(f"{method} maps overlaid on each image, explaining the {target}"
           + (" (the outline: the ground truth)" if result["masks"] is not None else "")
           + f" · colour scale {mode.replace('_', '-')}.")

enlarge = st.selectbox("Enlarge a map", [None, *range(len(indices))], key="gallery_enlarge",
                       format_func=lambda i: "—" if i is None else caption(i),
                       help="open one sample's map large, with its colour bar and numeric range")
if enlarge is not None:
    legend = viz.colour_legend(result["scores"], [str(i) for i in indices], mode=mode, sign=sign,
                               clip_percentile=clip)
    helpers.show_enlarged(f"{method} · {caption(enlarge)}",
                          [(heat[enlarge], f"{method} map"), (shown[enlarge], f"{method} · overlay")],
                          [legend.captions[enlarge], legend.note], legend.bar)
