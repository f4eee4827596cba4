"""Evaluate: methods × metrics on n test images, curves as interactive charts, a table, exports.
Thin: widgets and calls into xai_core.services / xai_core.figures only."""
from __future__ import annotations

import json

import streamlit as st

from xai_core import figures, services
from xai_core.errors import XAIError
from pages.ui import caches, helpers, job_ui, readiness, sidebar

selection = sidebar.sidebar()
ctx = readiness.load_or_stop(selection)

st.title("Evaluate")
offered, blocked = caches.offered_methods(*selection)
methods_all = [r.name for r in offered]
metrics_all = services.metric_names(ctx.info)
with st.form("evaluate"):
    methods = st.multiselect("Methods", methods_all, format_func=helpers.method_label(offered),
                             default=[m for m in ("random", "gradient", "smoothgrad", "gradcam") if m in methods_all])
    helpers.unavailable_note(blocked, ctx.dataset)
    metrics = st.multiselect("Metrics", metrics_all,
                             default=[m for m in ("iou", "pixel_perturbation", "deletion") if m in metrics_all])
    n = st.slider("Test images", 4, min(500, len(ctx.test)), min(20, len(ctx.test)))
    size = ctx.info.image_size
    c1, c2 = st.columns(2)
    units = c1.selectbox("Explanation unit size s_e", [None, *(d for d in range(1, size + 1) if size % d == 0)],
                         format_func=lambda v: f"{v}×{v} px" if v else "each one's default (about a 7×7 grid)",
                         help="the units (s_e×s_e pixel chunks) of dorar, lime, a1a2 and hit_rate")
    n_e = c2.number_input("Units kept n_e", min_value=1, max_value=10**6, value=None, step=1,
                          placeholder="each one's default",
                          help="how many units dorar and lime keep and a1a2 and hit_rate score; a new value "
                               "trains a new DoRaR selector (cached afterwards)")
    target = st.selectbox("Class explained", services.context.TARGETS, format_func=services.context.TARGET_LABELS.get,
                          help="every map explains this class: the black box's own decision, as all five papers "
                               "explain it, or the dataset's label (the top-1 where an image has none)")
    st.caption("a1a2 trains two generators per method and seed on the training split (cached): minutes, not "
               "seconds. Its progress shows while it runs.")
    run = st.form_submit_button("Run evaluation", type="primary")

#: the torchrun form under every result: this many processes over the whole test split
PROCESSES = 2


def commands(methods: list[str], metrics: list[str], n: int, **options) -> tuple[str, str] | str:
    """The CLI command reproducing an evaluation on this page's context and its torchrun form (on
    :data:`PROCESSES` processes, the whole test split); or, when no command can, why not."""
    request = dict(seed=ctx.seed, model=ctx.model, **{"json_path": "evaluation.json", **options})
    try:
        return (services.evaluate_command(ctx.dataset, ctx.preset, methods, metrics, n, **request),
                services.torchrun_command(ctx.dataset, ctx.preset, methods, metrics, len(ctx.test),
                                          processes=PROCESSES, **request))
    except XAIError as err:
        return str(err)


def show_commands(key: str, note: str = "", folded: bool = False) -> None:
    """Under a result: the command kept with it under ``key`` (see :func:`run_with_commands`), and its
    torchrun form beneath; ``note`` says more about the command. ``folded``: in a closed expander (a
    chart of a result whose commands are shown open already, under its table)."""
    kept = job_ui.stored_result(key, selection)
    if kept is None:
        return
    if isinstance(kept, str):
        st.caption(f"No command line reproduces this result: {kept}.")
        return
    if folded:
        with st.expander("Reproduce from the command line"):
            _commands(kept, note)
    else:
        _commands(kept, note)


