"""Explore: a dataset sample (or an upload), the black box's prediction, and every chosen
method's map side by side. Thin: widgets and calls into pages.ui / xai_core only."""
from __future__ import annotations

import random

import numpy as np
import streamlit as st

from pages import model_compare
from pages.ui import caches, helpers, job_ui, readiness, sidebar, url_state
from xai_core import export, services, viz
from xai_core.data.base import DatasetInfo
from xai_core.data.decode import display_name
from xai_core.errors import XAIError
from xai_core.progress import no_progress, prefixed
from xai_core.services import catalog
from xai_core.uploads import EXTENSIONS, read_upload, upload_warnings

GRID_COLUMNS = 4  # at most this many maps per row: more methods wrap to new rows, never shrink

selection = sidebar.sidebar()
ctx = readiness.load_or_stop(selection)
info: DatasetInfo = ctx.info

st.title("Explore")
st.caption(info.description)


def pick_split(disabled: bool = False) -> str:
    """The split the sample comes from, among the dataset's evaluation splits (shown when there are
    several); ``disabled`` while an upload is shown."""
    splits = services.evaluation_splits(info)
    if len(splits) < 2:
        return splits[0] if splits else "test"
    url_state.restore("split", "explore_split", lambda text: url_state.choice(text, splits))
    if st.session_state.get("explore_split") not in splits:
        st.session_state["explore_split"] = splits[0]
    return st.selectbox("Split", splits, key="explore_split", disabled=disabled,
                        help="where the sample comes from: the test split or an evaluation-only variant of it "
                             "(e.g. new backgrounds, a flipped shortcut)")


def pick_sample(disabled: bool = False) -> int:
    """Class / outcome filters, a sample selector and a random button (all ``disabled`` while an
    upload is shown); returns the index in ``split``."""
    labels, preds = (caches.predicted_labels(*selection) if split == "test"
                     else caches.split_labels(*selection, split))
    known = bool((labels >= 0).all())
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    cls = c1.selectbox("Class", ["any", *info.class_names], disabled=disabled or not known,
                       help="only samples of this label")
    outcome = c2.selectbox("Prediction", services.OUTCOMES, disabled=disabled or not known, key="explore_outcome",
                           help="correct: the black box predicts the label; misclassified: it does not")
    options = services.sample_indices(labels, preds, None if cls == "any" else info.class_names.index(cls),
                                      outcome if known else "all")
    if not options:
        st.warning(f"No {split} sample matches these filters; showing sample 0.")
        return 0
    url_state.restore("sample", "sample", lambda text: url_state.index(text, options))
    if st.session_state.get("sample") not in options:
        st.session_state["sample"] = options[0]
    c4.button("🎲 Random", on_click=lambda: st.session_state.update(sample=random.choice(options)),
              help="a random sample among those matching the filters", disabled=disabled)
    c3.selectbox(f"{'Test' if split == 'test' else split} sample ({len(options)} match)", options, key="sample",
                 disabled=disabled,
                 format_func=lambda i: f"#{i} · {info.class_names[int(labels[i])]}" if known else f"#{i}")
    return int(st.session_state["sample"])


picker = st.container()  # filled below, once it is known whether an upload replaces the sample
upload = st.file_uploader("…or upload your own image", type=list(EXTENSIONS),
                          help="PNG, JPEG, WebP or BMP; grayscale, RGB, RGBA or 16-bit; explained for the "
                               "black box's own top-1 class unless you choose another. Clear it to go back to "
                               "the samples")
image_tensor, upload_notes = None, []
if upload is not None:
    try:
        decoded = read_upload(upload.getvalue(), info, upload.name)
        image_tensor = decoded.tensor
        upload_notes = upload_warnings(decoded.size, decoded.channels, decoded.tensor, info)
    except XAIError as err:
        st.error(f"Could not use this upload: {err}. Showing the dataset sample instead.")
