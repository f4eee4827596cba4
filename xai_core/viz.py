"""Heatmap rendering: pure functions from tensors/arrays to numpy images (no Streamlit).

Pipeline: :func:`normalise` a stack of attribution maps (per-image or shared scale, sign
handling, percentile clipping) → :func:`colourise` with a colour map → :func:`overlay` on the
image (:func:`to_uint8`) → :func:`contour_overlay` for the ground-truth outline; and
:func:`colourbar` / :func:`colourbar_labels` / :func:`colourbar_ticks` / :func:`colourbar_image` and
:func:`colour_legend` (numbers on the bar, each map's range, what the scale means) for the legend;
:func:`unit_outlines` frames the explanation units a method selected (DoRaR's Fig. 13).

Colour maps come from matplotlib (pinned in requirements.txt).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from matplotlib import colormaps

from .errors import InvalidInputError

ArrayLike = np.ndarray | torch.Tensor
Mode = Literal["per_image", "shared"]
Sign = Literal["absolute", "positive", "negative", "all"]
SIGNS: tuple[str, ...] = ("absolute", "positive", "negative", "all")
MODES: tuple[str, ...] = ("per_image", "shared")
DEFAULT_CMAP = "inferno"  # maps in [0, 1]
DEFAULT_DIVERGING_CMAP = "RdBu_r"  # signed maps in [-1, 1]: blue negative, white 0, red positive

def _np(a: ArrayLike) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


# -- normalisation ------------------------------------------------------------------------------
def normalise(
    scores: ArrayLike,
    mode: Mode = "per_image",
    sign: Sign = "absolute",
    clip_percentile: float | None = 99.0,
    return_scale: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Scale attribution maps (H×W or a stack N×H×W) for display; float32, same shape.

    ``sign``: ``"absolute"`` shows |s|, ``"positive"`` max(s, 0), ``"negative"`` max(−s, 0), all
    in [0, 1]; ``"all"`` keeps the sign and gives [−1, 1] (0 stays 0: use a diverging map).
    The scale is the ``clip_percentile``-th percentile of the *non-zero* magnitudes (so a sparse
    map, e.g. a binary mask, is not clipped to black; None or 100 = the maximum); values above
    it saturate. ``mode="per_image"`` scales each map by its own percentile, ``"shared"`` uses
    one scale for the whole stack so maps (e.g. methods) can be compared by brightness.
    Zero stays zero (no min-max shift); NaNs become 0; an all-zero map stays 0.
    ``return_scale=True`` also returns the scale of each map (N, or a scalar array for H×W).
    """
    if sign not in SIGNS:
        raise InvalidInputError(f"unknown sign handling {sign!r}; choose from: {', '.join(SIGNS)}")
    if mode not in MODES:
        raise InvalidInputError(f"unknown scale mode {mode!r}; choose from: {', '.join(MODES)}")
    s = np.nan_to_num(_np(scores).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    single = s.ndim == 2
    if single:
        s = s[None]
    if s.ndim != 3:
        raise InvalidInputError(f"maps must be H×W or N×H×W, got shape {s.shape}")
    v = {"absolute": np.abs(s), "positive": np.maximum(s, 0), "negative": np.maximum(-s, 0), "all": s}[sign]
    mag = np.abs(v)
    q = 100.0 if clip_percentile is None else float(np.clip(clip_percentile, 0.0, 100.0))

    def scale_of(m: np.ndarray) -> float:
        nz = m[m > 0]
        return float(np.percentile(nz, q)) if nz.size else 0.0

    if mode == "shared":
        scales = np.full(len(v), scale_of(mag))
    else:
        scales = np.array([scale_of(m) for m in mag], dtype=np.float64)
    safe = np.where(scales > 0, scales, 1.0)[:, None, None]
    lo = -1.0 if sign == "all" else 0.0
    out = np.clip(v / safe, lo, 1.0).astype(np.float32)
    out[scales <= 0] = 0.0
    if single:
        out, scales = out[0], scales[0]
    return (out, np.asarray(scales)) if return_scale else out


# -- colour maps --------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def colour_table(cmap: str = DEFAULT_CMAP, n: int = 256) -> np.ndarray:
    """``n``×3 uint8 lookup table of a matplotlib colour map."""
    try:
        rgba = colormaps[cmap](np.linspace(0.0, 1.0, n))
    except (KeyError, ValueError):
        raise InvalidInputError(f"unknown colour map {cmap!r}") from None
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def colourise(heat: ArrayLike, cmap: str | None = None, signed: bool | None = None) -> np.ndarray:
    """Map values to RGB uint8 (…×3): unsigned maps in [0, 1] (default ``inferno``), signed maps
    in [−1, 1] (default diverging ``RdBu_r``, 0 = the middle colour). ``signed=None`` infers it
    from the presence of negative values; pass it explicitly when colouring a grid."""
    h = np.nan_to_num(_np(heat).astype(np.float64))
    if signed is None:
        signed = bool((h < 0).any())
    if cmap is None:
        cmap = DEFAULT_DIVERGING_CMAP if signed else DEFAULT_CMAP
    t = (np.clip(h, -1.0, 1.0) + 1.0) / 2.0 if signed else np.clip(h, 0.0, 1.0)
    table = colour_table(cmap)
    return table[np.round(t * (len(table) - 1)).astype(np.int64)]


def colourbar(
    cmap: str = DEFAULT_CMAP, length: int = 256, thickness: int = 16, vertical: bool = True
) -> np.ndarray:
    """A colour-bar image (uint8): vertical = length×thickness×3 with the highest value at the
    top; horizontal = thickness×length×3 with the highest value on the right."""
    if length < 2 or thickness < 1:
        raise InvalidInputError("colour bar needs length >= 2 and thickness >= 1")
    row = colour_table(cmap)[np.round(np.linspace(0, 255, length)).astype(np.int64)]  # length×3
    if vertical:
        return np.repeat(row[::-1, None, :], thickness, axis=1)
    return np.repeat(row[None, :, :], thickness, axis=0)


def colourbar_labels(scale: float, sign: Sign = "absolute") -> list[tuple[float, float]]:
    """(position in [0, 1] along the bar, score value) for the ends and middle of the bar, given
    the ``scale`` returned by :func:`normalise` (values beyond it are saturated)."""
    s = float(scale)
    if sign == "all":
        return [(0.0, -s), (0.5, 0.0), (1.0, s)]
    if sign == "negative":
        return [(0.0, 0.0), (0.5, -s / 2), (1.0, -s)]
    return [(0.0, 0.0), (0.5, s / 2), (1.0, s)]


def format_value(v: float, signed: bool = False) -> str:
    """A score for a label: 3 significant digits, a true minus sign, "+" on positives when ``signed``."""
    text = "0" if v == 0 else f"{v:+.3g}" if signed else f"{v:.3g}"
    return text.replace("-", "−")


def colourbar_ticks(mode: Mode, sign: Sign = "absolute", scale: float | None = None) -> list[tuple[float, str]]:
    """(position in [0, 1] along the bar, label) at its ends and middle. A shared scale (``scale`` from
    :func:`normalise`) gets score values; per-image scales, which differ per map, the share of each
    map's own top ("50 %", "100 %"). Diverging bars (``sign="all"``) say negative / 0 / positive."""
    if mode == "shared" and scale is not None:
        ticks = [(p, format_value(v, signed=sign == "all")) for p, v in colourbar_labels(scale, sign)]
    else:
        ticks = [(p, "0" if v == 0 else f"{v:+.0%}" if sign == "all" else f"{v:.0%}")
                 for p, v in colourbar_labels(1.0, sign)]
        ticks = [(p, t.replace("%", " %").replace("-", "−")) for p, t in ticks]
    if sign == "all":
        ticks = [(ticks[0][0], f"{ticks[0][1]}\nnegative"), ticks[1], (ticks[2][0], f"{ticks[2][1]}\npositive")]
    return ticks


def colourbar_image(ticks: Sequence[tuple[float, str]], cmap: str = DEFAULT_CMAP, width: float = 3.2,
                    dpi: int = 200) -> np.ndarray:
    """A horizontal colour bar (lowest value on the left) with ``ticks`` ((position in [0, 1],
    label) as from :func:`colourbar_ticks`) written beneath it: H×W×3 uint8, ``width`` inches wide
    at ``dpi`` (matplotlib's object API, no pyplot: safe in server threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 0.85), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.58, 0.94, 0.36))
    ax.imshow(colourbar(cmap, vertical=False, thickness=1), aspect="auto", extent=(0.0, 1.0, 0.0, 1.0))
    ax.set_yticks([])
    ax.set_xlim(0.0, 1.0)
    ax.set_xticks([p for p, _ in ticks], [t for _, t in ticks], fontsize=7)
    for label, (p, _) in zip(ax.get_xticklabels(), ticks):  # end labels inside the figure
        label.set_horizontalalignment("left" if p <= 0.0 else "right" if p >= 1.0 else "center")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# -- images -------------------------------------------------------------------------------------
def to_uint8(image: ArrayLike, rgb: bool = True) -> np.ndarray:
    """An image in [0, 1] (or already uint8) to H×W×3 uint8 (a batch gives B×H×W×3).

    Torch tensors are channel-first (C×H×W, B×C×H×W: the project's convention); numpy arrays are
    channel-last (H×W×C) unless the first axis is 1 or 3 and the last is not. H×W is grey.
    Grey images are repeated to 3 channels (``rgb=False`` keeps 1); an alpha channel is dropped.
    """
    is_tensor = isinstance(image, torch.Tensor)
    a = _np(image)
    if a.ndim == 4:
        return np.stack([to_uint8(torch.as_tensor(im) if is_tensor else im, rgb) for im in a])
    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim == 3:
        channel_first = is_tensor or (a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3, 4))
        if channel_first:
            a = np.moveaxis(a, 0, -1)
    else:
        raise InvalidInputError(f"cannot show an image of shape {a.shape}")
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.shape[-1] not in (1, 3):
        raise InvalidInputError(f"images need 1 or 3 channels, got {a.shape[-1]}")
    if a.dtype != np.uint8:
        a = np.round(np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0) * 255).astype(np.uint8)
    if rgb and a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a


def overlay(image: ArrayLike, heat: ArrayLike, alpha: float | ArrayLike = 0.5) -> np.ndarray:
    """Blend a heatmap over an image: ``(1−alpha)·image + alpha·heat``, H×W×3 uint8.

    ``heat`` is an RGB image (e.g. from :func:`colourise`) or an H×W map in [0, 1] (coloured
    with the default map); ``alpha`` a number or an H×W array (e.g. the normalised map itself,
    so unimportant pixels stay transparent)."""
    img = to_uint8(image).astype(np.float64)
    hm = _np(heat)
    hm = colourise(hm) if hm.ndim == 2 else to_uint8(hm)
    if hm.shape != img.shape:
        raise InvalidInputError(f"heatmap {hm.shape[:2]} and image {img.shape[:2]} differ in size")
    a = np.clip(np.asarray(_np(alpha), dtype=np.float64), 0.0, 1.0)
    if a.ndim == 2:
        a = a[:, :, None]
    return np.round((1.0 - a) * img + a * hm.astype(np.float64)).astype(np.uint8)


#: outline colours in order of preference; :func:`outline_colour` takes the first that stands out
OUTLINE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (255, 255, 255), (0, 0, 0))
#: how far (RGB distance, 0–441) an outline colour must be from nearly all pixels it covers
OUTLINE_CONTRAST = 150.0


def outline_colour(pixels: ArrayLike) -> tuple[int, int, int]:
    """A colour that stands out against ``pixels`` (N×3 uint8, those an outline will cover): the
    first of :data:`OUTLINE_COLOURS` at least :data:`OUTLINE_CONTRAST` away from 90 % of them, else
    the one farthest from them (green on a green canvas gives way to magenta)."""
    px = np.asarray(pixels, dtype=np.float32).reshape(-1, 3)
    if not len(px):
        return OUTLINE_COLOURS[0]
    distance = [float(np.percentile(np.linalg.norm(px - np.float32(c), axis=1), 10)) for c in OUTLINE_COLOURS]
    good = [c for c, d in zip(OUTLINE_COLOURS, distance) if d >= OUTLINE_CONTRAST]
    return good[0] if good else OUTLINE_COLOURS[int(np.argmax(distance))]


def contour_overlay(
    image: ArrayLike,
    gt_mask: ArrayLike,
    colour: Sequence[int] | None = None,
    mode: Literal["inner", "outer", "thick"] = "inner",
) -> np.ndarray:
    """Draw the boundary of a ground-truth mask (H×W bool) on an image or heatmap (H×W×3 uint8),
    in ``colour`` (None: one that contrasts with the pixels under the outline, :func:`outline_colour`).
    ``mode="inner"`` (default) colours mask pixels that touch the outside, so the outline never
    hides pixels outside the ground truth (skimage ``find_boundaries``); a mask touching the
    image border is outlined along the border too."""
    from skimage.segmentation import find_boundaries

    img = to_uint8(image).copy()
    mask = _np(gt_mask).astype(bool)
    if mask.shape != img.shape[:2]:
        raise InvalidInputError(f"mask {mask.shape} and image {img.shape[:2]} differ in size")
    edge = find_boundaries(np.pad(mask, 1), connectivity=1, mode=mode)[1:-1, 1:-1]  # outline at image edges too
    if colour is None:
        colour = outline_colour(img[edge])
    img[edge] = np.asarray(colour, dtype=np.uint8)[:3]
    return img


def render_heatmaps(
    scores: ArrayLike,
    mode: Mode = "per_image",
    sign: Sign = "absolute",
    clip_percentile: float | None = 99.0,
    cmap: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalise` then :func:`colourise` a stack: (N×H×W×3 uint8, scales N)."""
    maps, scales = normalise(scores, mode, sign, clip_percentile, return_scale=True)
    return colourise(maps, cmap, signed=sign == "all"), scales


@dataclass(frozen=True)
class ColourLegend:
    """What a grid of maps needs beside it: the colour bar with numbers, one caption per map (its
    scores' min and max; per-image also the values at the bar's ends), and a note on the scale."""

    bar: np.ndarray
    captions: list[str]
    note: str
    faint: list[str]  # shared scale: the maps whose own top is under FAINT of the shared one


FAINT = 0.1  # a map whose own top is under 10 % of the shared scale is nearly blank on it


def colour_legend(
    scores: ArrayLike,
    names: Sequence[str],
    mode: Mode = "per_image",
    sign: Sign = "absolute",
    clip_percentile: float | None = 99.0,
    cmap: str | None = None,
) -> ColourLegend:
    """The :class:`ColourLegend` of a stack of maps (N×H×W, one per name) drawn by
    :func:`render_heatmaps` with the same ``mode``, ``sign``, ``clip_percentile`` and ``cmap``."""
    s = np.nan_to_num(_np(scores).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if s.ndim != 3 or len(s) != len(names):
        raise InvalidInputError(f"need one H×W map per name, got shape {s.shape} for {len(names)} names")
    _, own = normalise(s, "per_image", sign, clip_percentile, return_scale=True)
    _, scales = normalise(s, mode, sign, clip_percentile, return_scale=True)
    diverging = sign == "all"
    cmap = cmap or (DEFAULT_DIVERGING_CMAP if diverging else DEFAULT_CMAP)
    top = "its largest magnitude" if clip_percentile is None or clip_percentile >= 100 else \
        f"the {clip_percentile:g}th percentile of its non-zero magnitudes"
    captions = []
    for m, scale in zip(s, scales):
        if m.min() == m.max():  # a blank square is not a display error: say so
            captions.append(f"constant map: every score is {format_value(float(m.min()))} (nothing ranked)")
            continue
        text = f"min {format_value(float(m.min()))} · max {format_value(float(m.max()))}"
        if mode == "per_image":
            (_, lo), *_, (_, hi) = colourbar_labels(scale, sign)
            text += f" · bar {format_value(lo, diverging)} → {format_value(hi, diverging)}"
        captions.append(text)
    shared = float(scales[0]) if len(scales) else 0.0
    faint = [n for n, o in zip(names, own) if mode == "shared" and o < FAINT * shared]
    if mode == "shared":
        (_, lo), *_, (_, hi) = colourbar_labels(shared, sign)
        shown = f"all {len(names)} maps shown" if len(names) > 1 else "the map shown"
        note = (f"Shared colour scale: one range for {shown}, {format_value(lo, diverging)} → "
                f"{format_value(hi, diverging)} ({top.replace('its', 'their pooled')}; larger values saturate). "
                "Brightness compares maps only when the methods' scores share units: gradients, IBA's bits and "
                "masks in [0, 1] do not, and the map with the largest values washes out the others.")
        if faint:
            note += (f" Nearly blank on this range (own top under {FAINT * 100:.0f} % of it): {', '.join(faint)}; "
                     "per-image shows them.")
    else:
        note = (f"Per-image colour scale: each map spans its own range; 100 % on the bar is {top} (larger "
                "values saturate), so brightness compares places within a map, not maps. Under each map: its "
                "scores' min and max and the values at the bar's ends.")
    if diverging:
        note += " Diverging colours: negative scores at the left end of the bar" + \
                (" (blue), 0 in the middle (white), positive at the right (red)." if cmap == DEFAULT_DIVERGING_CMAP
                 else ", 0 in the middle, positive at the right.")
    elif sign == "negative":
        note += " Sign negative: the brighter, the more negative the score."
    bar = colourbar_image(colourbar_ticks(mode, sign, shared), cmap)
    return ColourLegend(bar, captions, note, faint)


# -- explanation units (DoRaR) ------------------------------------------------------------------
HIT_COLOUR = (255, 0, 0)  # a selected unit overlapping the ground truth (red, as in DoRaR's Fig. 13)
MISS_COLOUR = (255, 255, 0)  # one that does not (yellow)
UNIT_COLOUR = (0, 255, 255)  # without ground truth to compare with (cyan)


def unit_outlines(
    image: ArrayLike,
    selection: ArrayLike,
    units: int,
    ground_truth: ArrayLike | None = None,
    scale: int = 1,
) -> np.ndarray:
    """Outline each selected explanation unit (a ``units``×``units`` chunk; ``selection`` is H×W bool
    at pixel resolution) on the image, DoRaR's Fig. 13 style: :data:`HIT_COLOUR` where the unit
    overlaps ``ground_truth`` (H×W bool), :data:`MISS_COLOUR` where it does not, :data:`UNIT_COLOUR`
    for every unit when there is no ground truth. The image is first enlarged ``scale``× (nearest
    neighbour) so a one-pixel outline leaves the unit's content visible. (H·scale)×(W·scale)×3 uint8."""
    img = to_uint8(image)
    sel = _np(selection).astype(bool)
    h, w = img.shape[:2]
    units, scale = int(units), int(scale)
    if sel.shape != (h, w) or units < 1 or h % units or w % units or scale < 1:
        raise InvalidInputError(f"selection {sel.shape} must match the image {(h, w)}, whose sides the unit "
                                f"size {units} must divide (scale {scale} ≥ 1)")
    grid = (h // units, units, w // units, units)
    chosen = sel.reshape(grid).any((1, 3))  # units × units, per unit
    colour = np.zeros((*chosen.shape, 3), dtype=np.uint8)
    if ground_truth is None:
        colour[chosen] = UNIT_COLOUR
    else:
        truth = _np(ground_truth).astype(bool)
        if truth.shape != (h, w):
            raise InvalidInputError(f"ground truth {truth.shape} and image {(h, w)} differ in size")
        hit = truth.reshape(grid).any((1, 3))
        colour[chosen & hit], colour[chosen & ~hit] = HIT_COLOUR, MISS_COLOUR
    side = units * scale
    border = np.ones((side, side), dtype=bool)
    border[1:-1, 1:-1] = False  # each unit's own one-pixel frame, inside the unit
    edge = np.tile(border, chosen.shape) & chosen.repeat(side, 0).repeat(side, 1)
    out = img.repeat(scale, 0).repeat(scale, 1)
    out[edge] = colour.repeat(side, 0).repeat(side, 1)[edge]
    return out


#: the colour of a top-k selection's pixels over the image (MEED, L2X)
SELECTION_COLOUR = (255, 40, 40)


def selection_overlay(image: ArrayLike, selection: ArrayLike, colour: tuple[int, int, int] = SELECTION_COLOUR,
                      alpha: float = 0.75, scale: int = 1) -> np.ndarray:
    """The selected pixels (``selection``: H×W bool, e.g. MEED's top-k) painted over the image in
    ``colour`` (blended with weight ``alpha``), the other pixels as they are; enlarged ``scale``×
    (nearest neighbour) so single pixels stay visible. (H·scale)×(W·scale)×3 uint8."""
    img = to_uint8(image)
    sel = _np(selection).astype(bool)
    if sel.shape != img.shape[:2] or int(scale) < 1:
        raise InvalidInputError(f"selection {sel.shape} must match the image {img.shape[:2]} (scale {scale} ≥ 1)")
    out = img.astype(np.float64)
    out[sel] = (1.0 - alpha) * out[sel] + alpha * np.asarray(colour, dtype=np.float64)
    out = np.round(out).astype(np.uint8)
    return out.repeat(int(scale), 0).repeat(int(scale), 1)
