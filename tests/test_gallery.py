"""The Gallery page: one method's maps on a grid of samples, with label → prediction captions."""
from __future__ import annotations

import torch

from tests.app_pages import app_test, page
from xai_core import services


def _captions(at) -> list[str]:
    return [img.caption for e in at.get("image") for img in e.proto.imgs]


def test_gallery_shows_a_grid_of_one_method_with_captions(monkeypatch):
    at = page("gallery.py", monkeypatch)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="gallery_method").value == "gradient"
    assert at.selectbox(key="gallery_size").value == 3
    captions = _captions(at)
    assert len(captions) == 9, captions
    assert all("→" in c and c.rstrip()[-1] in "✓✗" for c in captions), captions

    at.selectbox(key="gallery_class").set_value("1" if "1" in at.selectbox(key="gallery_class").options
                                                else at.selectbox(key="gallery_class").options[1]).run()
    assert not at.exception and not at.error
    chosen = at.selectbox(key="gallery_class").value
    narrowed = _captions(at)
    assert narrowed and all(c.split(" · ")[1].startswith(f"{chosen} →") for c in narrowed), narrowed
    assert any("matching" in c.value for c in at.caption)


def test_gallery_shuffle_is_seeded():
    options = list(range(100))
    assert services.gallery_indices(options, 9) == list(range(9))
    drawn = services.gallery_indices(options, 9, seed=3)
    assert drawn == services.gallery_indices(options, 9, seed=3) and drawn != list(range(9))
    assert len(set(drawn)) == 9 and set(drawn) <= set(options)
    assert services.gallery_indices([4, 7], 9, seed=5) == [4, 7]


def test_sample_filter_feeds_the_gallery():
    labels, preds = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 0, 2])
    assert services.sample_indices(labels, preds, 1, "all") == [1, 2]
    assert services.gallery_indices(services.sample_indices(labels, preds, 1, "misclassified"), 9) == [2]


def test_gallery_shuffle_and_grid_size_on_the_page(monkeypatch):
    at = page("gallery.py", monkeypatch)
    first = _captions(at)
    at.number_input(key="gallery_seed").set_value(7).run()
    assert not at.exception and not at.error
    shuffled = _captions(at)
    assert len(shuffled) == 9 and shuffled != first
    at.number_input(key="gallery_seed").set_value(0).run()
    assert _captions(at) == first  # deterministic: the same seed, the same samples
    at.selectbox(key="gallery_size").set_value(4).run()
    assert not at.exception and len(_captions(at)) == 16


def test_gallery_offers_a_fit_for_an_untrained_method(monkeypatch):
    at = page("gallery.py", monkeypatch)
    ctx = services.load_context("hard_mnist", "smoke")  # the page's context (the test store is shared by the
    options = at.selectbox(key="gallery_method").options  # session's tests: pick a method no other test fitted)
    offered = [o.split(" — ")[0] for o in options]  # each drawn as "name — description"
    trained = next(r.name for r in services.method_rows() if r.trained and r.name in offered
                   and not services.is_ready(ctx, r.name))
    at.selectbox(key="gallery_method").set_value(trained).run()
    assert not at.exception
    assert any("needs training" in i.value for i in at.info), [i.value for i in at.info]
    assert not _captions(at)


def test_gallery_is_in_the_navigation(monkeypatch):
    app = app_test(monkeypatch)
    app.run()
    assert not app.exception
    app.switch_page("pages/gallery.py").run()
    assert not app.exception, app.exception
    assert len(_captions(app)) == 9
    app.switch_page("pages/explore.py").run()
    assert not app.exception, app.exception


def test_a_method_that_cannot_train_on_the_dataset_is_not_offered_and_says_why(monkeypatch):
    """DoRaR on natural (32 training images; its noise needs 50): not in the picker, its reason beneath."""
    at = page("gallery.py", monkeypatch)
    at.sidebar.selectbox(key="dataset_choice").set_value("natural").run()
    assert not at.exception, at.exception
    assert not any(o.startswith("dorar ") for o in at.selectbox(key="gallery_method").options)
    note = next(e for e in at.expander if e.label.startswith("Not offered on natural"))
    assert any(c.value.startswith("**dorar**") and "at least 50" in c.value for c in note.caption)
    assert not any(b.label.startswith("Train dorar") for b in at.button)
