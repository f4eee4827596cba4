"""The dashboard runs headless (Streamlit AppTest) on the smoke preset and shows attributions."""
from __future__ import annotations

import pytest
import torch
from app_pages import ROOT, app_test, evaluated, page, settle
from polling import until
from streamlit.testing.v1 import AppTest

from xai_core import services
from xai_core.store import ArtifactStore


def _last_job(kind: str, name: str = ""):
    """The newest job of ``kind`` ("fit", "sweep", …) whose target ends with ``name``: tests
    in one process share the job manager, so older jobs of earlier tests are still listed."""
    from xai_core.jobs import MANAGER

    jobs = [j for j in MANAGER.jobs() if j.key.startswith(kind + "/") and j.key.split("@")[0].endswith(name)]
    return max(jobs, key=lambda j: j.created)


@pytest.fixture
def app(monkeypatch):
    return app_test(monkeypatch)


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
    app.selectbox(key="sample").set_value(5).run()
    assert not app.exception, app.exception
    assert not app.error
    assert "ground_truth · overlay" in [im.caption for im in _images(app)]


def _images(app):
    return [im for el in app.get("image") for im in el.proto.imgs]


def test_sample_filters_pick_matching_samples(app):
    app.run()
    boxes = {b.label: b for b in app.selectbox}
    boxes["Class"].set_value("3").run()
    boxes = {b.label: b for b in app.selectbox}
    sample = app.selectbox(key="sample")
    assert sample.options and all(o.endswith("· 3") for o in sample.options)
    boxes["Prediction"].set_value("misclassified").run()
    assert not app.exception, app.exception
    before = app.selectbox(key="sample").value
    for _ in range(5):  # the random button picks among the matching samples
        app.button[0].click().run()
    assert app.selectbox(key="sample").value in [int(o.split()[0][1:]) for o in app.selectbox(key="sample").options]
    assert not app.exception and before is not None


def _png(seed: int = 0) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_good_and_broken_files(app):
    app.run()
    app.file_uploader[0].upload("photo.png", _png(), "image/png").run()
    assert not app.exception and not app.error
    assert "unknown" in app.markdown[0].value  # an upload has no label: the model's top-1 is explained
    assert len(app.get("image")) >= 1 + 2 * len(app.multiselect[0].value)

    app.file_uploader[0].upload("broken.png", b"not an image", "image/png").run()
    assert not app.exception
    assert "not a readable image" in app.error[0].value
    assert len(app.get("image")) >= 2  # the app keeps working on the dataset sample


def test_evaluate_page_draws_curves_and_table(monkeypatch):
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    at = AppTest.from_file(str(ROOT / "pages" / "evaluate.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    assert at.info  # nothing run yet
    at.slider[0].set_value(8)
    settle(at.button[0].click().run())
    assert not at.exception, at.exception
    assert not at.error
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # pixel_perturbation and deletion
    assert at.get("arrow_data_frame") or at.dataframe
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels.count("Figure (PNG)") == 2 and "Download table (CSV)" in labels


@pytest.fixture
def trained_method():
    """A registered toy trained method: training stores a per-dataset constant (the number of
    training images) over 3 epochs of losses 1, 1/2, 1/3; explain returns the constant."""
    import torch
    from torch import nn

    from xai_core.methods.base import METHODS, Explanation
    from xai_core.methods.trained import Stage, TrainedExplainer

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("value", torch.zeros(()))

    class Toy(TrainedExplainer):
        """toy trained method (tests only)"""

        name = "toy_trained"

        def components(self):
            return {"constant": Constant()}

        def stages(self):
            return [Stage("fitting", epochs=3)]

        def train_step(self, stage, run, idx):
            run.parts["constant"].value.fill_(float(run.n))
            return {"loss": torch.tensor(1.0 / run.epoch, dtype=torch.float64)}

        def _explain(self, x, target, masks, progress):
            value = self.trained("constant").value
            return Explanation(value.expand(len(x), *x.shape[2:]).clone())

    METHODS.register(Toy.name)(Toy)
    yield Toy.name
    METHODS.unregister(Toy.name)


def test_train_page_trains_black_box_and_fits_method_in_background(monkeypatch, tmp_path, trained_method):
    from xai_core import services
    from xai_core.jobs import MANAGER

    import streamlit as st

    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))  # nothing trained yet
    st.cache_resource.clear()  # contexts cached by earlier tests in this process hold fitted methods
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["hard_mnist", "state"] == "not trained" and table.loc["natural", "state"] == "pretrained"
    assert "train it first" in at.info[0].value

    # train the black box in the background: one job per key, however often it is started
    next(b for b in at.selectbox if b.label == "Train the black box of").set_value("hard_mnist")
    next(b for b in at.button if b.label == "Train").click().run()
    job = _last_job("black_box")
    assert job.key.startswith("black_box/hard_mnist/smoke/0@")
    assert services.train_black_box_job("hard_mnist", "smoke") is MANAGER.get(job.key)
    assert MANAGER.wait(job.key, timeout=300).status == "done"
    at.run()
    assert at.dataframe[0].value.set_index("dataset").loc["hard_mnist", "state"] == "trained"
    assert any("black box · hard_mnist" in m.value for m in at.markdown)  # the job list

    # the toy method needs fitting: start it as a job, wait, and the page shows it ready
    fit_box = next(b for b in at.selectbox if b.label == "Fit method")
    assert trained_method in fit_box.options and "diet" in fit_box.options  # the trained methods not yet fitted
    fit_box.set_value(trained_method)
    next(b for b in at.button if b.label == "Fit").click().run()
    job = MANAGER.wait(_last_job("fit", f"/{trained_method}").key, timeout=300)
    assert job.status == "done", job.error
    assert [h["loss"] for h in job.history] == [1.0, 0.5, 1.0 / 3]
    at.run()
    methods = at.dataframe[1].value.set_index("method")
    assert bool(methods.loc[trained_method, "ready"]) and not bool(methods.loc["diet", "ready"])
    fit_options = next(b for b in at.selectbox if b.label == "Fit method").options
    assert trained_method not in fit_options and "diet" in fit_options
    assert at.get("plotly_chart")  # the fit job's loss curve
    # the selected fit as a command, and data parallel with torchrun
    fit = f"train --dataset hard_mnist --preset smoke --seed 0 --methods {fit_options[0]}"
    assert next(c.value for c in at.code if "xai_core train" in c.value).splitlines() == [
        f"python -m xai_core {fit}", f"torchrun --nproc_per_node 2 -m xai_core {fit}"]


