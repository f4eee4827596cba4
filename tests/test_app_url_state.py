"""The view in the URL (issue 29 item 7): a shared link or a reload reopens the same dataset, preset, model,
split, sample, methods and class explained; hostile values are ignored; a changed choice is written back."""
from __future__ import annotations

from app_pages import ROOT
from streamlit.testing.v1 import AppTest

from pages.ui import url_state
from xai_core.services import ModelChoice


def _opened(monkeypatch, name: str, query: dict) -> AppTest:
    """Page ``name`` opened from a link holding ``query``, run once without an exception."""
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=300)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def _box(at, label):
    return next(b for b in at.selectbox if b.label == label)


# -- the parsers (no Streamlit) -------------------------------------------------------------------------
def test_parsers_accept_only_the_offered_choices():
    assert url_state.wanted({"dataset": ["a", "b"], "sample": "3", "other": "x", "preset": "p" * 600}) == \
        {"dataset": "b", "sample": "3"}  # the last of repeated values; unknown and overlong ones dropped
    assert url_state.choice("mnist", ["hard_mnist", "mnist"]) == "mnist"
    assert url_state.choice("../etc/passwd", ["hard_mnist", "mnist"]) is None
    assert url_state.index("7", range(10)) == 7
    assert [url_state.index(t, range(10)) for t in ("10", "-1", "1e0", " 7", "７", "", "0x3")] == [None] * 7
    assert url_state.names("random,gradient,random", ["gradient", "random"]) == ["random", "gradient"]
    assert url_state.names("gradient,<script>,__import__('os')", ["gradient"]) == ["gradient"]
    assert url_state.names("<script>", ["gradient"]) is None and url_state.names("", ["gradient"]) == []
    assert url_state.names(url_state.join(["a", "b"]), ["a", "b"]) == ["a", "b"]
    models = (ModelChoice("default", "cnn_light"), ModelChoice("arch", "small_cnn"),
              ModelChoice("manipulated", "cnn_light"), ModelChoice("user", path="/x"))
    tokens = [url_state.model_token(m) for m in models]
    assert tokens == ["default", "small_cnn", "manipulated", None]  # never a path


# -- the sidebar (the About page: nothing loads) -------------------------------------------------------------
def test_a_link_opens_its_dataset_preset_and_model_and_a_change_is_written_back(monkeypatch):
    at = _opened(monkeypatch, "about.py", {"dataset": "mnist38", "preset": "paper", "model": "manipulated"})
    assert at.sidebar.selectbox(key="dataset_choice").value == "mnist38"
    assert at.sidebar.radio(key="preset_choice").value == "paper"
    assert at.sidebar.selectbox(key="model_choice").value.kind == "manipulated"
    assert not at.sidebar.info  # no "model reset" note: the link's model is mnist38's own
    at.sidebar.selectbox(key="dataset_choice").set_value("fashion_mnist").run()
    at.sidebar.radio(key="preset_choice").set_value("smoke").run()
    assert at.query_params["dataset"] == "fashion_mnist" and at.query_params["preset"] == "smoke"
    assert at.query_params["model"] == url_state.model_token(at.sidebar.selectbox(key="model_choice").value)
    at.sidebar.selectbox(key="model_choice").set_value(ModelChoice("manipulated", "small_cnn")).run()
    assert at.query_params["model"] == "manipulated"


def test_hostile_sidebar_values_are_ignored(monkeypatch):
    at = _opened(monkeypatch, "about.py", {"dataset": "../../etc/passwd", "preset": "__import__('os')",
                                           "model": "user"})
    assert at.sidebar.selectbox(key="dataset_choice").value == "hard_mnist"
    assert at.sidebar.radio(key="preset_choice").value == "smoke"
    assert at.sidebar.selectbox(key="model_choice").value == ModelChoice("default", "cnn_light")
    assert at.query_params["dataset"] == "hard_mnist"  # the URL now says what is shown


def test_the_url_is_read_at_session_start_only(monkeypatch):
    at = _opened(monkeypatch, "about.py", {"dataset": "mnist"})
    at.sidebar.selectbox(key="dataset_choice").set_value("mnist38").run()
    at.query_params["dataset"] = "fashion_mnist"  # the same session: the user's choice stands
    at.run()
    assert at.sidebar.selectbox(key="dataset_choice").value == "mnist38" and at.query_params["dataset"] == "mnist38"


# -- Explore -------------------------------------------------------------------------------------------------
def test_a_link_opens_its_split_sample_methods_and_class(monkeypatch):
    at = _opened(monkeypatch, "explore.py", {"split": "test_background", "sample": "5", "methods": "random,gradient",
                                             "target": "7"})
    assert _box(at, "Split").value == "test_background"
    assert at.selectbox(key="sample").value == 5
    assert at.multiselect(key="explore_methods").value == ["random", "gradient"]
    assert _box(at, "Explain the class").value == 7
    assert {"random", "gradient"} <= {im.caption for el in at.get("image") for im in el.proto.imgs}
    assert (at.query_params["sample"], at.query_params["split"], at.query_params["target"]) == ("5", "test_background",
                                                                                                "7")

    at.selectbox(key="sample").set_value(8).run()  # another sample: its own prediction is explained again
    at.multiselect(key="explore_methods").set_value(["gradient"]).run()
    assert not at.exception, at.exception
    assert at.query_params["sample"] == "8" and at.query_params["methods"] == "gradient"
    assert at.query_params["target"] == str(_box(at, "Explain the class").options[0].split(" ")[0])


def test_hostile_explore_values_are_ignored(monkeypatch):
    at = _opened(monkeypatch, "explore.py", {"split": "train", "sample": "99999999", "target": "-1",
                                             "methods": "gradient,<img src=x>,os.system('x')"})
    assert _box(at, "Split").value == "test"  # the training split is not offered
    assert at.selectbox(key="sample").value == 0  # out of range: the first sample
    assert at.multiselect(key="explore_methods").value == ["gradient"]
    target = _box(at, "Explain the class")
    assert str(target.value) == target.options[0].split(" ")[0]  # the prediction
    at = _opened(monkeypatch, "explore.py", {"sample": "1e3", "methods": "<script>", "target": "1000"})
    assert at.selectbox(key="sample").value == 0  # the first sample
    assert "gradient" in at.multiselect(key="explore_methods").value  # the default methods
    assert at.query_params["sample"] == "0"
