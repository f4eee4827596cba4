"""One palette of distinct hues fixed per method, variants dashed; axis titles that fit; which way is better."""
from __future__ import annotations

import itertools

import numpy as np

from xai_core import figures
from xai_core.figures import styles


def lab(hex_colour: str):
    from skimage.color import rgb2lab

    rgb = np.array([[[int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]]])
    return rgb2lab(rgb)[0, 0]


def test_one_palette_of_distinct_hues_fixed_per_method():
    from xai_core.methods import METHODS

    distances = [float(np.linalg.norm(lab(a) - lab(b))) for a, b in itertools.combinations(styles.PALETTE, 2)]
    assert len(set(styles.PALETTE)) == len(styles.PALETTE) >= 8 and min(distances) > 20  # no near-identical pair
    names = METHODS.names()
    assert [styles.method_colour(m) for m in names[:10]] == list(styles.PALETTE[:len(names[:10])])
    drawn = {(styles.method_style(m).colour, styles.method_style(m).marker) for m in names}
    assert len(drawn) == len(names)  # past ten methods: same colours, another marker
    assert styles.method_colour("comet (random labels)") == styles.method_colour("comet")
    assert styles.method_colour("diet (u = 4)") == styles.method_colour("diet")
    assert styles.method_colour("not_registered") == styles.method_colour("not_registered")
    traces = styles.trace_styles(["comet (random labels)", "comet", "gradient"])
    assert traces["comet"].dash == "solid" and traces["comet (random labels)"].dash == "dash"
    assert traces["comet"].colour == traces["comet (random labels)"].colour != traces["gradient"].colour
    sweep = styles.trace_styles([f"diet (u = {u})" for u in (1, 2, 4)])
    assert [s.dash for s in sweep.values()] == ["solid", "dash", "dot"]


def test_axis_titles_are_shortened_and_wrapped():
    assert styles.axis_title("word " * 40).count("<br>") == 2  # at most three lines
    assert styles.axis_title("SSIM with the original map: per image (details)") == "SSIM with the original map"


def test_which_way_a_score_is_better():
    assert styles.higher_is_better("sanity AUC") is False and styles.higher_is_better("insertion AUC") is True
    assert styles.higher_is_better("a2", "a1a2") is False and styles.higher_is_better("no_such_metric") is None
    assert styles.higher_is_better("ms / image") is None
    assert styles.fidelity_direction("fu_m") is False and styles.fidelity_direction("sen") is False
    assert styles.better_words(True) == "↑ higher is better" and styles.better_words(None) == ""


def test_the_package_re_exports_the_submodules_names():
    from xai_core.figures import charts, tables

    assert all(getattr(figures, name) is not None for name in figures.__all__)
    assert figures.curve_figure is charts.curve_figure and figures.scalar_rows is tables.scalar_rows
    assert figures.method_colour is styles.method_colour and figures.masking_rows is tables.masking_rows
