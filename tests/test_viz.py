"""Heatmap rendering: shapes, dtypes, ranges, scaling modes, sign handling, outlines."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from xai_core import viz
from xai_core.errors import InvalidInputError


def maps(seed: int = 0, n: int = 3, h: int = 8, w: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, h, w))


def test_normalise_shapes_ranges_and_dtypes():
    m = maps()
    for sign in ("absolute", "positive", "negative"):
        out = viz.normalise(m, sign=sign)
        assert out.shape == m.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
    out = viz.normalise(torch.as_tensor(m), sign="all")
    assert out.min() >= -1 and out.max() <= 1 and out.min() < 0
    single = viz.normalise(m[0])
    assert single.shape == m[0].shape


def test_sign_handling():
    m = np.array([[[-2.0, -1.0, 0.0, 1.0, 2.0]]])
    kw = dict(clip_percentile=None)
    assert viz.normalise(m, sign="absolute", **kw)[0, 0].tolist() == [1.0, 0.5, 0.0, 0.5, 1.0]
    assert viz.normalise(m, sign="positive", **kw)[0, 0].tolist() == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert viz.normalise(m, sign="negative", **kw)[0, 0].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert viz.normalise(m, sign="all", **kw)[0, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    with pytest.raises(InvalidInputError):
        viz.normalise(m, sign="both")


def test_shared_vs_per_image_scaling():
    a = np.linspace(0, 1, 20).reshape(4, 5)
    stack = np.stack([a, 4 * a])
    per, scales = viz.normalise(stack, mode="per_image", clip_percentile=None, return_scale=True)
    assert np.allclose(per[0], per[1]) and per[0].max() == 1 and scales.tolist() == [1.0, 4.0]
    shared, s2 = viz.normalise(stack, mode="shared", clip_percentile=None, return_scale=True)
    assert shared[1].max() == 1 and shared[0].max() == pytest.approx(0.25)
    assert np.allclose(shared[1], 4 * shared[0]) and s2.tolist() == [4.0, 4.0]


def test_percentile_clipping_saturates_outliers_but_keeps_sparse_maps():
    m = np.ones((1, 10, 10))
    m[0, 0, 0] = 100.0  # one outlier
    clipped = viz.normalise(m, clip_percentile=99.0)
    assert clipped[0, 0, 0] == 1.0 and clipped[0, 5, 5] > 0.5  # the rest is not crushed to ~0.01
    assert viz.normalise(m, clip_percentile=100.0)[0, 5, 5] == pytest.approx(0.01)
    sparse = np.zeros((1, 10, 10))
    sparse[0, 2, 3] = 1.0  # a binary mask with one pixel: still shown at full scale
    assert viz.normalise(sparse)[0, 2, 3] == 1.0
    zero = viz.normalise(np.zeros((2, 3, 3)))
    assert (zero == 0).all()
    nan = np.full((1, 2, 2), np.nan)
    nan[0, 0, 0] = 1.0
    assert viz.normalise(nan).tolist() == [[[1.0, 0.0], [0.0, 0.0]]]


def test_colourise_and_tables():
    heat = np.linspace(0, 1, 12).reshape(3, 4)
    rgb = viz.colourise(heat)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    table = viz.colour_table("inferno")
    assert (rgb[0, 0] == table[0]).all() and (rgb[-1, -1] == table[-1]).all()
    signed = viz.colourise(np.array([[-1.0, 0.0, 1.0]]))  # diverging by default
    div = viz.colour_table(viz.DEFAULT_DIVERGING_CMAP)
    assert (signed[0, 0] == div[0]).all() and (signed[0, 2] == div[-1]).all() and (signed[0, 1] == div[128]).all()
    stack = viz.colourise(np.zeros((2, 3, 4)), cmap="viridis")
    assert stack.shape == (2, 3, 4, 3)
    with pytest.raises(InvalidInputError):
        viz.colourise(heat, cmap="no-such-map")


def test_colourbar_orientation():
    bar = viz.colourbar("inferno", length=50, thickness=7)
    t = viz.colour_table("inferno")
    assert bar.shape == (50, 7, 3) and bar.dtype == np.uint8
    assert (bar[0, 0] == t[-1]).all() and (bar[-1, 0] == t[0]).all()  # high at the top
    h = viz.colourbar("inferno", length=50, thickness=7, vertical=False)
    assert h.shape == (7, 50, 3) and (h[0, -1] == t[-1]).all()
    assert viz.colourbar_labels(2.0, "all") == [(0.0, -2.0), (0.5, 0.0), (1.0, 2.0)]
    assert viz.colourbar_labels(2.0)[-1] == (1.0, 2.0)


def test_to_uint8_layouts():
    t = torch.zeros(3, 4, 5)
    t[0] = 1.0
    a = viz.to_uint8(t)
    assert a.shape == (4, 5, 3) and a.dtype == np.uint8 and (a[..., 0] == 255).all() and (a[..., 1] == 0).all()
    grey = viz.to_uint8(torch.full((1, 4, 5), 0.5))
    assert grey.shape == (4, 5, 3) and (grey == 128).all()
    assert viz.to_uint8(torch.rand(2, 1, 4, 5)).shape == (2, 4, 5, 3)
    hwc = np.random.default_rng(1).random((4, 5, 3))
    assert (viz.to_uint8(hwc) == np.round(hwc * 255)).all()
    assert viz.to_uint8(np.zeros((4, 5))).shape == (4, 5, 3)
    assert viz.to_uint8(np.full((4, 5), 2.0)).max() == 255  # clipped
    u8 = np.zeros((4, 5, 3), dtype=np.uint8)
    assert viz.to_uint8(u8) is u8 or (viz.to_uint8(u8) == u8).all()


def test_overlay_blends():
    img = torch.zeros(3, 4, 4)
    heat = np.full((4, 4, 3), 200, dtype=np.uint8)
    assert (viz.overlay(img, heat, 0.0) == 0).all()
    assert (viz.overlay(img, heat, 1.0) == 200).all()
    assert (viz.overlay(img, heat, 0.5) == 100).all()
    alpha = np.zeros((4, 4))
    alpha[0, 0] = 1.0
    out = viz.overlay(img, heat, alpha)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert (out[0, 0] == 200).all() and (out[1:] == 0).all()
    assert viz.overlay(img, np.ones((4, 4)), 1.0)[0, 0].tolist() == viz.colour_table("inferno")[-1].tolist()
    with pytest.raises(InvalidInputError):
        viz.overlay(img, np.zeros((3, 3, 3), dtype=np.uint8))


def test_contour_pixels_lie_on_the_mask_boundary():
    rng = np.random.default_rng(2)
    mask = np.zeros((20, 20), dtype=bool)
    mask[3:12, 5:15] = True
    mask[14:20, 0:4] = True  # touches the image border
    mask[7:9, 8:10] = False  # a hole
    base = (rng.random((20, 20, 3)) * 100).astype(np.uint8)  # no pure green anywhere
    out = viz.contour_overlay(base, mask, colour=(0, 255, 0))
    drawn = (out != base).any(-1)
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1]
    touches_outside = ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    boundary = inside & touches_outside
    assert drawn.any()
    assert np.array_equal(drawn, boundary)  # exactly the inner boundary, image border included
    assert (out[drawn] == [0, 255, 0]).all()
    assert (out[~mask] == base[~mask]).all()  # nothing outside the mask changes
    assert out.shape == base.shape and out.dtype == np.uint8


def test_render_heatmaps():
    rgb, scales = viz.render_heatmaps(torch.as_tensor(maps(3)), mode="shared", sign="all")
    assert rgb.shape == (3, 8, 10, 3) and rgb.dtype == np.uint8 and scales.shape == (3,)
    assert len(set(scales.tolist())) == 1


def test_unit_outlines_colour_hits_and_misses_like_dorar_fig13():
    image = np.full((8, 8), 0.5)  # grey: no red, yellow or cyan anywhere
    selection = np.zeros((8, 8), dtype=bool)
    selection[0:4, 0:4] = True  # unit (0, 0): overlaps the ground truth in one pixel
    selection[4:8, 4:8] = True  # unit (1, 1): does not
    truth = np.zeros((8, 8), dtype=bool)
    truth[3, 3] = True
    truth[0:4, 4:8] = True  # unit (0, 1): on the object but not selected
    out = viz.unit_outlines(image, torch.as_tensor(selection), 4, torch.as_tensor(truth))
    frame = np.ones((4, 4), dtype=bool)
    frame[1:-1, 1:-1] = False
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out[0:4, 0:4][frame] == viz.HIT_COLOUR).all() and (out[4:8, 4:8][frame] == viz.MISS_COLOUR).all()
    assert (out[0:4, 0:4][~frame] == 128).all()  # the unit's inside stays visible
    assert (out[0:4, 4:8] == 128).all() and (out[4:8, 0:4] == 128).all()  # unselected units untouched

    plain = viz.unit_outlines(image, selection, 4)  # no ground truth: one colour
    drawn = (plain != 128).any(-1)
    assert drawn.sum() == 2 * 12 and (plain[drawn] == viz.UNIT_COLOUR).all()


def test_unit_outlines_scale_and_adjacent_units():
    selection = np.zeros((4, 4), dtype=bool)
    selection[:, 0:2] = True  # two adjacent 2-px units, one above the other: each gets its own frame
    out = viz.unit_outlines(np.zeros((4, 4)), selection, 2, scale=3)
    assert out.shape == (12, 12, 3)
    drawn = (out != 0).any(-1)
    assert drawn[5, 0:6].all() and drawn[6, 0:6].all()  # the shared edge: bottom of one, top of the other
    assert not drawn[1:5, 1:5].any() and not drawn[:, 6:].any()
    with pytest.raises(InvalidInputError):
        viz.unit_outlines(np.zeros((6, 6)), np.zeros((6, 6), dtype=bool), 4)  # 4 does not divide 6
    with pytest.raises(InvalidInputError):
        viz.unit_outlines(np.zeros((4, 4)), selection, 2, np.zeros((3, 3), dtype=bool))


# -- issue 18, item 8: numbers on the colour bar, each map's range, what "shared" means ------------------------
def test_colourbar_ticks_give_numbers_shares_and_signs():
    assert viz.colourbar_ticks("shared", "absolute", 0.02) == [(0.0, "0"), (0.5, "0.01"), (1.0, "0.02")]
    assert viz.colourbar_ticks("shared", "negative", 4.0) == [(0.0, "0"), (0.5, "−2"), (1.0, "−4")]
    assert viz.colourbar_ticks("shared", "all", 0.5) == [(0.0, "−0.5\nnegative"), (0.5, "0"), (1.0, "+0.5\npositive")]
    assert viz.colourbar_ticks("per_image", "absolute", 3.0) == [(0.0, "0"), (0.5, "50 %"), (1.0, "100 %")]
    assert viz.colourbar_ticks("per_image", "all") == [(0.0, "−100 %\nnegative"), (0.5, "0"),
                                                       (1.0, "+100 %\npositive")]
    assert viz.format_value(-0.012345) == "−0.0123" and viz.format_value(2e-6, signed=True) == "+2e−06"


def test_colourbar_image_writes_the_ticks_beneath_the_bar():
    ticks = viz.colourbar_ticks("shared", "all", 0.5)
    bar = viz.colourbar_image(ticks, viz.DEFAULT_DIVERGING_CMAP, width=3.2, dpi=100)
    assert bar.dtype == np.uint8 and bar.ndim == 3 and bar.shape[1] == 320 and bar.shape[2] == 3
    h = bar.shape[0]
    top, bottom = bar[: int(0.4 * h)], bar[int(0.45 * h):]
    r, b = top[..., 0].astype(int), top[..., 2].astype(int)
    assert (b > r + 60).any() and (r > b + 60).any()  # the bar: its blue and red ends
    assert (bottom.max(-1) < 90).sum() > 50  # dark text: the tick labels
    other = viz.colourbar_image(viz.colourbar_ticks("shared", "all", 123.0), viz.DEFAULT_DIVERGING_CMAP, dpi=100)
    assert other.shape == bar.shape and (other != bar).any()


def test_colour_legend_per_image_shows_each_maps_range():
    stack = np.zeros((2, 4, 4))
    stack[0, 0, 0], stack[0, 1, 1] = -0.5, 2.0
    stack[1, 2, 2] = 0.001
    legend = viz.colour_legend(stack, ["a", "b"], "per_image", "absolute", clip_percentile=None)
    assert legend.captions == ["min −0.5 · max 2 · bar 0 → 2", "min 0 · max 0.001 · bar 0 → 0.001"]
    assert "Per-image" in legend.note and "its own range" in legend.note and legend.faint == []
    assert legend.bar.dtype == np.uint8 and legend.bar.shape[1] > legend.bar.shape[0]


def test_colour_legend_shared_explains_units_and_names_washed_out_maps():
    stack = np.zeros((3, 4, 4))
    stack[0, 0, 0] = 3.0  # e.g. bits
    stack[1, 0, 0] = 0.01  # e.g. gradients: nearly blank on a range of 3
    stack[2, 1, 1] = 1.0
    legend = viz.colour_legend(stack, ["iba", "gradient", "mask"], "shared", "absolute", clip_percentile=None)
    assert "one range for all 3 maps" in legend.note and "0 → 3" in legend.note and "share units" in legend.note
    assert legend.faint == ["gradient"] and "Nearly blank" in legend.note and "gradient" in legend.note
    assert legend.captions[1] == "min 0 · max 0.01"  # shared: no per-map bar ends
    signed = viz.colour_legend(stack - 0.5, ["iba", "gradient", "mask"], "shared", "all", clip_percentile=None)
    assert "negative" in signed.note and "positive" in signed.note and "−2.5 → +2.5" in signed.note
    with pytest.raises(InvalidInputError):
        viz.colour_legend(stack, ["one name"], "shared")


def test_contour_overlay_picks_an_outline_that_contrasts_with_the_canvas():
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    green = np.zeros((16, 16, 3), np.uint8)
    green[..., 1] = 200  # a green canvas: a green outline would vanish
    out = viz.contour_overlay(green, mask)
    drawn = (out != green).any(-1)
    colour = out[drawn][0]
    assert drawn.any() and (out[drawn] == colour).all()
    assert np.linalg.norm(colour.astype(float) - [0, 200, 0]) >= viz.OUTLINE_CONTRAST
    grey = np.full((16, 16, 3), 90, np.uint8)
    assert (viz.contour_overlay(grey, mask)[drawn] == [0, 255, 0]).all()  # green stays where it shows
    assert viz.outline_colour(np.full((5, 3), [255, 0, 255])) == (0, 255, 0)
    assert viz.outline_colour(np.full((5, 3), [0, 255, 0])) != (0, 255, 0)


def test_colour_legend_says_when_a_map_is_constant():
    stack = np.zeros((2, 4, 4))
    stack[1] = 0.25
    legend = viz.colour_legend(stack, ["zero", "flat"], "per_image", "absolute", clip_percentile=None)
    assert legend.captions == ["constant map: every score is 0 (nothing ranked)",
                               "constant map: every score is 0.25 (nothing ranked)"]
