"""Every (dataset, method) pair through the pages that pick methods (issue 29): no page raises on any pair; a
method a dataset cannot take is not offered, and the picker says why (services.offered_methods).

Explore explains every offered method of every dataset at once (the whole grid: each pair's map or its
"train it" offer); the Gallery walks each pair on its own, except the post-hoc and per-instance methods on
``natural`` (224 px: minutes at the smoke preset; their explanations run the same batched path as Explore's,
walked above); Evaluate, Ablations and Signal vs Distractor draw their pickers for every dataset."""
from __future__ import annotations

import pytest
from app_pages import ROOT
from streamlit.testing.v1 import AppTest

from xai_core import services
from xai_core.data import dataset_names
from xai_core.methods import METHODS

SLOW_GALLERY = {"natural"}  # the Gallery walks only trained methods there (see the module docstring)


def _page(name: str, dataset: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=600)
    at.session_state["dataset_choice"] = dataset
    at.run()
    assert not at.exception, (dataset, at.exception)
    return at


def _offered(options) -> list[str]:
    """The method names of a picker's options (each drawn as "name — description")."""
    return [o.split(" — ")[0] for o in options]


def _blocked(dataset: str) -> dict[str, str]:
    return services.offered_methods(services.load_context(dataset, "smoke"))[1]


def _says_why(at: AppTest, blocked: dict[str, str]) -> None:
    if not blocked:
        assert not any(e.label.startswith("Not offered on") for e in at.expander)
        return
    note = next(e for e in at.expander if e.label.startswith("Not offered on"))
    reasons = " ".join(c.value for c in note.caption)
    for method, why in blocked.items():
        assert f"**{method}**: {why}" in reasons


@pytest.mark.parametrize("dataset", dataset_names())
def test_explore_draws_every_offered_method_and_says_why_the_others_are_not(dataset, monkeypatch):
    at = _page("explore.py", dataset, monkeypatch)
    blocked = _blocked(dataset)
    picker = at.multiselect(key="explore_methods")
    offered = _offered(picker.options)
    assert set(offered) | set(blocked) == set(METHODS) and not set(offered) & set(blocked)
    picker.set_value(offered).run()
    assert not at.exception, (dataset, at.exception)
    assert not at.error, (dataset, [e.value for e in at.error])
    _says_why(at, blocked)


@pytest.mark.parametrize("dataset", dataset_names())
def test_the_gallery_takes_every_pair(dataset, monkeypatch):
    at = _page("gallery.py", dataset, monkeypatch)
    blocked = _blocked(dataset)
    offered = _offered(at.selectbox(key="gallery_method").options)
    assert set(offered) | set(blocked) == set(METHODS)
    _says_why(at, blocked)
    walk = [m for m in offered if dataset not in SLOW_GALLERY or METHODS.get(m).caps.trained]
    for method in walk:
        at.selectbox(key="gallery_method").set_value(method).run()
        assert not at.exception, (dataset, method, at.exception)
        assert not at.error, (dataset, method, [e.value for e in at.error])


@pytest.mark.parametrize("page", ["evaluate.py", "ablations.py", "signal_distractor.py"])
@pytest.mark.parametrize("dataset", dataset_names())
def test_the_other_pickers_leave_out_what_the_dataset_cannot_take(page, dataset, monkeypatch):
    at = _page(page, dataset, monkeypatch)
    if page == "signal_distractor.py" and not services.load_context(dataset, "smoke").info.has_ground_truth:
        assert "has no ground-truth masks" in at.info[0].value  # the whole page needs them: said instead
        return
    blocked = _blocked(dataset)
    picker = next(m for m in at.multiselect if m.label == "Methods")
    assert set(_offered(picker.options)) | set(blocked) == set(METHODS)
    _says_why(at, blocked)