def test_ablations_page_runs_the_resolution_sweep(monkeypatch):
    at = page("ablations.py", monkeypatch)
    assert at.info and not at.get("plotly_chart")
    settle(at.button[0].click().run())
    assert not at.exception and not at.error, at.exception
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert list(table["method"]) == ["gradient", "smoothgrad", "gradcam"] and "u=8" in table.columns
    assert len(at.get("image")) >= 3 * 4  # example maps: one per method and block size


def test_signal_distractor_page_compares_and_overlays(monkeypatch):
    at = page("signal_distractor.py", monkeypatch)
    assert len(at.get("image")) == 6 * 5  # 6 samples × (image + 4 default methods), no run needed
    settle(at.button[0].click().run())
    assert not at.exception and not at.error, at.exception
    assert len(at.get("plotly_chart")) == 2
    assert {"mass_in_signal", "iou"} <= set(at.dataframe[0].value.columns)


def test_about_page_describes_every_registered_method_from_its_card(monkeypatch):
    from xai_core.methods import METHODS

    at = page("about.py", monkeypatch)
    text = " ".join(m.value for m in at.markdown)
    for name in METHODS:
        cls = METHODS.get(name)
        assert f"**{cls.paper.title}** (`{name}`, {cls.caps.kind})" in text and cls.paper.citation in text
    assert "Deletion" in text and "Pixel perturbation" in text


def test_explore_choices_survive_a_visit_to_another_page(app):
    app.run()
    app.multiselect[0].set_value(["random", "gradcam"]).run()
    app.selectbox(key="sample").set_value(7).run()
    app.selectbox(key="explore_sign").set_value(app.selectbox(key="explore_sign").options[-1]).run()
    app.slider(key="explore_clip").set_value(95.0).run()
    sign = app.selectbox(key="explore_sign").value
    app.switch_page("pages/about.py").run()
    assert not app.exception
    app.switch_page("pages/explore.py").run()
    assert not app.exception, app.exception
    assert app.multiselect[0].value == ["random", "gradcam"] and app.selectbox(key="sample").value == 7
    assert app.selectbox(key="explore_sign").value == sign and app.slider(key="explore_clip").value == 95.0


