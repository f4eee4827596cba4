"""Figure and table builders over an evaluate() result."""
from __future__ import annotations

import csv
import io

from xai_core import figures

RESULT = {
    "dataset": "d", "preset": "smoke", "n": 3,
    "results": {
        "a": {"iou": 0.5, "deletion": {"x": [0, 0.5, 1], "y": [1, 0.4, 0.1], "auc": 0.475}},
        "b": {"iou": 0.25, "deletion": {"x": [0, 0.5, 1], "y": [1, 0.8, 0.2], "auc": 0.7}},
    },
    "spread": {"a": {"iou": {"mean": 0.5, "std": 0.1, "n": 3}}, "b": {"iou": {"mean": 0.25, "std": 0.05, "n": 3}}},
    "ms_per_image": {"a": 1.0, "b": 2.0},
}


def test_curve_figure_has_one_trace_per_method_with_auc():
    assert figures.curve_metrics(RESULT) == ["deletion"]
    fig = figures.curve_figure(RESULT, "deletion")
    assert [t.name for t in fig.data] == ["a (AUC 0.475)", "b (AUC 0.700)"]
    assert list(fig.data[1].y) == [1, 0.8, 0.2]
    assert fig.layout.xaxis.title.text.startswith("fraction of pixels removed")
    assert fig.layout.yaxis.title.text == "softmax probability of target"


def test_table_and_csv():
    rows = figures.scalar_rows(RESULT)
    assert rows[0] == {"method": "a", "iou": "0.5000 ± 0.1000", "deletion AUC": 0.475, "ms / image": 1.0}
    parsed = list(csv.DictReader(io.StringIO(figures.curves_csv(RESULT))))
    assert len(parsed) == 6 and parsed[4] == {"method": "b", "metric": "deletion", "x": "0.5", "y": "0.8"}


def test_scalar_history_and_ablation_figures():
    bars = figures.scalar_figure(RESULT, "iou")
    assert list(bars.data[0].x) == ["a", "b"] and list(bars.data[0].y) == [0.5, 0.25]
    assert list(bars.data[0].error_y.array) == [0.1, 0.05]

    assert figures.history_figure([{"step": 1.0}]) is None  # nothing but steps: no chart
    hist = figures.history_figure([{"step": 1.0, "loss": 2.0}, {"step": 2.0, "loss": 1.0, "acc": 0.5}])
    assert [t.name for t in hist.data] == ["acc", "loss"] and list(hist.data[1].y) == [2.0, 1.0]

    ablation = {"dataset": "d", "preset": "smoke", "n": 3, "metric": "deletion", "higher_is_better": False,
                "factors": [1, 2, 4], "summary": {"a": {1: 0.3, 2: 0.4, 4: 0.5}}}
    fig = figures.ablation_figure(ablation)
    assert list(fig.data[0].x) == [1, 2, 4] and list(fig.data[0].y) == [0.3, 0.4, 0.5]
    assert "AUC" in fig.layout.yaxis.title.text and "lower is better" in fig.layout.yaxis.title.text


def test_png_and_table_csv_exports():
    png = figures.curve_png(RESULT, "deletion")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size[0] > 500
    parsed = list(csv.DictReader(io.StringIO(figures.rows_csv(figures.scalar_rows(RESULT)))))
    assert parsed[1]["method"] == "b" and parsed[1]["deletion AUC"] == "0.7"


def test_unscored_curves_show_n_a():
    """A curve nobody could score (sanity for a trained method: all None, AUC None) still draws."""
    from xai_core.cli import _short

    result = {**RESULT, "results": {**RESULT["results"],
                                    "c": {"deletion": {"x": [0, 0.5, 1], "y": [None] * 3, "auc": None, "n": 0}}}}
    assert [t.name for t in figures.curve_figure(result, "deletion").data][-1] == "c (AUC n/a)"
    assert figures.scalar_rows(result)[-1]["deletion AUC"] is None
    assert figures.curve_png(result, "deletion")[:4] == b"\x89PNG"
    assert _short(result["results"]["c"]["deletion"]) == "n/a" and _short(None) == "n/a" and _short(0.5) == "0.5000"