def _commands(kept: tuple[str, str], note: str) -> None:
    command, torchrun = kept
    st.caption(f"Reproduce this result from the command line{f' ({note})' if note else ''}:")
    st.code(command, language="bash", wrap_lines=True)
    st.caption(f"For more images, the whole test split ({len(ctx.test)}) on {PROCESSES} processes: torchrun shards "
               "the images across the processes (one GPU each where there are GPUs) and writes the same JSON; "
               "see “Scaling out” (docs/scaling-out.md) for several GPUs and machines.")
    st.code(torchrun, language="bash", wrap_lines=True)


def run_with_commands(key: str, label: str, work, kept: tuple[str, str] | str) -> None:
    """:func:`job_ui.run_stored` of ``work`` (a background job), keeping ``kept`` (the commands) under
    ``{key}_command`` once the result is there: a failed run keeps the last result with its own command."""
    job_ui.run_stored(key, selection, label, work, keep={f"{key}_command": kept})


if run and methods and metrics:
    configs, metric_settings = services.unit_configs(methods, metrics, units, n_e)
    run_with_commands("evaluation", "evaluating …", lambda progress: services.evaluate(
        ctx, methods, metrics, n, progress=progress, configs=configs, metric_settings=metric_settings, target=target),
        commands(methods, metrics, n, units=units, n_e=n_e, target=target))


DR_METRICS = ("iou_curve", "pxap")  # what the data-randomisation check compares


def randomisation_check() -> None:
    """The data-randomisation sanity check (Adebayo et al.; COMET-DR): each trained method's maps beside
    those of its fit on shuffled labels. Fits run as background jobs; the comparison once both exist."""
    trained = [m for m in methods_all if services.method_row(m).caps.trained]
    st.subheader("Data-randomisation sanity check")
    if not trained or not ctx.info.has_ground_truth:
        st.caption("Needs a trained method and a dataset with ground truth.")
        return
    st.caption("A trained method is fitted again on labels shuffled across the training split. Maps that still "
               "find the objects did not learn them from the labels: a faithful method's IoU-curve AUC and PxAP "
               "should collapse (COMET's Table 3: 72.5 → COMET-DR's lowest score).")
    chosen = st.multiselect("Trained methods", trained, default=[m for m in ("comet",) if m in trained] or trained[:1],
                            key="dr-methods")
    n_dr = st.slider("Test images", 4, min(500, len(ctx.test)), min(100, len(ctx.test)), key="dr-n")
    ready = set(readiness.training_notice(ctx, chosen))
    ready &= set(readiness.training_notice(ctx, chosen, {m: {"randomize_labels": True} for m in chosen}))
    ready_methods = [m for m in chosen if m in ready]
    if ready_methods and st.button("Compare real and randomised-label fits", key="dr-run"):
        variants = services.randomization_variants(ready_methods)
        pair = [commands(ready_methods, list(DR_METRICS), n_dr, randomize_labels=r, json_path=f"{name}.json")
                for r, name in ((False, "real_labels"), (True, "random_labels"))]
        kept = next((c for c in pair if isinstance(c, str)), None) or tuple("\n".join(two) for two in zip(*pair))
        run_with_commands("randomisation", "comparing …", lambda progress: services.evaluate(
            ctx, list(variants), list(DR_METRICS), n_dr, progress=progress, variants=variants), kept)
    checked = job_ui.stored_result("randomisation", selection)
    if checked is not None:
        checked_rows = figures.scalar_rows(checked)
        st.dataframe(checked_rows, width="stretch", hide_index=True, column_config=figures.table_labels(checked_rows))
        show_commands("randomisation_command", "two evaluations: the real-label fits, then the randomised-label "
                                               "fits (--randomize-labels; their JSON names each method plainly)")


result = job_ui.stored_result("evaluation", selection)
if result is None:
    if not job_ui.running("evaluation", selection):
        st.info("Choose methods and metrics, then run the evaluation.")
    randomisation_check()
    st.stop()
st.caption(f"dataset {result['dataset']} · preset {result['preset']} · n = {result['n']} · "
           f"fill: {result['settings']['fill']['name']} · target: {result['settings']['target']}")
