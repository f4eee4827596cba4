"""AppTest checks of what Explore's colour scale and Evaluate's table tell the reader (issue 18, items 7–8)."""
from __future__ import annotations

import json

import pytest
from app_pages import app_test, evaluated


@pytest.fixture
def app(monkeypatch):
    return app_test(monkeypatch)


def _images(app):
    return [im for el in app.get("image") for im in el.proto.imgs]


def _captions(app) -> list[str]:
    return [c.value for c in app.caption]


def test_explore_colour_scale_has_numbers_and_says_what_it_means(app):
    app.run()
    app.multiselect[0].set_value(["gradient", "random"]).run()
    assert not app.exception, app.exception
    captions = _captions(app)
    ranges = [c for c in captions if c.startswith("min ")]
    assert len(ranges) == 2 and all(" · max " in c and " · bar 0 → " in c for c in ranges)  # per map, per-image
    assert any(c.startswith("Per-image colour scale") for c in captions)
    assert "colour scale (per-image)" in [im.caption for im in _images(app)]

    next(r for r in app.radio if r.label == "Colour scale").set_value("shared").run()
    captions = _captions(app)
    assert any("Shared colour scale: one range for all 2 maps" in c and "share units" in c for c in captions)
    assert "colour scale (shared)" in [im.caption for im in _images(app)]

    next(b for b in app.selectbox if b.label == "Sign").set_value("all").run()
    assert not app.exception, app.exception
    assert any("Diverging colours: negative" in c and "positive" in c for c in _captions(app))


def test_evaluate_table_marks_which_way_is_better(monkeypatch):
    at = evaluated(monkeypatch, ["random", "gradient"], ["iou", "deletion"])
    table = at.dataframe[0]
    assert {"iou", "deletion AUC"} <= set(table.value.columns)
    labels = {c.get("label") for c in json.loads(table.proto.columns).values()}
    assert {"iou ↑", "deletion AUC ↓"} <= labels
    assert any(c.startswith("↑ higher is better, ↓ lower is better") for c in _captions(at))