with picker:  # the sample controls: disabled while an upload is shown
    split = pick_split(disabled=image_tensor is not None)
    index = pick_sample(disabled=image_tensor is not None)
    if image_tensor is not None:
        st.caption("Showing your upload; clear it to go back to the samples.")
for note in upload_notes:  # far from the dataset: said above the maps, one line each
    st.warning(note)

if image_tensor is not None:
    x, mask, label = image_tensor, None, -1
else:
    x, label, mask = services.evaluation_split(ctx, split).sample(index)
with helpers.work_slot():  # a forward pass on the shared model
    classes = dict(services.class_choices(ctx, x, label))
predicted = next(iter(classes))
shown_image = (selection, split, index, None if upload is None else upload.file_id)
if st.session_state.get("explore_target_for") != shown_image:  # another image or model: its prediction again
    st.session_state.pop("explore_target", None)
    st.session_state["explore_target_for"] = shown_image
url_state.restore("target", "explore_target", lambda text: url_state.index(text, list(classes)))
sidebar.valid_choice("explore_target", list(classes), predicted)
target = st.selectbox("Explain the class", list(classes), format_func=classes.get, key="explore_target",
                      help="the class the maps explain, with the black box's probability: its prediction "
                           "(default), the label, or any class. Label-free methods (DiET, DoRaR, COMET) "
                           "explain the model's own behaviour: the choice does not change their maps")
url_state.restore("methods", "explore_methods",  # before the picker's defaults below; checked against the registry
                  lambda text: url_state.names(text, [r.name for r in services.method_rows(info)]))
url_state.write({"split": split, "sample": str(index), "target": str(target)}
                | ({"methods": url_state.join(st.session_state["explore_methods"])}
                   if "explore_methods" in st.session_state else {}))

has_truth = info.has_ground_truth and image_tensor is None
offered, blocked = caches.offered_methods(*selection, upload=not has_truth)
rows = {r.name: r for r in offered}
available = list(rows)
if "explore_methods" not in st.session_state:
    st.session_state["explore_methods"] = services.preselected(ctx, available)  # the five papers' first, when ready
st.session_state["explore_methods"] = [m for m in st.session_state["explore_methods"] if m in available]
methods = st.multiselect("Methods", available, key="explore_methods", format_func=helpers.method_label(offered),
                         help="Each method's maps appear in their own cell of the grid (at most four per row); "
                              "the About page explains them.")
helpers.unavailable_note(blocked, ctx.dataset if image_tensor is None else "your image")
with st.expander("Heatmap display"):
    c1, c2, c3, c4 = st.columns(4)
    st.session_state.setdefault("explore_clip", 99.0)  # defaults set here, not on the widgets: they persist
    st.session_state.setdefault("explore_contour", True)
    mode = c1.radio("Colour scale", viz.MODES, format_func=lambda m: m.replace("_", "-"), key="explore_mode",
                    help="per-image: each map uses its own range (its numbers under it); shared: one range over "
                         "all maps shown, comparable only when the methods' scores share units")
    sign = c2.selectbox("Sign", viz.SIGNS, key="explore_sign", help="which sign of the scores to show (all: diverging colours)")
    clip = c3.slider("Clip at percentile", 90.0, 100.0, step=0.5, key="explore_clip", help="saturate the top scores")
    contour = c4.toggle("Ground-truth outline on maps", key="explore_contour", disabled=not has_truth,
                        help="signal vs distractor: the outline (green, or a colour that stands out on the "
                             "map) is the true object")

layer = ""
layers, default_layer = (caches.bottleneck_layers(*selection) if any(rows[m].takes_layer for m in methods)
                         else ([], None))
if layers:
    layer = st.selectbox("Bottleneck layer (IBA, InputIBA)", layers, index=layers.index(default_layer),
                         help="where the information bottleneck sits; the default is a deep layer at about "
                              "1/8 of the input (the paper: VGG16 conv4_1)")
    layer = "" if layer == default_layer else layer

