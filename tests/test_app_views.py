"""AppTest checks of what Explore's colour scale and Evaluate's table tell the reader (issue 18, items 7–8),
and the command line Evaluate shows under every result (issue 16, item 5)."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from app_pages import app_test, evaluated, page, settle


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



def test_evaluate_shows_under_every_result_the_command_that_reproduces_it(monkeypatch):
    """The command shown parses, with the CLI's own parser and settings helpers, to the call the page
    made; its torchrun form to the same call on the whole test split."""
    from xai_core import cli, services

    calls = []
    real = services.evaluate

    def spy(ctx, methods, metrics, n, **options):
        calls.append((ctx, list(methods), list(metrics), n, options))
        return real(ctx, methods, metrics, n, **options)

    at = page("evaluate.py", monkeypatch)
    assert not at.code  # nothing evaluated, no command
    monkeypatch.setattr(services, "evaluate", spy)
    next(m for m in at.multiselect if m.label == "Methods").set_value(["random", "gradient"])
    next(m for m in at.multiselect if m.label == "Metrics").set_value(["iou", "deletion", "hit_rate", "fs_fu", "sen"])
    at.slider[0].set_value(5)
    next(b for b in at.selectbox if b.label == "Explanation unit size s_e").set_value(8)
    at.number_input[0].set_value(2)
    settle(at.button[0].click().run())
    assert not at.exception and not at.error, at.exception
    (ctx, methods, metrics, n, options), = calls
    codes = [c.value for c in at.code]
    assert len(codes) == 6  # under the table, the deletion curve and the fidelity table: the command, its torchrun form
    assert codes[:2] == codes[2:4] == codes[4:]
    assert any("Fidelity and stability" in h.value for h in at.subheader)
    command, torchrun = codes[:2]
    assert command.startswith("python -m xai_core evaluate ") and "--units 8 --n-e 2" in command
    assert torchrun.startswith("torchrun --nproc_per_node 2 -m xai_core evaluate ")
    assert " --n " not in torchrun and f"--num-images {len(ctx.test)}" in torchrun
    for text, prefix, images in ((command, 3, n), (torchrun, 5, len(ctx.test))):
        args = cli.build_parser().parse_args(shlex.split(text)[prefix:])
        assert (args.dataset, args.preset, args.seed, args.device) == (ctx.dataset, ctx.preset, ctx.seed, "auto")
        assert (args.methods, args.metrics, args.n) == (methods, metrics, images)
        assert not args.manipulated and args.model is None and ctx.model.kind == "default"
        configs, metric_settings = cli._unit_settings(args, args.metrics)
        assert (configs, metric_settings) == (options["configs"], options["metric_settings"])
        assert metric_settings == {"hit_rate": {"units": 8, "n_e": 2}}  # the form's choices reached it
    captions = [c.value for c in at.caption]
    assert captions.count("Reproduce this result from the command line:") == 3
    assert any("torchrun shards the images across the processes" in c and "Scaling out" in c for c in captions)

    at.run()  # a rerun (the form's widgets could be changed, not submitted) shows the same commands
    assert [c.value for c in at.code] == codes and len(calls) == 1


def _box(app, label: str):
    return next(b for b in app.selectbox if b.label == label)


def _grid_rows(app) -> list[list]:
    """The rows of columns that hold images (the maps' grid), each a list of its columns."""
    from streamlit.testing.v1.element_tree import Block, Column

    def has_image(node) -> bool:
        kids = getattr(node, "children", {}).values()
        return getattr(node, "type", None) == "image" or any(has_image(k) for k in kids)

    rows, todo = [], [app.main]
    while todo:
        node = todo.pop(0)
        kids = list(getattr(node, "children", {}).values())
        if isinstance(node, Block) and kids and all(isinstance(k, Column) for k in kids):
            if any(has_image(k) for k in kids):
                rows.append(kids)
            continue
        todo += kids
    return rows


def test_explore_explains_the_chosen_class_and_says_when_it_is_misclassified(app):
    app.run()
    app.multiselect[0].set_value(["gradient", "random"]).run()
    _box(app, "Prediction").set_value("misclassified").run()  # the smoke black box misses most samples
    target = _box(app, "Explain the class")
    assert not app.exception, app.exception
    assert target.options[0].endswith("· prediction") and target.options[1].endswith("· label")
    assert target.index == 0  # default: the prediction
    assert all("%" in o for o in target.options) and len(target.options) == 10
    warned = [w.value for w in app.warning]
    assert any(w.startswith("Misclassified: the black box predicts") for w in warned)
    assert "random: label-free, the class choice does not change its maps." in _captions(app)
    before = [c for c in _captions(app) if c.startswith("min ")]
    label = _box(app, "Explain the class")
    label.set_value(int(label.options[1].split(" ")[0])).run()  # the label (hard_mnist's classes are 0–9):
    # gradient's map changes, random's does not
    assert not app.exception, app.exception
    after = [c for c in _captions(app) if c.startswith("min ")]
    assert after[0] != before[0] and after[1] == before[1]
    assert any(f"the maps explain **{label.options[1].split(' ')[0]}**" in w.value for w in app.warning)


def test_explore_picks_the_split(app):
    app.run()
    split = _box(app, "Split")
    assert split.options == ["test", "test_background"] and split.value == "test"
    split.set_value("test_background").run()
    assert not app.exception and not app.error, app.exception
    assert any(b.label.startswith("test_background sample (") for b in app.selectbox)
    target = _box(app, "Explain the class")
    target.set_value(int(target.options[-1].split(" ")[0])).run()  # another class on the other split
    assert not app.exception and "gradient · overlay" in [im.caption for im in _images(app)], app.exception


def test_explore_grid_wraps_and_drops_an_empty_ground_truth_cell(app):
    app.run()
    methods = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "random", "ground_truth"]
    app.multiselect[0].set_value(methods).run()
    assert not app.exception, app.exception
    rows = _grid_rows(app)
    assert len(rows) == 2 and all(len(r) <= 4 for r in rows)  # 8 cells: image, ground truth, 6 maps
    assert {"image", "ground truth", *methods} <= {im.caption for im in _images(app)}

    app.sidebar.selectbox[0].set_value("mnist").run()  # no ground truth: no empty cell for it
    app.multiselect[0].set_value(["gradient", "random", "smoothgrad"]).run()
    assert not app.exception, app.exception
    rows = _grid_rows(app)
    assert len(rows) == 1 and len(rows[0]) == 4 and "ground truth" not in {im.caption for im in _images(app)}
    assert all(column.children for column in rows[0])  # image + 3 maps fill the row: no empty cell