def test_sidebar_model_choice_other_architecture_and_model_upload(app, tmp_path, monkeypatch):
    from model_files import onnx_cnn

    from xai_core.jobs import MANAGER
    from xai_core.services import ModelChoice

    monkeypatch.setenv("XAI_ALLOW_MODEL_UPLOADS", "1")
    app.run()
    box = app.sidebar.selectbox(key="model_choice")
    assert box.value == ModelChoice("default", "cnn_light") and "small_cnn" in box.options[1]
    assert box.options[0] == "cnn_light (default black box)"
    assert box.options[-1] == "your model (ONNX / torch.export)"

    box.set_value(ModelChoice("arch", "small_cnn")).run()  # another architecture: trained in the background first
    assert not app.exception, app.exception
    assert not app.get("image") and any("small_cnn** is not trained yet" in i.value for i in app.info)
    next(b for b in app.button if b.label == "Train small_cnn").click().run()
    assert MANAGER.wait(_last_job("black_box", "/arch/small_cnn").key, timeout=300).status == "done"
    app.run()  # then explained
    assert not app.exception, app.exception
    assert any("model small_cnn" in c.value for c in app.main.caption)
    assert len(app.get("image")) >= 2 + 2 * len(app.multiselect[0].value)

    app.sidebar.selectbox(key="model_choice").set_value(ModelChoice("user")).run()
    assert app.sidebar.info  # asks for the file
    app.sidebar.file_uploader[0].upload("model.onnx", onnx_cnn(channels=3), "application/octet-stream").run()
    assert not app.exception, app.exception
    assert any("model user:" in c.value for c in app.main.caption)
    # Grad-CAM needs a Python model: not offered, its reason under the picker; the other methods still shown
    assert not any(o.startswith("gradcam ") for o in app.multiselect(key="explore_methods").options)
    offered = next(e for e in app.expander if e.label.startswith("Not offered on"))
    assert "gradcam" in offered.label and any(c.value.startswith("**gradcam**") for c in offered.caption)
    assert "gradient · overlay" in [im.caption for im in _images(app)]

    app.sidebar.file_uploader[0].upload("bad.onnx", b"not a model", "application/octet-stream").run()
    assert not app.exception
    assert "bad.onnx was refused: not an ONNX model" in app.sidebar.error[0].value
    store = ArtifactStore()
    assert len(list((store.root / "user_models").glob("*.onnx"))) == 1  # the refused file is not kept

    # a server listening on a network address takes no model uploads unless the operator says so
    import streamlit

    monkeypatch.delenv("XAI_ALLOW_MODEL_UPLOADS")
    real = streamlit.get_option
    monkeypatch.setattr(streamlit, "get_option", lambda key: "0.0.0.0" if key == "server.address" else real(key))
    app.run()
    assert not app.exception, app.exception
    assert "uploads are off" in " ".join(w.value for w in app.sidebar.warning)
    assert not app.sidebar.file_uploader


def test_explore_offers_to_train_a_method_that_needs_it(app, trained_method, monkeypatch, tmp_path):
    from xai_core.jobs import MANAGER

    import streamlit as st

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))  # nothing fitted yet
    st.cache_resource.clear()  # contexts cached by earlier tests in this process hold fitted methods
    st.cache_data.clear()
    app.run()
    app.multiselect[0].set_value(["gradient", trained_method]).run()
    assert not app.exception, app.exception
    assert any(trained_method in i.value and "needs training" in i.value for i in app.info)
    assert "gradient · overlay" in [im.caption for im in _images(app)]  # the others do not wait
    next(b for b in app.button if b.label == f"Train {trained_method} now").click().run()
    assert MANAGER.wait(_last_job("fit", f"/{trained_method}").key, timeout=300).status == "done"
    app.run()
    assert not app.exception, app.exception
    assert f"{trained_method} · overlay" in [im.caption for im in _images(app)]


def test_signal_distractor_page_masking_table(monkeypatch):
    at = page("signal_distractor.py", monkeypatch)
    settle(next(b for b in at.button if b.label == "Mask signal vs distractor").click().run())
    assert not at.exception and not at.error, at.exception
    table = at.dataframe[0].value  # DiET's tuned model adds rows when another test has fitted it in this store
    assert list(table[table["model"] == "black box"]["masked"]) == ["distractor", "signal", "random"]
    assert "80%" in table.columns
    chosen = at.radio[0].value  # DiET's masks (the paper's) when DiET is fitted here, else the ground truth
    assert f"Signal: {services.MASKING_SIGNALS[chosen][0]}." in [c.value for c in at.caption]


def test_explore_shows_diet_views_after_training(app):
    from xai_core.jobs import MANAGER

    app.run()
    app.multiselect[0].set_value(["diet"]).run()
    button = [b for b in app.button if b.label == "Train diet now"]
    if button:  # not fitted in this run's cache yet: train it in the background (smoke: seconds)
        button[0].click().run()
        assert MANAGER.wait(_last_job("fit", "/diet").key, timeout=600).status == "done"
        app.run()
    assert not app.exception, app.exception
    captions = [im.caption for im in _images(app)]
    assert {"diet", "diet · overlay", "diet · selection", "diet · simplified"} <= set(captions)
    assert any("f_v(x):" in c.value and "f_b(x):" in c.value for c in app.main.caption)
    # the test accuracy of f_v beside the black box's: a background job the first time (the maps do not wait)
    if not app.dataframe or "clean" not in app.dataframe[-1].value.columns:
        settle(app)
    table = app.dataframe[-1].value
    assert list(table["model"]) == ["black box f_b(x)", "diet: f_v (tuned)"]
    assert table["clean"].between(0, 1).all() and table["removed"].between(0, 1).all()