def setting_input(method: str, offered: services.Offered, default):
    """One widget for ``method``'s setting ``offered`` (its declared label and help), starting at the
    preset's ``default`` (keyed by preset, so another preset starts from its own defaults); returns the
    value chosen."""
    field, help_text = offered.name, offered.help
    label = f"{rows[method].paper.short}: {offered.label}"
    key = f"explore_setting_{selection.preset}_{method}_{field}"
    mark = lambda v: f"{v} (default)" if v == default else str(v)  # noqa: E731
    if field == "layer":
        cam_layers = caches.bottleneck_layers(*selection)[0]
        if not cam_layers:  # user models: only the model's own choice
            return default
        own = getattr(ctx.black_box, "cam_layer", None)  # what the default "" resolves to: not listed twice
        options = [default, *(name for name in cam_layers if name not in (default, own))]
        own_name = f"last conv block {own} (default)" if own else "last conv block (default)"
        return st.selectbox(label, options, key=key, help=help_text, format_func=lambda v: mark(v) if v else own_name)
    if field == "top_k" and default is None:  # None = the trained k: start there, within 1..units
        k, count = catalog.selection_size(ctx, method)
        chosen = st.number_input(label, min_value=1, max_value=count, value=k, step=1, key=key,
                                 help=f"{help_text} (default: the trained k = {k}; 1–{count} units)")
        return None if int(chosen) == k else int(chosen)
    sweeps = rows[method].sweeps.get(field)
    if sweeps:  # trained methods: the values worth a fit
        options = sorted({default, *sweeps})
        return st.selectbox(label, options, index=options.index(default), key=key, help=help_text, format_func=mark)
    if isinstance(default, float):
        return st.number_input(label, min_value=0.0, max_value=1.0, value=default, step=0.05, format="%.3f",
                               key=key, help=f"{help_text} (default {default})")
    return st.number_input(label, min_value=1, max_value=1024, value=int(default), step=1, key=key,
                           help=f"{help_text} (default {default})")


configs: dict[str, dict] = {}  # per method, the settings that differ from the preset's (cache key, own fits)
offered = [m for m in methods if rows[m].settings]
if offered:
    with st.expander("Method settings"):
        st.caption("Start from the preset's defaults; a changed value is recorded with the map (and in the "
                   "settings download), and a trained method with a changed value needs its own fit.")
        for m in offered:
            defaults = services.method_defaults(m, selection.preset)
            chosen = {o.name: setting_input(m, o, defaults[o.name]) for o in rows[m].settings}
            changed = {f: v for f, v in chosen.items() if v != defaults[f]}
            if changed:
                configs[m] = changed


def explain(method: str, bar: helpers.ProgressBar, config: tuple,
            model: services.ModelChoice = selection.model) -> dict:
    """One method's map for the chosen class (label-free methods ignore it: one cache entry for all
    classes); the default class (an upload's top-1, a sample's label) shares the other pages' entries.
    ``model``: another model than the sidebar's (the comparison below the grid), same class."""
    chosen = None if rows[method].label_free else target
    if image_tensor is not None:
        own_top = chosen == predicted and model == selection.model  # None: that model's own top-1
        return caches.upload_explanation(selection.dataset, selection.preset, model, method, upload.getvalue(),
                                         upload.name, bar, layer, config, target=None if own_top else chosen)
    return caches.explanation(selection.dataset, selection.preset, model, method, index, bar, layer, config,
                              split=split, target=None if chosen == label else chosen)


methods = readiness.training_notice(ctx, methods, configs)
maps = {}
with st.spinner("Explaining …"):
    for m in methods:
        bar = helpers.ProgressBar()  # per-instance methods (IBA, InputIBA) report their stages
        config = tuple(sorted(configs.get(m, {}).items()))
        try:
            maps[m] = explain(m, bar, config)
        except XAIError as err:  # one method failing (e.g. Grad-CAM on a user model) spares the rest
            st.warning(f"{m}: {err}")
        except Exception as err:  # a bug: logged with its traceback; one line here, the other methods still run
            st.warning(helpers.failed(m, err))
        bar.close()