A1A2 = {
    "dataset": "d", "preset": "smoke", "n": 4,
    "results": {
        "dorar": {"iou": 0.4, "a1a2": {"a1": 0.9, "a1_std": 0.05, "a1_seeds": [0.85, 0.95],
                                       "a2": 0.2, "a2_std": 0.1, "a2_seeds": [0.1, 0.3], "seeds": 2, "n": 4}},
        "random": {"iou": 0.1, "a1a2": {"a1": 0.3, "a1_std": 0.0, "a1_seeds": [0.3, 0.3],
                                        "a2": 0.8, "a2_std": None, "a2_seeds": [0.8, None], "seeds": 2, "n": 4}},
    },
    "spread": {}, "ms_per_image": {"dorar": 3.0, "random": 0.1},
}


def test_scalar_rows_show_seeded_metrics_as_mean_and_std():
    rows = figures.scalar_rows(A1A2)
    assert rows[0] == {"method": "dorar", "iou": "0.4000", "a1a2 a1": "0.9000 ± 0.0500",
                       "a1a2 a2": "0.2000 ± 0.1000", "ms / image": 3.0}
    assert rows[1]["a1a2 a2"] == "0.8000" and figures.curve_metrics(A1A2) == []
    assert "a1a2" not in figures.curves_csv(A1A2) and figures.rows_csv(rows).count("\n") == 3


def test_a1a2_table_and_scatter_one_point_per_method_with_error_bars():
    assert figures.seeded_metrics(A1A2) == ["a1a2"] and figures.seeded_metrics(RESULT) == []
    rows = figures.a1a2_rows(A1A2)
    assert [r["method"] for r in rows] == ["dorar", "random"]
    assert rows[0]["a1 (higher is better)"] == "0.9000 ± 0.0500" and rows[0]["seeds"] == 2 and rows[0]["n"] == 4
    fig = figures.a1a2_figure(A1A2)
    assert [t.name for t in fig.data] == ["dorar", "random"]
    assert [(list(t.x), list(t.y)) for t in fig.data] == [([0.2], [0.9]), ([0.8], [0.3])]  # x = a2, y = a1
    assert list(fig.data[0].error_x.array) == [0.1] and list(fig.data[0].error_y.array) == [0.05]
    assert list(fig.data[1].error_x.array) == [0.0]  # no std: a zero bar
    assert "lower is better" in fig.layout.xaxis.title.text and "higher is better" in fig.layout.yaxis.title.text
    assert "upper left is best" in fig.layout.title.text


GROUP = {
    "dataset": "d", "preset": "smoke", "n": 4,
    "results": {
        "gradient": {"iou": None, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.5},
                     "robustness": {"pxap_clean": 0.6, "pxap_clean_std": 0.1, "pxap_clean_n": 4,
                                    "pxap_noisy": 0.5, "pxap_noisy_std": 0.2, "pxap_noisy_n": 4,
                                    "pxap_background": None, "pxap_background_std": None, "pxap_background_n": 0,
                                    "n": 4}},
    },
    "settings": {"not_applicable": {"iou": "d has no ground-truth masks"}},
    "spread": {"gradient": {"robustness": {"mean": 0.5, "std": 0.2, "n": 4}}}, "ms_per_image": {"gradient": 1.0},
}