def _train_if_offered(app, label: str) -> None:
    """Click "Train … now" where the page offers it, wait for the job and rerun (smoke: seconds)."""
    from xai_core.jobs import MANAGER

    button = [b for b in app.button if b.label == f"Train {label} now"]
    if button:
        button[0].click().run()
        assert MANAGER.wait(_last_job("fit", f"/{label}").key, timeout=600).status == "done"
        app.run()


def test_explore_shows_dorar_units_and_reconstructions_per_n_e(app):
    app.run()
    app.multiselect[0].set_value(["dorar"]).run()
    n_e = next(b for b in app.selectbox if b.label.startswith("DoRaR"))
    assert n_e.value == 4 and n_e.options == ["4 (default)", "8", "12", "24"]
    _train_if_offered(app, "dorar")
    assert not app.exception, app.exception
    captions = [im.caption for im in _images(app)]
    assert {"dorar", "dorar · overlay", "G1: from the selected units", "G2: from the complement"} <= set(captions)
    assert "selected units: red on the object, yellow off it" in captions  # hard_mnist has ground truth
    assert "dorar · reconstruction_selected" not in captions  # shown once, in the DoRaR row
    assert any("the 4 selected units" in h.value for h in app.subheader)

    next(b for b in app.selectbox if b.label.startswith("DoRaR")).set_value(8).run()  # a new n_e: its own selector
    assert not app.exception, app.exception
    if any("dorar (n_e = 8)" in i.value and "needs training" in i.value for i in app.info):
        _train_if_offered(app, "dorar (n_e = 8)")
    assert not app.exception, app.exception
    assert any("the 8 selected units" in h.value for h in app.subheader)


def test_ablations_page_sweeps_diet_mask_scale_in_background(monkeypatch):
    from xai_core.jobs import MANAGER

    at = page("ablations.py", monkeypatch)
    assert next(s for s in at.selectbox if s.label == "Method").value == "diet"
    next(m for m in at.multiselect if m.label == "Values").set_value([4, 8])
    next(b for b in at.button if b.label == "Run sweep").click().run()
    assert not at.exception, at.exception
    job = MANAGER.wait(_last_job("sweep/hard_mnist/smoke").key, 600)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception, at.exception
    # the metric against u, and the pixel-perturbation curve of every u
    assert len(at.get("plotly_chart")) == 2 and set(job.result["summary"]["diet"]) == {4, 8}
    assert "Download sweep (JSON)" in [d.proto.label for d in at.get("download_button")]
    assert {"u = 4", "u = 8"} <= {im.caption for im in _images(at)}  # DiET's own mask of the sample per u


def test_explore_shows_input_iba_stages_side_by_side(app):
    app.run()
    app.multiselect[0].set_value(["iba", "input_iba"]).run()
    assert not app.exception, app.exception
    captions = [im.caption for im in _images(app)]
    assert {"iba", "input_iba", "input_iba · feature capacity (IBA, bits)", "input_iba · input prior λ_G"} <= set(captions)
    layer_box = next(b for b in app.selectbox if b.label.startswith("Bottleneck layer"))
    assert layer_box.value == "net.features.2" and "net.features.1" in layer_box.options  # smoke: cnn_light
    layer_box.set_value("net.features.1").run()
    assert not app.exception and "iba" in [im.caption for im in _images(app)], app.exception
    app.run()  # cached now: the stage bar a cache hit replays must not stay on screen
    assert not app.get("progress")


def test_evaluate_page_draws_sanity_and_sensitivity_curves(monkeypatch):
    at = evaluated(monkeypatch, ["gradient", "iba"], ["sanity", "sensitivity_n"])
    assert len(at.get("plotly_chart")) == 2


def test_evaluate_page_shows_a1a2_table_and_scatter_with_chosen_units(monkeypatch):
    at = page("evaluate.py", monkeypatch)
    next(m for m in at.multiselect if m.label == "Methods").set_value(["random", "gradient"])
    next(m for m in at.multiselect if m.label == "Metrics").set_value(["a1a2", "iou"])
    at.slider[0].set_value(4)
    next(b for b in at.selectbox if b.label == "Explanation unit size s_e").set_value(8)
    at.number_input[0].set_value(2)
    settle(at.button[0].click().run())
    assert not at.exception and not at.error, at.exception
    generic, a1a2 = (d.value for d in at.dataframe)
    assert {"iou", "a1a2 a1", "a1a2 a2"} <= set(generic.columns)
    assert list(a1a2["method"]) == ["random", "gradient"] and set(a1a2["seeds"]) == {2} and set(a1a2["n"]) == {4}
    (chart,) = at.get("plotly_chart")  # iou is a scalar, a1a2 the scatter: one chart
    assert "upper left is best" in chart.proto.spec
    settings = [j for j in at.json if '"n_e"' in j.proto.body]
    assert settings and '"n_e": 2' in settings[0].proto.body and '"units": 8' in settings[0].proto.body


