"""Charts over an evaluate() result, ablations and training histories: one trace per method in its own
style, readable axes, ↑/↓ in the legends, a PNG in the screen's colours."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xai_core.figures import charts, styles

from .samples import A1A2, FIDELITY, RESULT, curves


def test_curve_figure_has_one_trace_per_method_with_auc():
    fig = charts.curve_figure(RESULT, "deletion")
    assert [t.name for t in fig.data] == ["a (AUC 0.475)", "b (AUC 0.700)"]
    assert list(fig.data[1].y) == [1, 0.8, 0.2]
    assert fig.layout.xaxis.title.text.startswith("fraction of pixels removed")
    assert fig.layout.yaxis.title.text == "softmax probability of target"
    assert fig.layout.title.text == "deletion — d (smoke), n = 3"
    assert "AUC: ↓ lower is better" in fig.layout.legend.title.text


def test_scalar_history_and_ablation_figures():
    bars = charts.scalar_figure(RESULT, "iou")
    assert list(bars.data[0].x) == ["a", "b"] and list(bars.data[0].y) == [0.5, 0.25]
    assert list(bars.data[0].error_y.array) == [0.1, 0.05]

    assert charts.history_figure([{"step": 1.0}]) is None  # nothing but steps: no chart
    hist = charts.history_figure([{"step": 1.0, "loss": 2.0}, {"step": 2.0, "loss": 1.0, "acc": 0.5}])
    assert [t.name for t in hist.data] == ["acc", "loss"] and list(hist.data[1].y) == [2.0, 1.0]

    ablation = {"dataset": "d", "preset": "smoke", "n": 3, "metric": "deletion", "higher_is_better": False,
                "factors": [1, 2, 4], "summary": {"a": {1: 0.3, 2: 0.4, 4: 0.5}}}
    fig = charts.ablation_figure(ablation)
    assert list(fig.data[0].x) == [1, 2, 4] and list(fig.data[0].y) == [0.3, 0.4, 0.5]
    assert "AUC" in fig.layout.yaxis.title.text and "lower is better" in fig.layout.yaxis.title.text
    group = {**ablation, "metric": "robustness", "higher_is_better": True, "summary": {"a": {1: 0.5, 2: 0.4}}}
    assert "pxap_noisy mean" in charts.ablation_figure(group).layout.yaxis.title.text


def test_png_export():
    png = charts.curve_png(RESULT, "deletion")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert Image.open(io.BytesIO(png)).size[0] > 500


def test_unscored_curves_show_n_a():
    """A curve nobody could score (sanity for a trained method: all None, AUC None) still draws."""
    result = {**RESULT, "results": {**RESULT["results"],
                                    "c": {"deletion": {"x": [0, 0.5, 1], "y": [None] * 3, "auc": None, "n": 0}}}}
    assert [t.name for t in charts.curve_figure(result, "deletion").data][-1] == "c (AUC n/a)"
    assert charts.curve_png(result, "deletion")[:4] == b"\x89PNG"


def test_a1a2_scatter_one_point_per_method_with_error_bars():
    fig = charts.a1a2_figure(A1A2)
    assert [t.name for t in fig.data] == ["dorar", "random"]
    assert [(list(t.x), list(t.y)) for t in fig.data] == [([0.2], [0.9]), ([0.8], [0.3])]  # x = a2, y = a1
    assert list(fig.data[0].error_x.array) == [0.1] and list(fig.data[0].error_y.array) == [0.05]
    assert list(fig.data[1].error_x.array) == [0.0]  # no std: a zero bar
    assert "lower is better" in fig.layout.xaxis.title.text and "higher is better" in fig.layout.yaxis.title.text
    assert "upper left is best" in fig.layout.title.text and fig.layout.title.text.endswith("2 seeds")


def test_long_y_titles_are_shortened_and_wrapped_and_axes_grow_their_margins():
    """Sensitivity-n's and sanity's score notes are sentences: as y titles they were clipped."""
    for metric in ("sensitivity_n", "sanity", "deletion"):
        fig = charts.curve_figure(curves(metric, ["gradient"]), metric)
        title = fig.layout.yaxis.title.text
        assert all(len(line) <= 36 for line in title.split("<br>")) and title.count("<br>") <= 2, title
        assert fig.layout.yaxis.automargin is True and fig.layout.xaxis.automargin is True
        assert fig.layout.margin.l >= 60
    assert charts.curve_figure(curves("sanity", ["gradient"]), "sanity").layout.yaxis.title.text == \
        "SSIM with the original map"
    for fig in (charts.a1a2_figure(A1A2), charts.scalar_figure(RESULT, "iou"),
                charts.history_figure([{"step": 1.0, "loss": 2.0}])):
        assert fig.layout.yaxis.automargin is True and fig.layout.margin.l >= 60
    assert all(len(line) <= 40 for line in charts.a1a2_figure(A1A2).layout.yaxis.title.text.split("<br>"))


def test_every_chart_draws_a_method_in_its_own_colour():
    fig = charts.curve_figure(curves("deletion", ["smoothgrad", "gradient"]), "deletion")
    assert [t.line.color for t in fig.data] == [styles.method_colour("smoothgrad"), styles.method_colour("gradient")]
    assert [t.marker.color for t in fig.data] == [t.line.color for t in fig.data]
    bars = charts.scalar_figure({**RESULT, "results": {"gradient": {"iou": 0.5}, "smoothgrad": {"iou": 0.4}}}, "iou")
    assert list(bars.data[0].marker.color) == [styles.method_colour("gradient"), styles.method_colour("smoothgrad")]
    ablation = {"dataset": "d", "preset": "smoke", "n": 3, "metric": "deletion", "higher_is_better": False,
                "factors": [1, 2], "summary": {"gradient": {1: 0.3, 2: 0.4}}}
    assert charts.ablation_figure(ablation).data[0].line.color == styles.method_colour("gradient")
    scatter = charts.a1a2_figure({**A1A2, "results": {"dorar": A1A2["results"]["dorar"]}})
    assert scatter.data[0].marker.color == styles.method_colour("dorar")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def test_png_uses_the_screen_colours():
    result = curves("deletion", ["gradient", "smoothgrad", "gradcam"])
    png = np.asarray(Image.open(io.BytesIO(charts.curve_png(result, "deletion"))).convert("RGB")).astype(int)
    for method in ("gradient", "smoothgrad", "gradcam"):
        target = np.array(_rgb(styles.method_colour(method)))
        assert (np.abs(png - target).max(-1) <= 6).sum() > 30, method
    matplotlib_blue = np.array(_rgb("#1f77b4"))  # matplotlib's default first colour: not used
    assert (np.abs(png - matplotlib_blue).max(-1) <= 6).sum() == 0


MEED_HISTORY = [  # a MEED fit's job reports: losses and scores per epoch
    {"step": 1.0, "loss": 2.0, "L_s": 0.9, "L_u": 1.2, "L_adv": 0.7, "A_s_accuracy": 0.5, "A_u_accuracy": 0.4,
     "fs_m": 0.6},
    {"step": 2.0, "loss": 1.5, "L_s": 0.6, "L_u": 1.1, "L_adv": 0.6, "A_s_accuracy": 0.7, "A_u_accuracy": 0.3,
     "fs_m": 0.8},
]


def test_history_figure_draws_losses_and_scores_in_two_panels():
    assert charts.history_keys(MEED_HISTORY) == (["L_adv", "L_s", "L_u", "loss"],
                                                 ["A_s_accuracy", "A_u_accuracy", "fs_m"])
    fig = charts.history_figure(MEED_HISTORY)
    panel = {t.name: t.yaxis for t in fig.data}
    assert {panel[k] for k in ("L_adv", "L_s", "L_u", "loss")} == {"y"}
    assert {panel[k] for k in ("A_s_accuracy", "A_u_accuracy", "fs_m")} == {"y2"}
    assert list(next(t for t in fig.data if t.name == "fs_m").y) == [0.6, 0.8]
    assert list(fig.layout.yaxis2.range) == [-0.02, 1.02] and fig.layout.xaxis2.title.text == "step"
    assert [a.text for a in fig.layout.annotations] == ["losses", "accuracies / agreements"]
    # a stored fit's history (stage and epoch, no step): x = epochs 1, 2, …, non-numbers left out
    stored = [{"stage": "s", "epoch": 1, "loss": 2.0, "fs_m": 0.5},
              {"stage": "s", "epoch": 2, "loss": 1.0, "fs_m": 0.9}]
    fig = charts.history_figure(stored)
    assert list(fig.data[0].x) == [1.0, 2.0] and fig.layout.xaxis2.title.text == "epoch"
    assert charts.history_figure([{"step": 1.0, "loss": 1.0}]).layout.annotations == ()  # losses only: one panel


def test_history_comparison_figure_one_line_per_fit_in_the_method_colour():
    fig = charts.history_comparison_figure({"meed": MEED_HISTORY, "meed (prior = False)": [{"fs_m": 0.2}]}, "fs_m")
    assert [t.name for t in fig.data] == ["meed", "meed (prior = False)"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [0.6, 0.8]
    assert fig.data[0].line.color == fig.data[1].line.color == styles.method_colour("meed")
    assert fig.data[0].line.dash == "solid" and fig.data[1].line.dash == "dash"
    assert "FS-M" in fig.layout.yaxis.title.text and fig.layout.xaxis.title.text == "epoch"
    assert charts.history_comparison_figure({"meed": [{"loss": 1.0}]}, "fs_m") is None


def test_fidelity_scatter_fs_m_against_fu_m_one_point_per_method():
    fig = charts.fidelity_figure(FIDELITY)
    assert [t.name for t in fig.data] == ["meed", "l2x", "gradient"]
    meed = fig.data[0]
    assert list(meed.x) == [0.75] and list(meed.y) == [0.99]  # x = FU-M, y = FS-M
    assert list(meed.error_x.array) == [0.2] and list(meed.error_y.array) == [0.1]
    assert [t.marker.color for t in fig.data] == [styles.method_colour(m) for m in ("meed", "l2x", "gradient")]
    assert "FU-M" in fig.layout.xaxis.title.text and "lower is better" in fig.layout.xaxis.title.text
    assert "FS-M" in fig.layout.yaxis.title.text and "higher is better" in fig.layout.yaxis.title.text
    assert "upper left is best" in fig.layout.title.text
    sen_only = {**FIDELITY, "results": {"meed": {"sen": 1.0}, "gradient": {"sen": 2.0}}}
    assert charts.fidelity_figure(sen_only) is None


def test_bars_and_points_show_the_95_percent_interval_where_the_result_has_one():
    result = {**RESULT, "spread": {"a": {"iou": {"mean": 0.5, "std": 0.1, "n": 3, "ci95": [0.4, 0.55]}},
                                   "b": {"iou": {"mean": 0.25, "std": 0.05, "n": 3, "ci95": [0.2, 0.3]}}}}
    bars = charts.scalar_figure(result, "iou").data[0].error_y
    assert bars.symmetric is False and list(bars.array) == pytest.approx([0.05, 0.05])
    assert list(bars.arrayminus) == pytest.approx([0.1, 0.05])
    assert "95 % interval" in charts.scalar_figure(result, "iou").layout.title.text
    assert "±1 std" in charts.scalar_figure(RESULT, "iou").layout.title.text  # older results: the std
    seeded = {**A1A2, "results": {"dorar": {"a1a2": {**A1A2["results"]["dorar"]["a1a2"], "a1_ci95": [0.8, 1.0]}}}}
    point = charts.a1a2_figure(seeded).data[0]
    assert list(point.error_y.array) == pytest.approx([0.1]) and list(point.error_y.arrayminus) == pytest.approx([0.1])
