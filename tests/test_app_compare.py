"""AppTest checks of issue 18's last dashboard items: click-to-enlarge maps (Explore, Gallery), bounded sweep
maps on Ablations, comparing two models side by side, non-default architectures trained as background
jobs (never inside a page run), and the Gallery's choices surviving page visits. Smoke preset."""
from __future__ import annotations

import time

import numpy as np
import pytest
from app_pages import app_test, page

from xai_core.services import ModelChoice


@pytest.fixture
def app(monkeypatch):
    return app_test(monkeypatch)


def _images(at):
    return [im for el in at.get("image") for im in el.proto.imgs]


def _box(at, label: str):
    return next(b for b in at.selectbox if b.label == label)


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def _train_in_background(at, label: str) -> None:
    """Click "Train <label>" (ticking the confirmation where the estimate asks for one), wait for
    the background job and rerun."""
    from xai_core.jobs import MANAGER

    confirm = [c for c in at.checkbox if c.label.startswith("Start it anyway")]
    if confirm:
        confirm[0].check().run()
    _button(at, f"Train {label}").click().run()
    assert not at.exception, at.exception
    jobs = [j for j in MANAGER.jobs() if j.key.startswith("black_box/") and j.title.startswith(f"black box {label}")]
    job = MANAGER.wait(max(jobs, key=lambda j: j.created).key, timeout=600)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception, at.exception


def _columns_of(at, caption: str) -> int:
    """How many columns the row holding the image captioned ``caption`` has."""
    from streamlit.testing.v1.element_tree import Block, Column

    def holds(node) -> bool:
        if getattr(node, "type", None) == "image":
            return any(im.caption == caption for im in node.proto.imgs)
        return any(holds(k) for k in getattr(node, "children", {}).values())

    todo = [at.main]
    while todo:
        node = todo.pop(0)
        kids = list(getattr(node, "children", {}).values())
        if isinstance(node, Block) and kids and all(isinstance(k, Column) for k in kids) and holds(node):
            return len(kids)
        todo += kids
    raise AssertionError(f"no row holds {caption!r}")


def test_explore_enlarges_a_chosen_map_with_its_colour_bar_and_range(app):
    app.run()
    app.multiselect[0].set_value(["gradient", "random"]).run()
    before = len(_images(app))
    _box(app, "Enlarge a map").set_value("gradient").run()
    assert not app.exception, app.exception
    assert "gradient · image" in _markdown(app)
    captions = [im.caption for im in _images(app)]
    assert len(captions) == before + 3  # the map, its overlay and the colour bar, large
    assert {"gradient · enlarged", "gradient · overlay, enlarged", "colour scale"} <= set(captions)
    assert _columns_of(app, "gradient · enlarged") == 2  # half the page each: large, not 1/4
    assert sum(c.value.startswith("min ") for c in app.caption) == 3  # two in the grid + the enlarged one


def test_gallery_enlarges_a_sample_and_keeps_its_choices_across_pages(app):
    app.switch_page("pages/gallery.py").run()
    assert not app.exception, app.exception
    _box(app, "Method").set_value("random").run()
    _box(app, "Grid").set_value(4).run()
    _box(app, "Split").set_value("test_background").run()
    _box(app, "Class").set_value(_box(app, "Class").options[2]).run()
    _box(app, "Prediction").set_value("correct").run()
    app.slider(key="gallery_clip").set_value(95.0).run()
    assert not app.exception and not app.warning, (app.exception, [w.value for w in app.warning])
    chosen = {k: app.session_state[k] for k in ("gallery_method", "gallery_size", "gallery_split", "gallery_class",
                                                "gallery_outcome", "gallery_clip")}
    assert chosen == {"gallery_method": "random", "gallery_size": 4, "gallery_split": "test_background",
                      "gallery_class": _box(app, "Class").options[2], "gallery_outcome": "correct",
                      "gallery_clip": 95.0}

    enlarge = _box(app, "Enlarge a map")
    first = enlarge.options[1]
    enlarge.set_value(0).run()
    assert not app.exception, app.exception
    assert f"random · {first}" in _markdown(app)
    captions = [im.caption for im in _images(app)]
    assert "random map" in captions and "random · overlay" in captions and "colour scale" in captions
    assert any(c.value.startswith("min ") for c in app.caption)

    app.switch_page("pages/about.py").run()
    app.switch_page("pages/explore.py").run()
    app.switch_page("pages/gallery.py").run()
    assert not app.exception and not app.warning, (app.exception, [w.value for w in app.warning])
    assert {k: app.session_state[k] for k in chosen} == chosen
    assert _box(app, "Method").value == "random" and _box(app, "Grid").value == 4
    assert _box(app, "Split").value == "test_background" and app.slider(key="gallery_clip").value == 95.0