def test_uploaded_photo_explained_by_input_iba_on_the_pretrained_model(app):
    app.run()
    app.sidebar.selectbox[0].set_value("natural").run()
    app.multiselect[0].set_value(["input_iba"]).run()
    app.file_uploader[0].upload("photo.png", _png(1), "image/png").run()
    assert not app.exception and not app.error, app.exception
    captions = [im.caption for im in _images(app)]
    assert {"input_iba", "input_iba · input prior λ_G", "input_iba · feature capacity (IBA, bits)"} <= set(captions)


def test_server_config_is_loopback_without_file_watcher_or_error_details(monkeypatch):
    """Streamlit itself reads .streamlit/config.toml and gets these values (so they are valid ones)."""
    from streamlit import config

    monkeypatch.chdir(ROOT)
    try:
        config.get_config_options(force_reparse=True)
        assert config.get_option("server.address") == "127.0.0.1"
        assert config.get_option("server.fileWatcherType") == "none"
        assert config.get_option("server.runOnSave") is False
        details = config.get_option("client.showErrorDetails")
        assert details == config.ShowErrorDetailsConfigOptions.NONE  # not False: that shows tracebacks
        assert config.get_option("server.maxUploadSize") == 25
    finally:
        config.get_config_options(force_reparse=True)


def test_an_evaluation_is_a_job_that_waits_for_a_free_worker_and_says_so(monkeypatch):
    from xai_core.jobs import MANAGER
    from xai_core.workslots import JOB_LANES

    at = page("evaluate.py", monkeypatch)
    at.slider[0].set_value(4)
    lane = JOB_LANES["short"]  # evaluations run in the short lane (one worker: the test sets no XAI_SHORT_JOB_SLOTS)
    lane.acquire()  # … which is busy
    try:
        at.button[0].click().run()
        assert not at.exception, at.exception
        job = next(j for j in MANAGER.jobs() if j.key.startswith("page/evaluation/") and j.active)
        until(lambda: job.ahead == 1)
        at.run()
        assert any("short-job worker (1 ahead: 1 running" in p.proto.text for p in at.get("progress"))
        assert any(b.label == "Cancel" for b in at.button) and not at.get("plotly_chart")  # queued, not run
    finally:
        lane.release()
    settle(at)
    assert not at.exception and not at.error, at.exception
    assert len(at.get("plotly_chart")) == 2  # then ran, its result in the page
    assert not any("worker" in p.proto.text for p in at.get("progress")) and lane.busy == 0


def test_a_bug_in_a_run_is_logged_and_shown_as_one_line(monkeypatch, caplog):
    from xai_core import services

    def broken(*args, **kwargs):
        raise ValueError("cannot read /srv/private/cache/entry.pt")

    at = page("evaluate.py", monkeypatch)
    monkeypatch.setattr(services, "evaluate", broken)
    at.slider[0].set_value(4)
    with caplog.at_level("ERROR"):
        settle(at.button[0].click().run())
    assert not at.exception
    assert [e.value for e in at.error] == ["Evaluating · hard_mnist (smoke) failed: ValueError: cannot read entry.pt "
                                           "(details in the server log)"]
    assert "Traceback" in caplog.text and "/srv/private/cache/entry.pt" in caplog.text  # the server keeps it all


def test_explore_a_bug_in_one_method_spares_the_others(app, monkeypatch, caplog):
    from xai_core import services

    original = services.explain_images

    def gradient_broken(ctx, methods, *args, **kwargs):
        if methods == ["gradient"]:
            raise RuntimeError("kernel failed in /opt/secret/lib.py")
        return original(ctx, methods, *args, **kwargs)

    app.run()
    monkeypatch.setattr(services, "explain_images", gradient_broken)
    with caplog.at_level("ERROR"):
        app.file_uploader[0].upload("photo.png", _png(seed=4242), "image/png").run()  # new bytes: not cached
    assert not app.exception, app.exception
    warned = [w.value for w in app.warning]
    assert "gradient: RuntimeError: kernel failed in lib.py (an internal error; details in the server log)" in warned
    assert not any("/opt/secret" in w for w in warned) and "/opt/secret/lib.py" in caplog.text
    captions = [im.caption for im in _images(app)]
    assert "gradient · overlay" not in captions and "smoothgrad · overlay" in captions


