"""Evaluate: methods × metrics on n test images, curves as interactive charts, a table, exports.
Thin: widgets and calls into xai_core.services / xai_core.figures only."""
from __future__ import annotations

import json

import streamlit as st

from xai_core import figures, services
from pages import common

selection = common.sidebar()
ctx = common.load_or_stop(selection)

st.title("Evaluate")
methods_all = [r.name for r in services.method_rows(ctx.info)]
metrics_all = services.metric_names(ctx.info)
with st.form("evaluate"):
    methods = st.multiselect("Methods", methods_all,
                             default=[m for m in ("random", "gradient", "smoothgrad", "gradcam") if m in methods_all])
    metrics = st.multiselect("Metrics", metrics_all,
                             default=[m for m in ("iou", "pixel_perturbation", "deletion") if m in metrics_all])
    n = st.slider("Test images", 4, min(500, len(ctx.test)), min(20, len(ctx.test)))
    run = st.form_submit_button("Run evaluation", type="primary")

if run and methods and metrics:
    common.run_stored("evaluation", selection, "evaluating …",
                      lambda progress: services.evaluate(ctx, methods, metrics, n, progress=progress))

result = common.stored_result("evaluation", selection)
if result is None:
    st.info("Choose methods and metrics, then run the evaluation.")
    st.stop()
st.caption(f"dataset {result['dataset']} · preset {result['preset']} · n = {result['n']} · "
           f"fill: {result['settings']['fill']['name']} · target: {result['settings']['target']}")
rows = figures.scalar_rows(result)
st.dataframe(rows, width="stretch", hide_index=True)
for metric in figures.curve_metrics(result):
    chart, settings = st.columns([3, 1])
    chart.plotly_chart(figures.curve_figure(result, metric), width="stretch")
    settings.caption("Settings")
    settings.json(result["settings"]["metrics"][metric], expanded=False)
    settings.download_button("Figure (PNG)", figures.curve_png(result, metric), f"{metric}.png", "image/png",
                             key=f"png-{metric}")
c1, c2, c3 = st.columns(3)
c1.download_button("Download results (JSON)", json.dumps(result, indent=2), "evaluation.json", "application/json")
c2.download_button("Download table (CSV)", figures.rows_csv(rows), "table.csv", "text/csv")
c3.download_button("Download curves (CSV)", figures.curves_csv(result), "curves.csv", "text/csv")