def test_group_metrics_get_a_column_per_score_and_their_own_table():
    from xai_core.cli import _short

    (row,) = figures.scalar_rows(GROUP)
    assert row == {"method": "gradient", "iou": "n/a", "deletion AUC": 0.5, "robustness pxap_clean": "0.6000 ± 0.1000",
                   "robustness pxap_noisy": "0.5000 ± 0.2000", "robustness pxap_background": None, "ms / image": 1.0}
    assert figures.group_metrics(GROUP) == ["robustness"] and figures.group_metrics(RESULT) == []
    assert figures.group_metrics(A1A2) == [] and figures.seeded_metrics(GROUP) == []
    assert figures.curve_metrics(GROUP) == ["deletion"] and "robustness" not in figures.curves_csv(GROUP)
    assert figures.group_rows(GROUP, "robustness") == [{"method": "gradient", "pxap_clean": "0.6000 ± 0.1000",
                                                        "pxap_noisy": "0.5000 ± 0.2000", "pxap_background": None,
                                                        "n": 4}]
    assert (_short(GROUP["results"]["gradient"]["robustness"])
            == "pxap_clean 0.6000±0.1000 pxap_noisy 0.5000±0.2000 pxap_background n/a")
    ablation = {"dataset": "d", "preset": "smoke", "n": 3, "metric": "robustness", "higher_is_better": True,
                "factors": [1, 2], "summary": {"a": {1: 0.5, 2: 0.4}}}
    assert "pxap_noisy mean" in figures.ablation_figure(ablation).layout.yaxis.title.text


# -- issue 18, item 7: readable axes, ↑/↓ markers, a numeric CSV, one palette on screen and in the PNG -------
def _curves(metric: str, methods: list[str]) -> dict:
    return {"dataset": "d", "preset": "smoke", "n": 3, "ms_per_image": {m: 1.0 for m in methods},
            "results": {m: {metric: {"x": [0, 0.5, 1], "y": [1, 0.5 - 0.1 * i, 0.1], "auc": 0.5}}
                        for i, m in enumerate(methods)}}


def test_long_y_titles_are_shortened_and_wrapped_and_axes_grow_their_margins():
    """Sensitivity-n's and sanity's score notes are sentences: as y titles they were clipped."""
    for metric in ("sensitivity_n", "sanity", "deletion"):
        fig = figures.curve_figure(_curves(metric, ["gradient"]), metric)
        title = fig.layout.yaxis.title.text
        assert all(len(line) <= 36 for line in title.split("<br>")) and title.count("<br>") <= 2, title
        assert fig.layout.yaxis.automargin is True and fig.layout.xaxis.automargin is True
        assert fig.layout.margin.l >= 60
    assert figures.curve_figure(_curves("sanity", ["gradient"]), "sanity").layout.yaxis.title.text == \
        "SSIM with the original map"
    assert figures.axis_title("word " * 40).count("<br>") == 2  # at most three lines
    for fig in (figures.a1a2_figure(A1A2), figures.scalar_figure(RESULT, "iou"),
                figures.history_figure([{"step": 1.0, "loss": 2.0}])):
        assert fig.layout.yaxis.automargin is True and fig.layout.margin.l >= 60
    assert all(len(line) <= 40 for line in figures.a1a2_figure(A1A2).layout.yaxis.title.text.split("<br>"))


def test_table_columns_are_marked_with_the_better_direction():
    assert figures.table_labels(figures.scalar_rows(RESULT)) == {"iou": "iou ↑", "deletion AUC": "deletion AUC ↓"}
    assert figures.table_labels(figures.scalar_rows(A1A2)) == {"iou": "iou ↑", "a1a2 a1": "a1a2 a1 ↑",
                                                              "a1a2 a2": "a1a2 a2 ↓"}
    labels = figures.table_labels(figures.scalar_rows(GROUP))
    assert labels["robustness pxap_noisy"] == "robustness pxap_noisy ↑"
    assert labels["deletion AUC"] == "deletion AUC ↓"
    assert labels["iou"] == "iou ↑" and "ms / image" not in labels and "method" not in labels
    assert figures.group_labels(GROUP, "robustness") == {k: f"{k} ↑" for k in ("pxap_clean", "pxap_noisy",
                                                                                "pxap_background")}
    assert figures.higher_is_better("sanity AUC") is False and figures.higher_is_better("insertion AUC") is True
    assert figures.higher_is_better("a2", "a1a2") is False and figures.higher_is_better("no_such_metric") is None
    assert "AUC: ↓ lower is better" in figures.curve_figure(RESULT, "deletion").layout.legend.title.text