methods = [m for m in methods if m in maps]

image = viz.to_uint8(x)
with helpers.work_slot():  # a forward pass on the shared model
    top = services.top_k(ctx, x, k=3)
left, right = st.columns([1, 2])
left.markdown(f"**Label:** {info.class_names[label] if label >= 0 else 'unknown'}  \n"
              f"**Prediction:** {top[0][0]} ({top[0][1]:.1%})")
right.dataframe({"class": [c for c, _ in top], "probability": [p for _, p in top]}, hide_index=True,
                column_config={"probability": st.column_config.ProgressColumn(format="percent", min_value=0.0,
                                                                                max_value=1.0)})

if label >= 0 and predicted != label:
    st.warning(f"Misclassified: the black box predicts **{info.class_names[predicted]}**, the label is "
               f"**{info.class_names[label]}**; the maps explain **{info.class_names[target]}** "
               "(choose under “Explain the class”).")
free = [m for m in methods if rows[m].label_free]
if free:
    st.caption(f"{', '.join(free)}: label-free, the class choice does not change {'its' if len(free) == 1 else 'their'}"
               " maps.")


def downloads(panels: list) -> None:
    """Buttons for the maps shown: a PNG of the grid, an NPZ of the scores (one array per method) and
    a JSON of the settings behind them."""
    if image_tensor is not None:
        source, stem = {"upload": upload.name}, "upload"
    else:
        source = {"split": split, "index": index, "label": label,
                  "label_name": info.class_names[label] if label >= 0 else None}
        stem = f"{split}_{index}"
    stem = f"{info.name}_{stem}"
    settings = export.settings_json(
        dataset=info.name, preset=ctx.preset,
        model={"choice": selection.model.label, "arch": ctx.record.get("arch", selection.model.arch)},
        source=source,
        target={"index": target, "name": info.class_names[target], "prediction": predicted,
                "choice": classes[target]},
        methods={m: {"settings": maps[m]["settings"],
                     "class_explained": None if rows[m].label_free else target} for m in methods},
        display={"colour_scale": mode, "sign": sign, "clip_percentile": clip, "layer": layer or "default"},
    )
    c1, c2, c3 = st.columns(3)
    shown_source = source.get("upload") or f"{source['split']} #{source['index']}"
    header = [f"{info.name} ({ctx.preset}) · {shown_source} · model: {selection.model.label}",
              f"class explained: {classes[target]} · black box predicts: {classes[predicted]}"]
    sheet = export.grid_png(panels, GRID_COLUMNS, header=header,
                            footer=(f"colour scale ({mode.replace('_', '-')}, {sign})", legend.bar))
    c1.download_button("Download maps (PNG)", sheet, f"{stem}_maps.png",
                       "image/png", on_click="ignore", help="the image and every method's heatmap as shown, each map's "
                       "range, the class explained, the prediction and the colour bar")
    c2.download_button("Download scores (NPZ)", export.scores_npz({m: maps[m]["scores"] for m in methods}),
                       f"{stem}_scores.npz", "application/octet-stream", on_click="ignore",
                       help="the raw scores, one array per method (numpy.load)")
    c3.download_button("Download settings (JSON)", settings, f"{stem}_settings.json", "application/json",
                       on_click="ignore", help="dataset, preset, model, the sample or upload, the class explained "
                                               "and each method's settings")


cells = helpers.grid(1 + (mask is not None) + len(methods), GRID_COLUMNS)
image_caption = "image" if image_tensor is None else f"your upload ({display_name(upload.name, 60)})"
panels = [(image_caption, image)]  # what the PNG download holds: the image, ground truth, each heatmap as shown
cells[0].image(image, caption=image_caption, width="stretch")
if mask is not None:
    panels.append(("ground truth", viz.contour_overlay(image, mask)))
    cells[1].image(panels[-1][1], caption="ground truth", width="stretch")