def _dump(values: int = 8000) -> str:
    """A tensor's text as big as the one a failed fit once put on the page (≈ 40 KB)."""
    return "tensor([[" + ", ".join(["0.5000"] * values) + "]])"


def test_train_page_shows_failures_in_one_line_cancels_jobs_and_asks_before_long_training(monkeypatch):
    import time

    from polling import until

    from xai_core.jobs import MANAGER
    from xai_core.services import estimates

    dump = _dump()

    def broken(progress):
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied: {dump}")

    def endless(progress):
        while True:
            progress(1, 2, "working")
            time.sleep(0.02)

    MANAGER.wait(MANAGER.submit("test/broken@app", "broken job", broken).key, 60)
    running = MANAGER.submit("test/endless@app", "endless job", endless)
    monkeypatch.setattr(estimates, "black_box_estimate", lambda dataset, preset: estimates.Estimate(5400, "measured"))
    try:
        until(lambda: running.status == "running", timeout=60)
        at = page("train.py", monkeypatch)
        (line,) = [e.value for e in at.error if "mat1 and mat2" in e.value]  # one line, not 48 KB
        assert len(line) <= 200 and line.endswith("… (details in the server log)")
        assert "Full error text" in [x.label for x in at.expander]
        (full,) = [c.value for c in at.code if "mat1 and mat2" in c.value]  # folded: the start of the dump
        assert full.startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied: tensor([[0.5000, ")
        assert "more characters in the server log" in full and len(full) < 10_100

        at.button(key=f"cancel-{running.key}").click().run()
        assert not at.exception, at.exception
        assert MANAGER.wait(running.key, timeout=120).status == "cancelled" and running.error is None
        at.run()
        assert any("**endless job** — cancelled" in m.value for m in at.markdown)
        assert not [b for b in at.button if b.key == f"cancel-{running.key}"]  # nothing left to cancel

        train = [b for b in at.button if b.label == "Train"]  # a black box not trained yet in this store
        if train:
            assert train[0].disabled and any("about 1.5 h (measured)" in c.value for c in at.caption)
            next(c for c in at.checkbox if c.label.startswith("Start it anyway")).check().run()
            assert not next(b for b in at.button if b.label == "Train").disabled
    finally:
        MANAGER.cancel(running.key)


def test_explore_fit_asks_first_shows_a_failure_in_one_line_and_cancels_keeping_its_checkpoint(
        app, trained_method, monkeypatch, tmp_path):
    import time

    import streamlit as st

    from polling import until

    from xai_core.jobs import MANAGER
    from xai_core.methods import METHODS
    from xai_core.methods.trained import CHECKPOINT, Stage
    from xai_core.services import estimates

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))  # nothing fitted yet
    st.cache_resource.clear()
    st.cache_data.clear()
    toy, dump = METHODS.get(trained_method), _dump()
    monkeypatch.setattr(estimates, "fit_estimate", lambda ctx, method, **config: estimates.Estimate(3 * 3600, "measured"))

    def broken(self, stage, run, idx):
        raise RuntimeError(f"shape mismatch: {dump}")

    monkeypatch.setattr(toy, "train_step", broken)
    app.run()
    app.multiselect[0].set_value(["gradient", trained_method]).run()
    label = f"Train {trained_method} now"
    assert next(b for b in app.button if b.label == label).disabled  # 3 h: not without a confirmation
    assert any(f"Train {trained_method}, estimated time: about 3.0 h (measured)" in c.value for c in app.caption)
    next(c for c in app.checkbox if c.label.startswith("Start it anyway")).check().run()
    next(b for b in app.button if b.label == label).click().run()
    job = MANAGER.wait(_last_job("fit", f"/{trained_method}").key, timeout=60)
    assert job.status == "failed"
    app.run()
    assert not app.exception, app.exception
    (line,) = [e.value for e in app.error if "The last attempt failed" in e.value]
    assert len(line) <= 300 and "RuntimeError: shape mismatch: tensor([[0.5000" in line
    assert any(c.value.startswith("RuntimeError: shape mismatch") for c in app.code)  # the full text, folded
    assert "gradient · overlay" in [im.caption for im in _images(app)]  # the maps are not pushed off the page

    # a long fit: cancelled from Explore, it keeps its last finished epoch for the next start
    monkeypatch.setattr(toy, "stages", lambda self: [Stage("fitting", epochs=100_000, batch_size=100_000)])
    monkeypatch.setattr(toy, "train_step", lambda *_: time.sleep(0.05) or {"loss": torch.tensor(1.0)})
    confirm = next(c for c in app.checkbox if c.label.startswith("Start it anyway"))
    if not confirm.value:  # dropped while the failing job's progress replaced the button
        confirm.check().run()
    next(b for b in app.button if b.label == label).click().run()
    job = _last_job("fit", f"/{trained_method}")
    until(lambda: len(job.history) >= 2, timeout=60)
    app.run()
    assert any(trained_method in p.proto.text for p in app.get("progress"))  # the job's live line
    app.button(key=f"cancel-{job.key}").click().run()
    assert MANAGER.wait(job.key, timeout=300).status == "cancelled" and job.error is None
    from xai_core.store import ArtifactStore as Store

    assert list((Store().root / CHECKPOINT).glob("*.pt"))  # the last finished epoch, for the next start
    app.run()
    assert not app.exception, app.exception
    assert any("was cancelled" in i.value and "resumes from its last finished epoch" in i.value for i in app.info)
    assert any(b.label == label for b in app.button)


def _fragment_run(app, fragment_id: str) -> None:
    """Rerun one fragment of the page the app is on, as a fragment's ``run_every`` does in a browser
    (AppTest itself only makes full runs)."""
    from unittest import mock

    from streamlit.testing.v1 import local_script_runner

    real = local_script_runner.RerunData

    def fragment_rerun(**data):
        return real(**data, fragment_id_queue=[fragment_id], is_fragment_scoped_rerun=True)

    with mock.patch.object(local_script_runner, "RerunData", fragment_rerun):
        app.run()


def test_explore_choices_survive_a_visit_to_train_while_a_job_refreshes_it(app):
    """Issue 18 item 3: the Train page's job list reruns as a fragment every second while a job
    runs; a fragment run used to drop Explore's sample and methods (back to #0 and the defaults)."""
    import time

    from polling import until

    from xai_core.jobs import MANAGER

    def endless(progress):
        while True:
            progress(1, 2, "working")
            time.sleep(0.02)

    running = MANAGER.submit("test/endless-visit@app", "endless job", endless)
    try:
        until(lambda: running.status == "running", timeout=60)
        app.run()
        app.multiselect[0].set_value(["random", "gradcam"]).run()
        app.selectbox(key="sample").set_value(7).run()
        app.switch_page("pages/train.py").run()
        assert not app.exception, app.exception
        fragments = list(app._fragment_storage._fragments)
        assert fragments  # the job list, refreshed while the job runs
        for _ in range(2):
            for fragment in fragments:
                _fragment_run(app, fragment)
                assert not app.exception, app.exception
        app.switch_page("pages/explore.py").run()
        assert not app.exception, app.exception
        assert app.multiselect[0].value == ["random", "gradcam"] and app.selectbox(key="sample").value == 7
    finally:
        MANAGER.cancel(running.key)


def test_model_choice_follows_the_dataset_unless_the_user_picked_one_it_offers(monkeypatch):
    """Issue 18 item 4: a dataset or preset change resets the model to that dataset's default
    unless the user's own pick is offered there too, and says so either way."""
    from xai_core.services import ModelChoice

    at = page("about.py", monkeypatch)  # the sidebar alone: nothing is loaded or trained
    model = lambda: at.sidebar.selectbox(key="model_choice")  # noqa: E731
    notes = lambda: " ".join(i.value for i in at.sidebar.info)  # noqa: E731
    preset = at.sidebar.radio[0]
    assert model().value == ModelChoice("default", "cnn_light")
    preset.set_value("paper").run()  # left at the default: the paper preset's default follows
    assert model().value == ModelChoice("default", "resnet18") and not notes()
    at.sidebar.radio[0].set_value("smoke").run()
    assert model().value == ModelChoice("default", "cnn_light")

    model().set_value(ModelChoice("arch", "small_cnn")).run()  # an explicit pick, offered on mnist38 too
    at.sidebar.selectbox[0].set_value("mnist38").run()
    assert model().value == ModelChoice("default", "small_cnn") and not notes()  # mnist38's default is small_cnn
    model().set_value(ModelChoice("arch", "cnn_light")).run()
    at.sidebar.selectbox[0].set_value("hard_mnist").run()
    assert model().value == ModelChoice("default", "cnn_light")  # the same architecture: the default
    model().set_value(ModelChoice("arch", "small_cnn")).run()
    at.sidebar.selectbox[0].set_value("spurious_patch").run()
    assert model().value == ModelChoice("arch", "small_cnn")  # kept, and said so
    assert "kept your choice, **small_cnn**" in notes() and "default black box here is cnn_light" in notes()
    at.run()
    assert "kept your choice" in notes()  # the note stays while the choice stands
    at.sidebar.selectbox[0].set_value("natural").run()  # pretrained: no other architectures
    assert model().value == ModelChoice("default", "efficientnet_lite0")
    assert "reset to **efficientnet_lite0 (default black box)**: small_cnn is not offered" in notes()
    assert not at.exception, at.exception
    assert "efficientnet_lite0 (default black box)" in model().proto.help  # the full name, however narrow


def test_train_tables_show_a_dash_for_no_value_and_the_shipped_black_box_as_shipped(monkeypatch, tmp_path):
    """Issue 18 item 10: no "None" in the Train page's cells; the black box shipped in assets/ is
    "shipped" even after it seeded the store (it was labelled "trained")."""
    import streamlit as st

    from xai_core import services
    from xai_core.models import load_black_box
    from xai_core.services import tasks

    store = ArtifactStore(tmp_path / "seeded")
    load_black_box("hard_mnist", "quick", store=store, train_if_missing=False)  # seeds the store from the asset
    rows = {r["dataset"]: r for r in services.black_box_rows("quick", store=store)}
    assert rows["hard_mnist"]["state"] == "shipped" and rows["hard_mnist"]["test accuracy"] > 0.5

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))  # nothing trained yet
    st.cache_resource.clear()
    at = page("train.py", monkeypatch)
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["hard_mnist", "state"] == "not trained" and table.loc["natural", "state"] == "pretrained"
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert "None" not in cells and "nan" not in cells and table.loc["natural", "test accuracy"] == tasks.MISSING
    shown = tasks.black_box_table([{**rows["hard_mnist"], "test accuracy": 0.98765, "training s": 1234.4}])
    assert shown[0]["test accuracy"] == "0.988" and shown[0]["training s"] == "1,234"