rows = figures.scalar_rows(result)
st.dataframe(rows, width="stretch", hide_index=True, column_config=figures.table_labels(rows))
st.caption("↑ higher is better, ↓ lower is better; curve metrics by the area under their curve (AUC). Scores are "
           "mean ± std over the test images (a1a2: over its seeds), then [the 95 % interval of the mean]: a bootstrap "
           "over the images (a1a2: over its seeds); the CSV has mean, std and the interval as separate columns.")
show_commands("evaluation_command")
for metric in figures.curve_metrics(result):
    chart, settings = st.columns([3, 1])
    chart.plotly_chart(figures.curve_figure(result, metric), width="stretch")
    settings.caption("Settings")
    settings.json(result["settings"]["metrics"][metric], expanded=False)
    settings.download_button("Figure (PNG)", figures.curve_png(result, metric), f"{metric}.png", "image/png",
                             key=f"png-{metric}", on_click="ignore")
    show_commands("evaluation_command", folded=True)
for metric in figures.seeded_metrics(result):
    st.subheader(f"{metric}: accuracy from the selected units (a1) and from the rest (a2)")
    st.dataframe(figures.a1a2_rows(result, metric), width="stretch", hide_index=True)
    chart, settings = st.columns([3, 1])
    chart.plotly_chart(figures.a1a2_figure(result, metric), width="stretch")
    chart.caption("One point per method, the 95 % interval over the generators' seeds both ways. a1 (up) is the "
                  "black box's "
                  "accuracy on G1's reconstructions from the selected units, a2 (right) on G2's from the "
                  "complement: upper left is best.")
    settings.caption("Settings")
    settings.json(result["settings"]["metrics"][metric], expanded=False)
    show_commands("evaluation_command", folded=True)
for metric in (m for m in figures.group_metrics(result) if m not in figures.FIDELITY_METRICS):
    st.subheader(f"{metric}: PxAP of the maps on clean, noisy and background-changed images")
    st.dataframe(figures.group_rows(result, metric), width="stretch", hide_index=True,
                 column_config=figures.group_labels(result, metric))
    st.caption("COMET's Table 6: each method explains the test images again after 20 % of their pixels are removed "
               "at random, and the same objects on new backgrounds (test_background split); PxAP against the same "
               "ground truth. A robust method keeps its clean PxAP.")
    show_commands("evaluation_command", folded=True)
if figures.has_fidelity(result):
    st.subheader("Fidelity and stability: FS-M / FU-M / FS-A / FU-A / SEN (MEED's Tables 3–4)")
    fidelity = figures.fidelity_rows(result)
    st.dataframe(fidelity, width="stretch", hide_index=True, column_config=figures.fidelity_labels(fidelity))
    st.caption("FS (selected features only) and FU (the rest only): agreement with the black box's top-1 on the full "
               "image, by the black box itself (-M) and by approximators retrained on the masked images (-A); "
               "high FS-M and low FU-M: the top-k features carry the decision. SEN: max-sensitivity of the map "
               "under ±0.2 uniform noise (lower is more stable). ms / image: explanation time.")
    scatter = figures.fidelity_figure(result)
    if scatter is not None:
        chart, settings = st.columns([3, 1])
        chart.plotly_chart(scatter, width="stretch", key="fidelity-scatter")
        settings.caption("Settings")
        settings.json({m: result["settings"]["metrics"][m] for m in figures.FIDELITY_METRICS
                       if m in result["settings"]["metrics"]}, expanded=False)
    show_commands("evaluation_command", folded=True)
c1, c2, c3 = st.columns(3)
c1.download_button("Download results (JSON)", json.dumps(result, indent=2), "evaluation.json", "application/json",
                   on_click="ignore")
c2.download_button("Download table (CSV)", figures.rows_csv(figures.numeric_rows(result)), "table.csv", "text/csv",
                   help="one row per method; each score as two numeric columns, mean and std", on_click="ignore")
c3.download_button("Download curves (CSV)", figures.curves_csv(result), "curves.csv", "text/csv", on_click="ignore")
randomisation_check()