if methods:
    stack = np.stack([maps[m]["scores"] for m in methods])
    heat, _ = viz.render_heatmaps(stack, mode=mode, sign=sign, clip_percentile=clip)
    legend = viz.colour_legend(stack, methods, mode=mode, sign=sign, clip_percentile=clip)
    for col, name, h, map_range in zip(cells[1 + (mask is not None):], methods, heat, legend.captions):
        shown = viz.contour_overlay(h, mask) if mask is not None and contour else h
        panels.append((f"{name}\n{map_range}", shown))
        col.image(shown, caption=name, width="stretch")
        col.caption(map_range)
        if configs.get(name):  # settings changed under "Method settings": said under the map
            col.caption("settings: " + ", ".join(f"{k} = {v}" for k, v in configs[name].items()))
        col.image(viz.overlay(image, h), caption=f"{name} · overlay", width="stretch")
        view = maps[name]
        if rows[name].panel is not None:  # its selection and extras are drawn together below the grid
            continue
        if view["selection"] is not None:
            col.image(viz.to_uint8(view["selection"].astype(np.float32)), caption=f"{name} · selection",
                      width="stretch")
        for key, extra in view["extras"].items():  # 2-D extras are maps (IBA's capacity, λ_G): coloured alike
            shown = viz.render_heatmaps(extra[None], clip_percentile=clip)[0][0] if extra.ndim == 2 else extra
            col.image(viz.to_uint8(shown), caption=f"{name} · {key}", width="stretch")
        if view["predictions"]:
            col.caption(" · ".join(f"{k}: {v}" for k, v in view["predictions"].items()))
    st.image(legend.bar, caption=f"colour scale ({mode.replace('_', '-')})", width=320)
    st.caption(legend.note)
    enlarge = st.selectbox("Enlarge a map", [None, *methods], key="explore_enlarge",
                           format_func=lambda m: "—" if m is None else m,
                           help="open one method's map large, with its colour bar and numeric range")
    if enlarge is not None:
        at = methods.index(enlarge)
        shown = panels[len(panels) - len(methods) + at][1]
        settings = ["settings: " + ", ".join(f"{k} = {v}" for k, v in configs[enlarge].items())] \
            if configs.get(enlarge) else []
        helpers.show_enlarged(f"{enlarge} · {image_caption}",
                              [(shown, f"{enlarge} · enlarged"),
                               (viz.overlay(image, heat[at]), f"{enlarge} · overlay, enlarged")],
                              [legend.captions[at], *settings, legend.note], legend.bar)
    downloads(panels)
    model_compare.section(selection, ctx, x, image, mask if contour else None, methods, configs, explain,
                          (mode, sign, clip), GRID_COLUMNS)
else:
    st.info("Pick one or more methods above to see their maps.")

