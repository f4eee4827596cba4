"""Explore's downloads as bytes: the grid PNG, the scores NPZ and the settings JSON (issue 18)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from xai_core.export import GRID_CELL, GRID_GAP, grid_png, jsonable, scores_npz, settings_json


def test_grid_png_wraps_the_panels_and_keeps_their_pixels():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    panels = [("image", red)] + [(f"m{i}", np.full((8, 8), 40 * i, np.uint8)) for i in range(5)]
    img = Image.open(io.BytesIO(grid_png(panels, columns=4)))
    assert img.format == "PNG" and img.mode == "RGB"
    pitch = GRID_CELL + GRID_GAP
    assert img.width == 4 * pitch - GRID_GAP and img.height > 2 * GRID_CELL  # 6 panels: two rows of at most four
    pixels = np.asarray(img)
    assert tuple(pixels[GRID_CELL // 2, GRID_CELL // 2]) == (255, 0, 0)  # the image, upscaled, top left
    row2 = img.height // 2 + GRID_CELL // 2
    assert tuple(pixels[row2, GRID_CELL // 2]) == (120,) * 3  # m3 starts the second row, m4 follows
    assert tuple(pixels[row2, pitch + GRID_CELL // 2]) == (160,) * 3
    assert tuple(pixels[row2, GRID_CELL + 1]) == (255,) * 3  # the gap between cells
    assert tuple(pixels[row2, 3 * pitch]) == (255,) * 3  # the rest of that row: white
    one = Image.open(io.BytesIO(grid_png([("image", red)])))
    assert one.width == GRID_CELL
    with pytest.raises(ValueError):
        grid_png([])


def test_scores_npz_holds_one_array_per_method():
    scores = {"gradient": np.random.default_rng(0).random((32, 32), dtype=np.float32), "random": np.ones((32, 32))}
    with np.load(io.BytesIO(scores_npz(scores))) as npz:
        assert set(npz.files) == {"gradient", "random"}
        assert np.array_equal(npz["gradient"], scores["gradient"]) and npz["gradient"].dtype == np.float32


def test_settings_json_records_what_produced_the_maps():
    data = settings_json(
        dataset="hard_mnist", preset="smoke", model={"choice": "small_cnn (default black box)", "arch": "small_cnn"},
        source={"split": "test", "index": np.int64(7), "label": 3},
        target={"index": 5, "name": "5", "prediction": 5},
        methods={"integrated_gradients": {"settings": {"steps": 16, "baseline": (0.0, 0.0), "w": torch.tensor([1.5])},
                                          "class_explained": 5},
                 "random": {"settings": {"seed": np.int32(0)}, "class_explained": None}},
        display={"colour_scale": "per_image", "clip_percentile": 99.0},
    )
    doc = json.loads(data)
    assert doc["dataset"] == "hard_mnist" and doc["preset"] == "smoke" and doc["model"]["arch"] == "small_cnn"
    assert doc["source"] == {"split": "test", "index": 7, "label": 3} and doc["target"]["index"] == 5
    assert doc["methods"]["integrated_gradients"]["settings"] == {"steps": 16, "baseline": [0.0, 0.0], "w": [1.5]}
    assert doc["methods"]["random"] == {"settings": {"seed": 0}, "class_explained": None}
    assert doc["display"]["clip_percentile"] == 99.0
    assert settings_json(dataset="d", preset="p", model="m", source={"upload": "phöto.png"}, target={},
                         methods={}).decode().count("phöto.png") == 1


def test_jsonable_leaves_json_types_and_names_the_rest():
    assert jsonable({1: (np.float32(0.5), {"a"}), "x": None}) == {"1": [0.5, ["a"]], "x": None}
    assert jsonable(object).startswith("<class")


def test_grid_png_carries_a_header_wrapped_captions_and_the_colour_bar():
    grey = np.full((8, 8), 90, np.uint8)
    bar = np.zeros((10, 300, 3), np.uint8)
    bar[..., 2] = 255  # a blue bar
    plain = Image.open(io.BytesIO(grid_png([("image", grey), ("gradient", grey)], columns=2)))
    img = Image.open(io.BytesIO(grid_png(
        [("image", grey), ("gradient\nmin 0 · max 0.001 · bar 0 → 0.001 and a long tail to wrap", grey)], columns=2,
        header=["hard_mnist (quick) · test #3", "class explained: 7 · black box predicts: 7"],
        footer=("colour scale (per-image, absolute)", bar))))
    pixels = np.asarray(img)
    assert img.width == plain.width == 2 * GRID_CELL + GRID_GAP  # the bar is shrunk to the sheet
    assert img.height > plain.height + 10
    assert (pixels[2:14, : img.width // 2] < 128).any()  # the header's text, above the cells
    top = next(y for y in range(img.height) if tuple(pixels[y, GRID_CELL // 2]) == (90, 90, 90))
    assert top >= 2 * 16  # the cells start below the two header lines
    blue = np.nonzero((pixels[..., 2] == 255) & (pixels[..., 0] == 0))[0]
    assert blue.size and blue.min() > top + GRID_CELL  # the colour bar, below the grid
    caption = pixels[top + GRID_CELL: blue.min(), GRID_CELL + GRID_GAP:]
    lines = {y for y in range(caption.shape[0]) if (caption[y] < 128).any()}
    assert max(lines) - min(lines) > 3 * 10  # name, range and the wrapped tail: several caption lines