def test_table_csv_has_numeric_mean_and_std_columns():
    for result in (RESULT, A1A2, GROUP):
        text = figures.rows_csv(figures.numeric_rows(result))
        assert "±" not in text
        for row in csv.DictReader(io.StringIO(text)):
            assert all(v == "" or float(v) == float(v) for k, v in row.items() if k != "method")
    (a, b) = csv.DictReader(io.StringIO(figures.rows_csv(figures.numeric_rows(RESULT))))
    assert float(a["iou mean"]) == 0.5 and float(a["iou std"]) == 0.1 and float(b["deletion AUC mean"]) == 0.7
    assert b["deletion AUC std"] == "" and float(b["ms / image"]) == 2.0
    dorar, random = figures.numeric_rows(A1A2)
    assert (dorar["a1a2 a2 mean"], dorar["a1a2 a2 std"], random["a1a2 a2 std"]) == (0.2, 0.1, None)
    (row,) = figures.numeric_rows(GROUP)
    assert row["iou mean"] is None and row["robustness pxap_noisy mean"] == 0.5  # n/a: an empty cell


def _lab(hex_colour: str):
    from skimage.color import rgb2lab
    import numpy as np

    rgb = np.array([[[int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]]])
    return rgb2lab(rgb)[0, 0]


def test_one_palette_of_distinct_hues_fixed_per_method():
    import itertools

    import numpy as np

    from xai_core.methods import METHODS

    distances = [float(np.linalg.norm(_lab(a) - _lab(b))) for a, b in itertools.combinations(figures.PALETTE, 2)]
    assert len(set(figures.PALETTE)) == len(figures.PALETTE) >= 8 and min(distances) > 20  # no near-identical pair
    names = METHODS.names()
    assert [figures.method_colour(m) for m in names[:10]] == list(figures.PALETTE[:len(names[:10])])
    styles = {(figures.method_style(m).colour, figures.method_style(m).marker) for m in names}
    assert len(styles) == len(names)  # past ten methods: same colours, another marker
    assert figures.method_colour("comet (random labels)") == figures.method_colour("comet")
    assert figures.method_colour("diet (u = 4)") == figures.method_colour("diet")
    assert figures.method_colour("not_registered") == figures.method_colour("not_registered")
    styles = figures.trace_styles(["comet (random labels)", "comet", "gradient"])
    assert styles["comet"].dash == "solid" and styles["comet (random labels)"].dash == "dash"
    assert styles["comet"].colour == styles["comet (random labels)"].colour != styles["gradient"].colour
    sweep = figures.trace_styles([f"diet (u = {u})" for u in (1, 2, 4)])
    assert [s.dash for s in sweep.values()] == ["solid", "dash", "dot"]


def test_every_chart_draws_a_method_in_its_own_colour():
    result = _curves("deletion", ["smoothgrad", "gradient"])
    fig = figures.curve_figure(result, "deletion")
    assert [t.line.color for t in fig.data] == [figures.method_colour("smoothgrad"), figures.method_colour("gradient")]
    assert [t.marker.color for t in fig.data] == [t.line.color for t in fig.data]
    bars = figures.scalar_figure({**RESULT, "results": {"gradient": {"iou": 0.5}, "smoothgrad": {"iou": 0.4}}}, "iou")
    assert list(bars.data[0].marker.color) == [figures.method_colour("gradient"), figures.method_colour("smoothgrad")]
    ablation = {"dataset": "d", "preset": "smoke", "n": 3, "metric": "deletion", "higher_is_better": False,
                "factors": [1, 2], "summary": {"gradient": {1: 0.3, 2: 0.4}}}
    assert figures.ablation_figure(ablation).data[0].line.color == figures.method_colour("gradient")
    scatter = figures.a1a2_figure({**A1A2, "results": {"dorar": A1A2["results"]["dorar"]}})
    assert scatter.data[0].marker.color == figures.method_colour("dorar")