def _white_png(side: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (side, side), (250, 250, 250)).save(buf, "PNG")
    return buf.getvalue()


DOWNLOADS = {"Download maps (PNG)", "Download scores (NPZ)", "Download settings (JSON)"}


def test_explore_warns_about_an_upload_far_from_the_dataset_and_sets_the_samples_aside(app):
    app.run()
    app.multiselect[0].set_value(["gradient", "random"]).run()
    assert {b.proto.label for b in app.get("download_button")} == DOWNLOADS
    sample_controls = lambda: [_box(app, "Split"), _box(app, "Class"), _box(app, "Prediction"),  # noqa: E731
                               app.selectbox(key="sample"), app.button[0]]
    upload_notes = lambda: [w.value for w in app.warning if w.value.startswith("The upload")]  # noqa: E731
    assert not any(w.disabled for w in sample_controls()) and not upload_notes()

    app.file_uploader[0].upload("dot.png", _white_png(1), "image/png").run()  # 1×1: refused in one line
    assert not app.exception and [e.value for e in app.error] == [
        "Could not use this upload: dot.png is 1×1 pixels; uploads need at least 4 pixels on each side. Showing the "
        "dataset sample instead."], app.exception
    app.file_uploader[0].upload("dot.png", _white_png(4), "image/png").run()  # a white 4×4 PNG on hard_mnist
    assert not app.exception and not app.error, app.exception
    warned = upload_notes()
    assert any(w.startswith("The upload is 4×4 pixels, upscaled to the model's 32×32") for w in warned)
    assert any("pixel statistics are far from hard_mnist's" in w for w in warned)
    assert all("\n" not in w for w in warned)
    assert all(w.disabled for w in sample_controls())
    assert "Showing your upload; clear it to go back to the samples." in _captions(app)
    assert "your upload (dot.png)" in [im.caption for im in _images(app)]
    assert {b.proto.label for b in app.get("download_button")} == DOWNLOADS

    app.file_uploader[0].clear().run()  # back to the samples
    assert not app.exception and not upload_notes(), app.exception
    assert not any(w.disabled for w in sample_controls())
    assert "image" in [im.caption for im in _images(app)]


def test_explore_method_settings_change_the_map_and_are_recorded(app, monkeypatch):
    from xai_core import export

    recorded = {}  # what the downloads hold, captured as the page builds them
    settings_json, scores_npz = export.settings_json, export.scores_npz

    def record_settings(**kw):
        recorded["methods"] = kw["methods"]
        return settings_json(**kw)

    def record_scores(scores):
        recorded["scores"] = {m: s.copy() for m, s in scores.items()}
        return scores_npz(scores)

    monkeypatch.setattr(export, "settings_json", record_settings)
    monkeypatch.setattr(export, "scores_npz", record_scores)
    app.run()
    app.multiselect[0].set_value(["smoothgrad", "integrated_gradients"]).run()
    assert not app.exception, app.exception
    samples = next(n for n in app.number_input if n.label == "SmoothGrad: samples")
    steps = next(n for n in app.number_input if n.label == "Integrated Gradients: integration steps")
    assert samples.value == 4 and steps.value == 8  # the smoke preset's defaults
    assert recorded["methods"]["smoothgrad"]["settings"]["samples"] == 4
    before = recorded["scores"]
    assert not any(c.startswith("settings: ") for c in _captions(app))

    samples.set_value(8).run()
    assert not app.exception and not app.error, app.exception
    after = recorded["scores"]
    assert not np.allclose(after["smoothgrad"], before["smoothgrad"])  # a different map
    assert np.array_equal(after["integrated_gradients"], before["integrated_gradients"])  # untouched
    assert recorded["methods"]["smoothgrad"]["settings"]["samples"] == 8
    assert recorded["methods"]["integrated_gradients"]["settings"]["steps"] == 8
    assert "settings: samples = 8" in _captions(app)

    samples.set_value(4).run()  # back to the default: the preset's cached map again
    assert np.array_equal(recorded["scores"]["smoothgrad"], before["smoothgrad"])
    assert not any(c.startswith("settings: ") for c in _captions(app))