def reconstructions(name: str, view: dict, panel: services.Panel) -> None:
    """DoRaR's Fig. 13: the selected units on the image, and what G1 / G2 rebuild from each side."""
    st.subheader(f"{name}: the {view['settings']['n_e']} selected units ({view['settings']['unit_grid']})")
    c1, *others = st.columns(1 + len(panel.inputs))
    c1.image(viz.unit_outlines(image, view["selection"], view["settings"]["units"], mask,
                               scale=max(1, 192 // image.shape[0])),
             caption="selected units" + (": red on the object, yellow off it" if mask is not None else ""),
             width="stretch")
    for col, key, caption in zip(others, panel.inputs, panel.captions):
        col.image(viz.to_uint8(view["extras"][key]), caption=caption, width="stretch")
    if view["predictions"]:
        st.caption(" · ".join(f"{k}: {v}" for k, v in view["predictions"].items()))
    st.caption("Removed units are filled with noise drawn from each pixel's distribution over the training set, "
               "then rebuilt by a generator: a good selection lets G1 keep the black box's class and leaves G2 "
               "without it (the About page explains DoRaR and its a1/a2 scores).")


def selected_inputs(name: str, view: dict, panel: services.Panel) -> None:
    """MEED / L2X: the top-k features over the image, the inputs they leave, the black box on each."""
    k = int(view["selection"].sum())
    st.subheader(f"{name}: the {view['settings'].get('top_k') or view['settings'].get('k')} selected features "
                 f"({view['settings'].get('features', 'pixels')})")
    pictures = [viz.selection_overlay(image, view["selection"], scale=max(1, 192 // image.shape[0]))]
    pictures += [viz.to_uint8(view["extras"][key]) for key in panel.inputs]
    captions = [f"{name} · selected pixels ({k} px, red)"] + [f"{name} · {c} ({key})"
                                                               for key, c in zip(panel.inputs, panel.captions)]
    predictions = [("f_b(x)", "the image x")] + [(f"f_b({key})", c) for key, c in zip(panel.inputs, panel.captions)]
    for col, picture, caption, (key, what) in zip(st.columns(len(pictures)), pictures, captions, predictions):
        col.image(picture, caption=caption, width="stretch")
        col.markdown(f"**{key}** ({what}): {view['predictions'].get(key, 'n/a')}")
    st.caption("Zero fill: the selected-only input keeps the top-k features and blacks out the rest, the unselected-"
               "only input the other way round. A faithful selection keeps the black box's class on the first "
               "(FS-M) and loses it on the second (FU-M); the About page explains MEED, AIL and these scores.")


PANELS = {"reconstructions": reconstructions, "selected_inputs": selected_inputs}  # Panel.kind → its drawing
for name, view in maps.items():
    if rows[name].panel is not None:
        PANELS[rows[name].panel.kind](name, view, rows[name].panel)

def accuracies(tuned: list[str]) -> dict | None:
    """The test accuracy of each tuned method's model and the black box's: at once when stored, else measured
    in a background job (seconds to a minute over the whole test split; its progress and Cancel drawn here)
    while the maps above stay usable; None until it is done."""
    def measure(progress=no_progress) -> dict:
        return {m: services.explained_accuracy(ctx, m, prefixed(progress, f"{m}: "), **configs.get(m, {}))
                for m in tuned}

    if all(services.accuracy_measured(ctx, m, **configs.get(m, {})) for m in tuned):
        return measure()  # read from the store
    key = "explore_accuracy/" + "/".join(f"{m}:{sorted(configs.get(m, {}).items())}" for m in tuned)
    scores = job_ui.stored_result(key, selection)
    if scores is None and not job_ui.running(key, selection):
        job_ui.run_stored(key, selection, "measuring test accuracy (once per fit, cached) …", measure)
        scores = job_ui.stored_result(key, selection)
    return scores


tuned = [m for m in methods if rows[m].tunes_model]  # methods explaining a model of their own
if tuned:
    st.subheader("Test accuracy of the models explained")
    scores = accuracies(tuned)
    if scores:
        rows = [{"model": "black box f_b(x)", **next(iter(scores.values()))["black_box"]}]
        rows += [{"model": f"{m}: {maps[m]['settings']['explained_model']}", **scores[m][m]} for m in tuned]
        st.dataframe(rows, hide_index=True, column_config={
            k: st.column_config.NumberColumn(label, format="percent")
            for k, label in (("clean", "clean"), ("removed", f"{services.REMOVED:.0%} of the pixels removed"))})
        st.caption("The whole test split; removed pixels are chosen at random per image and filled with the "
                   "dataset mean colour (COMET's Table 2).")

accuracy = ctx.record.get("test_accuracy")
st.caption(f"Preset: {ctx.preset} · model {ctx.record.get('arch', '?')}"
           + (f" · test accuracy {accuracy:.3f}" if accuracy is not None else " · pretrained"))