def test_png_uses_the_screen_colours():
    import numpy as np
    from PIL import Image

    result = _curves("deletion", ["gradient", "smoothgrad", "gradcam"])
    png = np.asarray(Image.open(io.BytesIO(figures.curve_png(result, "deletion"))).convert("RGB")).astype(int)
    for method in ("gradient", "smoothgrad", "gradcam"):
        target = np.array(_rgb(figures.method_colour(method)))
        assert (np.abs(png - target).max(-1) <= 6).sum() > 30, method
    matplotlib_blue = np.array(_rgb("#1f77b4"))  # matplotlib's default first colour: not used
    assert (np.abs(png - matplotlib_blue).max(-1) <= 6).sum() == 0


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


MEED_HISTORY = [  # a MEED fit's job reports: losses and scores per epoch
    {"step": 1.0, "loss": 2.0, "L_s": 0.9, "L_u": 1.2, "L_adv": 0.7, "A_s_accuracy": 0.5, "A_u_accuracy": 0.4,
     "fs_m": 0.6},
    {"step": 2.0, "loss": 1.5, "L_s": 0.6, "L_u": 1.1, "L_adv": 0.6, "A_s_accuracy": 0.7, "A_u_accuracy": 0.3,
     "fs_m": 0.8},
]


def test_history_figure_draws_losses_and_scores_in_two_panels():
    assert figures.history_keys(MEED_HISTORY) == (["L_adv", "L_s", "L_u", "loss"],
                                                  ["A_s_accuracy", "A_u_accuracy", "fs_m"])
    fig = figures.history_figure(MEED_HISTORY)
    panel = {t.name: t.yaxis for t in fig.data}
    assert {panel[k] for k in ("L_adv", "L_s", "L_u", "loss")} == {"y"}
    assert {panel[k] for k in ("A_s_accuracy", "A_u_accuracy", "fs_m")} == {"y2"}
    assert list(next(t for t in fig.data if t.name == "fs_m").y) == [0.6, 0.8]
    assert list(fig.layout.yaxis2.range) == [-0.02, 1.02] and fig.layout.xaxis2.title.text == "step"
    assert [a.text for a in fig.layout.annotations] == ["losses", "accuracies / agreements"]
    # a stored fit's history (stage and epoch, no step): x = epochs 1, 2, …, non-numbers left out
    stored = [{"stage": "s", "epoch": 1, "loss": 2.0, "fs_m": 0.5},
              {"stage": "s", "epoch": 2, "loss": 1.0, "fs_m": 0.9}]
    fig = figures.history_figure(stored)
    assert list(fig.data[0].x) == [1.0, 2.0] and fig.layout.xaxis2.title.text == "epoch"
    assert figures.history_figure([{"step": 1.0, "loss": 1.0}]).layout.annotations == ()  # losses only: one panel


