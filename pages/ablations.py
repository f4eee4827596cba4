"""Ablations: how a method's scores change when its map is coarsened to u×u blocks, a method without each
of its components (MEED's Table 2), and a sweep over one of a method's own settings (DiET's mask scale u).
Thin: widgets + xai_core calls."""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from pages.ui import caches, helpers, job_ui, readiness, sidebar
from xai_core import figures, services, viz
from xai_core.services import estimates, tasks

MAP_COLUMNS = 4  # example maps per row (as Explore's grid): a bounded size whatever the number of values

selection = sidebar.sidebar()
ctx = readiness.load_or_stop(selection)
st.title("Ablations")
st.markdown("**Map resolution.** Each map is averaged over u×u pixel blocks before scoring. A method whose "
            "score holds up at large u explains with coarse regions; one that drops relied on fine detail. "
            "DiET learns its mask at 1/u resolution: sweep its u under *Method setting sweep* below.")

rows, blocked = caches.offered_methods(*selection)
methods_all = [r.name for r in rows]
metrics_all = services.metric_names(ctx.info)
factors_all = services.resolution_factors(ctx.info.image_size)
with st.form("ablation"):
    methods = st.multiselect("Methods", methods_all, format_func=helpers.method_label(rows),
                             default=[m for m in ("gradient", "smoothgrad", "gradcam") if m in methods_all])
    helpers.unavailable_note(blocked, ctx.dataset)
    c1, c2, c3 = st.columns(3)
    metric = c1.selectbox("Metric", metrics_all, index=metrics_all.index("pixel_perturbation"))
    factors = c2.multiselect("Block sizes u", factors_all, default=factors_all)
    n = c3.slider("Test images", 4, min(200, len(ctx.test)), min(20, len(ctx.test)))
    run = st.form_submit_button("Run ablation", type="primary")

if run and methods and factors:
    job_ui.run_stored("ablation_result", selection, "ablation …", lambda progress: services.resolution_ablation(
        ctx, methods, metric, sorted(factors), n, progress=progress))



def show_resolution(result: dict) -> None:
    """The resolution ablation's chart, table, download and example maps."""
    st.plotly_chart(figures.ablation_figure(result), width="stretch")
    st.dataframe([{"method": m, **{f"u={u}": v for u, v in by_u.items()}} for m, by_u in result["summary"].items()],
                 hide_index=True, width="stretch")
    st.download_button("Download ablation (JSON)", json.dumps(result, indent=2, default=str), "ablation.json",
                       "application/json", on_click="ignore")
    st.subheader("What the coarser maps look like")
    index = st.number_input("Test sample", 0, len(ctx.test) - 1, 0)
    for method in result["summary"]:
        maps = services.downscaled_maps(caches.explanation(*selection, method, int(index))["scores"],
                                         result["factors"])
        heat, _ = viz.render_heatmaps(np.stack(maps))
        st.markdown(f"**{method}**")
        for col, u, h in zip(helpers.grid(len(maps), MAP_COLUMNS), result["factors"], heat):
            col.image(h, caption=f"u = {u}", width="stretch")


def show_sweep(result: dict) -> None:
    """A setting sweep: the metric against the setting, its curve per value, and each value's map of a sample."""
    st.plotly_chart(figures.ablation_figure(result), width="stretch", key="sweep-chart")
    curves = services.sweep_curves(result)
    if result["metric"] in figures.curve_metrics(curves):
        st.plotly_chart(figures.curve_figure(curves, result["metric"]), width="stretch", key="sweep-curves")
    st.download_button("Download sweep (JSON)", json.dumps(result, indent=2, default=str), "sweep.json",
                       "application/json", on_click="ignore")
    (method,) = result["summary"]
    setting, values = result["setting"], result["factors"]
    st.subheader(f"{method}'s map per {setting}")
    index = int(st.number_input("Test sample", 0, len(ctx.test) - 1, 0, key="sweep-sample"))
    maps = [caches.explanation(*selection, method, index, config=((setting, v),))["scores"] for v in values]
    heat, _ = viz.render_heatmaps(np.stack(maps))
    for col, v, h in zip(helpers.grid(len(values), MAP_COLUMNS), values, heat):  # one value: one column, not the page
        col.image(h, caption=f"{setting} = {v}", width="stretch")


