"""The dashboard runs headless (Streamlit AppTest) on the smoke preset and shows attributions."""
from __future__ import annotations

import pytest
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)


def test_explore_shows_image_and_method_maps(app):
    app.run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox[0].value == "hard_mnist"
    methods = app.multiselect[0]
    assert "gradient" in methods.value
    images = app.get("image")
    # image + ground truth + (heatmap, overlay) per default method + colour bar
    assert len(images) >= 2 + 2 * len(methods.value)


def test_changing_methods_and_sample(app):
    app.run()
    app.multiselect[0].set_value(["ground_truth", "random"]).run()
    app.number_input[0].set_value(5).run()
    assert not app.exception, app.exception
    assert not app.error