def test_history_comparison_figure_one_line_per_fit_in_the_method_colour():
    fig = figures.history_comparison_figure({"meed": MEED_HISTORY, "meed (prior = False)": [{"fs_m": 0.2}]}, "fs_m")
    assert [t.name for t in fig.data] == ["meed", "meed (prior = False)"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [0.6, 0.8]
    assert fig.data[0].line.color == fig.data[1].line.color == figures.method_colour("meed")
    assert fig.data[0].line.dash == "solid" and fig.data[1].line.dash == "dash"
    assert "FS-M" in fig.layout.yaxis.title.text and fig.layout.xaxis.title.text == "epoch"
    assert figures.history_comparison_figure({"meed": [{"loss": 1.0}]}, "fs_m") is None


def _fidelity(fs_m, fu_m, fs_a=None, fu_a=None):
    value = {"fs_m": fs_m, "fs_m_std": 0.1, "fu_m": fu_m, "fu_m_std": 0.2, "n": 4}
    if fs_a is not None:
        value.update(fs_a=fs_a, fs_a_std=0.0, fu_a=fu_a, fu_a_std=0.0)
    return value


FIDELITY = {
    "dataset": "mnist38", "preset": "smoke", "n": 4,
    "results": {"meed": {"fs_fu": _fidelity(0.99, 0.75, 0.98, 0.6), "sen": 6.1},
                "l2x": {"fs_fu": _fidelity(0.91, 0.91, 0.9, 0.88), "sen": 7.0},
                "gradient": {"fs_fu": _fidelity(0.8, 0.5, 0.7, 0.5), "sen": 139.123456}},
    "ms_per_image": {"meed": 0.1234, "l2x": 0.1, "gradient": 2.0},
    "settings": {"metrics": {}},
}


def test_fidelity_table_in_the_papers_layout_with_directions():
    assert figures.has_fidelity(FIDELITY) and not figures.has_fidelity(RESULT)
    rows = figures.fidelity_rows(FIDELITY)
    assert rows[0] == {"method": "meed", "FS-M": 0.99, "FU-M": 0.75, "FS-A": 0.98, "FU-A": 0.6, "SEN": 6.1,
                       "ms / image": 0.12}
    assert rows[2]["SEN"] == 139.1235
    assert figures.fidelity_labels(rows) == {"FS-M": "FS-M ↑", "FU-M": "FU-M ↓", "FS-A": "FS-A ↑", "FU-A": "FU-A ↓",
                                             "SEN": "SEN ↓"}
    # approximators off, sen not run: FS-M and FU-M only
    only_m = {**FIDELITY, "results": {"meed": {"fs_fu": _fidelity(0.9, 0.1)}}}
    assert list(figures.fidelity_rows(only_m)[0]) == ["method", "FS-M", "FU-M", "ms / image"]
    sen_only = {**FIDELITY, "results": {"meed": {"sen": 1.0}, "gradient": {"sen": 2.0}}}
    assert figures.has_fidelity(sen_only) and figures.fidelity_figure(sen_only) is None


def test_fidelity_scatter_fs_m_against_fu_m_one_point_per_method():
    fig = figures.fidelity_figure(FIDELITY)
    assert [t.name for t in fig.data] == ["meed", "l2x", "gradient"]
    meed = fig.data[0]
    assert list(meed.x) == [0.75] and list(meed.y) == [0.99]  # x = FU-M, y = FS-M
    assert list(meed.error_x.array) == [0.2] and list(meed.error_y.array) == [0.1]
    assert [t.marker.color for t in fig.data] == [figures.method_colour(m) for m in ("meed", "l2x", "gradient")]
    assert "FU-M" in fig.layout.xaxis.title.text and "lower is better" in fig.layout.xaxis.title.text
    assert "FS-M" in fig.layout.yaxis.title.text and "higher is better" in fig.layout.yaxis.title.text
    assert "upper left is best" in fig.layout.title.text


def test_component_rows_name_what_each_variant_changes():
    result = {**FIDELITY, "results": {"meed": FIDELITY["results"]["meed"],
                                      "meed (w/o AIL)": FIDELITY["results"]["l2x"]},
              "ms_per_image": {"meed": 0.1, "meed (w/o AIL)": 0.1},
              "ablation": {"meed": {}, "meed (w/o AIL)": {"ail": False}}}
    rows = figures.component_rows(result)
    assert [r["method"] for r in rows] == ["meed", "meed (w/o AIL)"]
    assert rows[0]["settings changed"] == "— (the full method)" and rows[1]["settings changed"] == "ail = False"
    assert list(rows[1])[:4] == ["method", "settings changed", "FS-M", "FU-M"] and rows[1]["FU-M"] == 0.91
    plain = {**RESULT, "ablation": {"a": {}, "b": {"u": 2}}}
    assert figures.component_rows(plain)[1]["iou"] == "0.2500 ± 0.0500"
