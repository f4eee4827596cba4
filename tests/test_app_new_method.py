"""A new trained method shows correctly on every page from its own file alone: the trained example of
docs/development.md ("Adding a method"), registered as a user would, walked through Train, Explore,
Evaluate and About (its card, its offered setting, label-free, fitted and explained)."""
from __future__ import annotations

import re
import sys
import types

import pytest
from app_pages import ROOT, app_test, page

from xai_core.methods import METHODS


def trained_example() -> str:
    section = (ROOT / "docs" / "development.md").read_text(encoding="utf-8").split("## Adding a method", 1)[1]
    return next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "TrainedExplainer" in b)


@pytest.fixture
def masknet():
    module = types.ModuleType("docs_masknet")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(trained_example(), "docs/development.md trained example", "exec"), module.__dict__)
    yield "masknet"
    METHODS.unregister("masknet")
    del sys.modules[module.__name__]


def test_the_docs_trained_method_shows_on_every_page(masknet, monkeypatch):
    import streamlit as st

    from xai_core import services

    st.cache_resource.clear()  # the pages' contexts read this test's cache, where the fit below goes

    ctx = services.load_context("hard_mnist", "smoke")
    services.build_explainer(ctx, masknet)  # fitted once (one smoke epoch) into the tests' cache

    train = page("train.py", monkeypatch)
    row = next(r for r in train.dataframe if "method" in r.value.columns).value.set_index("method").loc[masknet]
    assert row["kind"] == "trained" and bool(row["ready"])

    evaluate = page("evaluate.py", monkeypatch)
    picker = next(m for m in evaluate.multiselect if m.label == "Methods")
    assert any(o.startswith(f"{masknet} — ") for o in picker.options)

    about = page("about.py", monkeypatch)
    assert any("**MaskNet (an example)** (`masknet`, trained)" in m.value for m in about.markdown)

    app = app_test(monkeypatch)
    app.run()
    app.multiselect[0].set_value(["gradient", masknet]).run()
    assert not app.exception, app.exception
    assert f"{masknet} · overlay" in [im.caption for el in app.get("image") for im in el.proto.imgs]
    assert any(c.value.startswith(f"{masknet}: label-free") for c in app.caption)
    setting = next(n for n in app.number_input if n.label == "MaskNet (an example): sparsity weight")
    assert setting.value == pytest.approx(0.1) and "higher keeps fewer pixels" in setting.help