def test_a_one_value_sweep_map_keeps_a_bounded_size(monkeypatch):
    """Issue 18 item 6: a sweep's per-value maps sit in a fixed number of columns (one value: one of
    four, not the whole page)."""
    import plotly.graph_objects as go

    from pages.ui import caches
    from xai_core import figures, services
    from xai_core.jobs import MANAGER

    result = {"summary": {"diet": {4: 0.5}}, "factors": [4], "setting": "u", "metric": "pixel_perturbation"}
    monkeypatch.setattr(services, "sweep_job", lambda ctx, *request: MANAGER.submit(
        f"test/one-value-sweep-{time.monotonic()}@app", "diet u sweep", lambda progress: result))
    monkeypatch.setattr(figures, "ablation_figure", lambda result: go.Figure())
    monkeypatch.setattr(services, "sweep_curves", lambda result: {"results": {}})
    monkeypatch.setattr(caches, "explanation", lambda *a, **k: {"scores": np.random.default_rng(0).random((16, 16))})
    at = page("ablations.py", monkeypatch)
    next(m for m in at.multiselect if m.label == "Values").set_value([4])
    _button(at, "Run sweep").click().run()
    MANAGER.wait([j for j in MANAGER.jobs() if j.key.startswith("test/one-value-sweep-")][-1].key, timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "u = 4" in [im.caption for im in _images(at)]
    assert _columns_of(at, "u = 4") == 4


def test_another_architecture_is_trained_as_a_background_job_not_in_the_page(app, monkeypatch):
    """Issue 18 item 5 for the sidebar's other architectures: the estimate, a Train button, the job's
    progress with Cancel; nothing is trained inside the page run."""
    from xai_core import services
    from xai_core.jobs import MANAGER
    from xai_core.services import tasks

    started = []

    def endless(progress):
        while True:
            progress(1, 3, "epoch 1/3")
            time.sleep(0.02)

    def train_model_job(dataset, preset, model, seed=0, store=None):
        started.append(model)
        return MANAGER.submit(tasks.model_job_key(dataset, preset, model), f"black box {model.label}", endless)

    monkeypatch.setattr(tasks, "train_model_job", train_model_job)
    inline = []
    real_load = services.load_context
    monkeypatch.setattr(services, "load_context",
                        lambda *a, **k: inline.append(k.get("model")) or real_load(*a, **k))
    app.run()
    app.sidebar.selectbox(key="model_choice").set_value(ModelChoice("arch", "resnet18")).run()
    try:
        assert not app.exception, app.exception
        assert any("resnet18** is not trained yet on hard_mnist" in i.value for i in app.info)
        assert any("Train resnet18, estimated time: about" in c.value for c in app.caption)
        assert not _images(app) and not started and ModelChoice("arch", "resnet18") not in inline
        confirm = [c for c in app.checkbox if c.label.startswith("Start it anyway")]
        if confirm:
            confirm[0].check().run()
        _button(app, "Train resnet18").click().run()
        assert started == [ModelChoice("arch", "resnet18")]
        assert any("black box resnet18" in p.proto.text for p in app.get("progress"))  # live, with Cancel
        _button(app, "Cancel").click().run()
        job = MANAGER.wait(tasks.model_job_key("hard_mnist", "smoke", ModelChoice("arch", "resnet18")), timeout=300)
        assert job.status == "cancelled"
        app.run()
        assert not app.exception and any("was cancelled" in i.value for i in app.info)
        assert [b for b in app.button if b.label == "Train resnet18"]  # offered again
    finally:
        for job in MANAGER.jobs():
            if job.key.startswith("black_box/") and "resnet18" in job.key:
                MANAGER.cancel(job.key)


def test_explore_compares_the_honest_and_the_manipulated_black_box(app):
    app.run()
    app.multiselect[0].set_value(["gradient"]).run()
    box = _box(app, "Compare with another model")
    manipulated = ModelChoice("manipulated", "cnn_light")
    assert box.options[1] == manipulated.label  # the demo worth seeing comes first
    box.set_value(manipulated).run()
    assert not app.exception, app.exception
    assert any("manipulated gradients** is not trained yet" in i.value for i in app.info)
    before = len(_images(app))
    _train_in_background(app, manipulated.label)

    captions = [im.caption for im in _images(app)]
    assert len(captions) == before + 5  # two labelled rows (image + gradient map each) and their colour bar
    for model in (ModelChoice("default", "cnn_light"), manipulated):
        assert f"**{model.label}** · prediction: **" in _markdown(app)
        assert f"gradient · {model.label}" in captions and f"image · {model.label}" in captions
    assert app.session_state["explore_compare"] == manipulated

    app.switch_page("pages/about.py").run()  # the choice survives a visit elsewhere
    app.switch_page("pages/explore.py").run()
    assert not app.exception and _box(app, "Compare with another model").value == manipulated


def test_the_train_page_offers_an_untrained_sidebar_model_and_still_lists_its_jobs(app):
    app.switch_page("pages/train.py").run()
    app.sidebar.selectbox(key="model_choice").set_value(ModelChoice("arch", "resnet_light")).run()
    assert not app.exception, app.exception
    assert any("resnet_light** is not trained yet on hard_mnist" in i.value for i in app.info)
    assert [b for b in app.button if b.label == "Train resnet_light"]
    assert "Jobs" in [h.value for h in app.subheader]  # the page goes on: its job list is still there