def test_ablations_sweep_shows_its_estimate_and_asks_before_long_refits(monkeypatch):
    """Issue 18 item 5: a sweep is one refit per value; above 2 minutes it starts only after a
    confirmation (as a background job), with its estimate shown first."""
    import time

    from xai_core import services
    from xai_core.jobs import MANAGER
    from xai_core.services import estimates

    started = []

    def endless(progress):
        while True:
            progress(1, 2, "refitting")
            time.sleep(0.02)

    def sweep_job(ctx, method, setting, values, metric, n):
        started.append((method, setting, values, metric))
        return MANAGER.submit(f"test/sweep-{len(started)}@app", f"{method} {setting} sweep", endless)

    monkeypatch.setattr(estimates, "sweep_estimate",
                        lambda ctx, method, setting, values: estimates.Estimate(2700.0 * len(values), "measured"))
    monkeypatch.setattr(services, "sweep_job", sweep_job)
    at = page("ablations.py", monkeypatch)
    try:
        next(m for m in at.multiselect if m.label == "Values").set_value([4, 8])
        next(b for b in at.button if b.label == "Run sweep").click().run()
        assert not at.exception, at.exception
        assert not started  # nothing refits from the form's click alone
        assert any("sweep, estimated time: about 1.5 h (measured)" in c.value for c in at.caption)
        start = next(b for b in at.button if b.label == "Start the diet u sweep")
        assert start.disabled
        next(c for c in at.checkbox if c.label.startswith("Start it anyway")).check().run()
        next(b for b in at.button if b.label == "Start the diet u sweep").click().run()
        assert not at.exception, at.exception
        assert started == [("diet", "u", [4, 8], "pixel_perturbation")]
        assert any("diet u sweep" in p.proto.text for p in at.get("progress"))  # its live line, with Cancel
        at.run()
        assert len(started) == 1 and not [b for b in at.button if b.label == "Start the diet u sweep"]
    finally:
        for job in MANAGER.jobs():
            if job.key.startswith("test/sweep-"):
                MANAGER.cancel(job.key)


def test_a_long_black_box_training_is_not_run_inside_a_page(app, monkeypatch, tmp_path):
    """Issue 18 item 5: a black box not trained yet whose training is estimated above 2 minutes
    (the paper preset on a CPU) stops the page with the estimate and a pointer to the Train page."""
    import streamlit as st

    from xai_core.services import estimates, tasks

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "cache"))  # nothing trained yet
    st.cache_resource.clear()
    monkeypatch.setattr(estimates, "black_box_estimate", lambda dataset, preset: estimates.Estimate(5400, "measured"))
    app.run()
    assert not app.exception, app.exception
    (note,) = [i.value for i in app.info if "not trained yet" in i.value]
    assert "about 1.5 h (measured)" in note and "**Train** page" in note
    assert not app.get("image") and not tasks.black_box_cached("hard_mnist", "smoke")  # nothing trained here
    monkeypatch.setattr(estimates, "black_box_estimate", lambda dataset, preset: estimates.Estimate(30, "measured"))
    app.run()  # a short one still loads in the page
    assert not app.exception, app.exception
    assert app.get("image") and tasks.black_box_cached("hard_mnist", "smoke")