result = job_ui.stored_result("ablation_result", selection)
if result is None:
    if not job_ui.running("ablation_result", selection):
        st.info("Choose methods, a metric and block sizes, then run the ablation.")
else:
    show_resolution(result)

def show_components(result: dict) -> None:
    """A component ablation: the method beside each variant without one component, one row each."""
    rows_ = figures.component_rows(result)
    labels = figures.fidelity_labels(rows_) if figures.has_fidelity(result) else figures.table_labels(rows_)
    st.dataframe(rows_, hide_index=True, width="stretch", column_config=labels)
    st.caption(f"{result['dataset']} ({result['preset']}), n = {result['n']} test images; each variant is its own "
               "fit (cached). A component matters where its removal lowers FS or raises FU; equal numbers mean "
               "it has no effect here.")
    scatter = figures.fidelity_figure(result) if figures.has_fidelity(result) else None
    if scatter is not None:
        st.plotly_chart(scatter, width="stretch", key="components-scatter")
    st.download_button("Download component ablation (JSON)", json.dumps(result, indent=2, default=str),
                       "components.json", "application/json", on_click="ignore")


st.header("Component ablation")
with_components = [r.name for r in rows if r.caps.ablations]
if not with_components:
    st.info("No method available here declares components to ablate.")
else:
    st.markdown("Fit a method again without each of its components and score every fit on the same images, "
                "side by side (MEED's Table 2: without the model-output feedback, without AIL, without the prior "
                "warm start). Each variant is a separate fit, cached; this runs in the background and survives "
                "page switches.")
    with st.form("components"):
        c1, c2, c3 = st.columns(3)
        component_method = c1.selectbox("Method to ablate", with_components, key="component-method")
        component_metrics = c2.multiselect("Metrics", metrics_all, key="component-metrics",
                                           default=[m for m in ("fs_fu", "sen") if m in metrics_all])
        component_n = c3.slider("Test images", 4, min(200, len(ctx.test)), min(20, len(ctx.test)), key="component-n")
        start_components = st.form_submit_button("Run component ablation")
    if start_components and component_metrics:
        st.session_state["component_request"] = selection, (component_method, list(component_metrics), component_n)
    request = job_ui.stored_result("component_request", selection)
    if request is not None:
        st.caption("Variants: " + ", ".join(services.component_variants(request[0])))
    job_ui.requested_job("component", selection, lambda r: f"{r[0]} component ablation",
                         lambda r: tasks.component_ablation_estimate(ctx, r[0]),
                         lambda r: tasks.component_ablation_job(ctx, *r), show_components)

st.header("Method setting sweep")
sweeps = {r.name: r.sweeps for r in rows if r.sweeps}
if not sweeps:
    st.info("No method available here declares a setting to sweep.")
    st.stop()
st.markdown("Refit a method for each value of one of its settings and score it, e.g. DiET's mask scale u "
            "(the paper's Figure 5: u = 8 was best at 224 px). Each value is a separate fit, cached; this runs "
            "in the background and survives page switches.")
with st.form("sweep"):
    c1, c2, c3, c4 = st.columns(4)
    method = c1.selectbox("Method", list(sweeps))
    setting = c2.selectbox("Setting", list(sweeps[method]))
    values = c3.multiselect("Values", sweeps[method][setting],
                            default=[v for v in sweeps[method][setting] if v <= ctx.info.image_size // 4])
    sweep_metric = c4.selectbox("Metric ", metrics_all, index=metrics_all.index("pixel_perturbation"))
    start = st.form_submit_button("Run sweep")
if start and values:  # each value is a refit: say how long first, and ask above 2 minutes
    st.session_state["sweep_request"] = selection, (method, setting, sorted(values), sweep_metric, n)
job_ui.requested_job("sweep", selection, lambda r: f"{r[0]} {r[1]} sweep",
                     lambda r: estimates.sweep_estimate(ctx, *r[:3]), lambda r: services.sweep_job(ctx, *r), show_sweep)
