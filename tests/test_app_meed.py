"""MEED / L2X in the dashboard (issue 15, "Dashboard"): Explore's selection views and k picker, Train's
loss / FS-M curves and the paper's Figure 3, Evaluate's fidelity table and scatter, the component
ablation (Table 2) and the About page, at the smoke preset."""
from __future__ import annotations

import json

import pytest
from app_pages import app_test, evaluated, page
from test_app import _images, _last_job, _train_if_offered


@pytest.fixture
def app(monkeypatch):
    return app_test(monkeypatch)


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_explore_shows_meed_selection_inputs_predictions_and_k_picker(app):
    app.run()
    app.multiselect[0].set_value(["meed"]).run()
    _train_if_offered(app, "meed")
    assert not app.exception, app.exception
    captions = [im.caption for im in _images(app)]
    assert {"meed", "meed · overlay", "meed · selected only (x_selected)", "meed · unselected only (x_unselected)"
            } <= set(captions)
    assert "meed · selected pixels (102 px, red)" in captions  # hard_mnist: 32 px, k = 10 % of 1,024 pixels
    assert "meed · x_selected" not in captions and "meed · selection" not in captions  # shown once, in its row
    lines = [m.value for m in app.markdown]
    for key, what in (("f_b(x)", "the image x"), ("f_b(x_selected)", "selected only"),
                      ("f_b(x_unselected)", "unselected only")):  # the black box's class name and probability
        line = next(v for v in lines if v.startswith(f"**{key}** ({what}): "))
        assert line.endswith("%)") and "n/a" not in line
    assert any("the 102 selected features" in h.value for h in app.subheader)

    picker = next(n for n in app.number_input if n.label == "MEED with AIL: features shown (k)")
    assert picker.value == 102 and picker.min == 1 and picker.max == 1024  # None = the trained k; 1..units
    picker.set_value(10).run()
    assert not app.exception and not app.error, app.exception
    assert not any("needs training" in i.value for i in app.info)  # test time only: the same fit
    assert "meed · selected pixels (10 px, red)" in [im.caption for im in _images(app)]
    assert any("the 10 selected features" in h.value for h in app.subheader)
    assert any("settings: top_k = 10" in c.value for c in app.main.caption)


def test_train_page_draws_meed_losses_and_fs_m_with_and_without_the_prior(monkeypatch):
    from xai_core import services
    from xai_core.jobs import MANAGER

    services.load_context("hard_mnist", "smoke")  # the black box (trained once per test session)
    at = page("train.py", monkeypatch)
    assert any("with vs without the prior warm start" in h.value for h in at.subheader)
    for label in ("meed (prior = False)", "meed"):
        buttons = [b for b in at.button if b.label == f"Train {label} now"]
        if buttons:  # a background job with its progress and Cancel, never inside the page run
            buttons[0].click().run()
            assert not at.exception, at.exception
            job = MANAGER.wait(_last_job("fit", f"/{label}").key, timeout=600)
            assert job.status == "done", job.error
            assert {"L_s", "L_adv", "A_s_accuracy", "fs_m"} <= set(job.history[-1])
            at.run()
    assert not at.exception, at.exception
    charts = _charts(at)
    (figure3,) = [c for c in charts if "with vs without the prior" in c["layout"]["title"]["text"]]
    assert [t["name"] for t in figure3["data"]] == ["meed", "meed (prior = False)"]
    assert [len(t["y"]) for t in figure3["data"]] == [2, 2]  # smoke: 2 epochs each
    # the fit jobs' live curves: losses and scores (FS-M, accuracies) in two panels, for every MEED fit job this
    # process ran (none when the other test worker fitted both first: the store is shared, the job list is not)
    ran = [j for j in MANAGER.jobs() if j.key.startswith("fit/") and "/meed" in j.key and j.history]
    job_charts = [c for c in charts if any(t["name"] == "fs_m" for t in c["data"])]
    assert len(job_charts) >= len(ran)
    for chart in job_charts:
        assert {"losses", "accuracies / agreements"} <= {a["text"] for a in chart["layout"]["annotations"]}


def test_evaluate_page_shows_the_fidelity_table_and_scatter(monkeypatch):
    at = evaluated(monkeypatch, ["random", "gradient"], ["fs_fu", "sen"])
    tables = [d.value for d in at.dataframe]
    fidelity = next(t for t in tables if "FS-M" in t.columns)
    assert list(fidelity.columns) == ["method", "FS-M", "FU-M", "FS-A", "FU-A", "SEN", "ms / image"]
    assert list(fidelity["method"]) == ["random", "gradient"]
    assert fidelity[["FS-M", "FU-M", "FS-A", "FU-A"]].stack().between(0, 1).all() and (fidelity["SEN"] >= 0).all()
    assert any("Tables 3–4" in h.value for h in at.subheader)
    (scatter,) = [c for c in _charts(at) if "FS-M vs FU-M" in c["layout"]["title"]["text"]]
    assert [t["name"] for t in scatter["data"]] == ["random", "gradient"]
    assert "lower is better" in scatter["layout"]["xaxis"]["title"]["text"]
    assert "higher is better" in scatter["layout"]["yaxis"]["title"]["text"]


def test_ablations_page_runs_meeds_component_ablation_in_the_background(monkeypatch):
    from xai_core.jobs import MANAGER

    at = page("ablations.py", monkeypatch)
    method = next(s for s in at.selectbox if s.label == "Method to ablate")
    assert method.options == ["meed"]  # l2x declares no components
    at.multiselect(key="component-metrics").set_value(["fs_fu"])
    at.slider(key="component-n").set_value(4)
    next(b for b in at.button if b.label == "Run component ablation").click().run()
    assert not at.exception and not at.error, at.exception
    assert any("meed (w/o AIL)" in c.value for c in at.caption)  # the variants, named before it runs
    job = MANAGER.wait(_last_job("components/hard_mnist/smoke").key, 900)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "settings changed" in d.value.columns)
    assert list(table["method"]) == ["meed", "meed (w/o output)", "meed (w/o AIL)", "meed (w/o prior)"]
    assert list(table["settings changed"]) == ["— (the full method)", "feedback = False", "ail = False",
                                               "prior = False"]
    assert {"FS-M", "FU-M", "FS-A", "FU-A", "ms / image"} <= set(table.columns)
    assert "Download component ablation (JSON)" in [d.proto.label for d in at.get("download_button")]


def test_about_page_explains_meed_l2x_and_the_fidelity_scores(monkeypatch):
    at = page("about.py", monkeypatch)
    text = " ".join(m.value for m in at.markdown)
    assert "`meed`, trained" in text and "`l2x`, trained" in text
    for phrase in ("AIL", "Prior warm start", "Gumbel-softmax", "FS-M / FU-M / FS-A / FU-A", "**SEN**",
                   "upper left", "lower** is better"):
        assert phrase in text, phrase
