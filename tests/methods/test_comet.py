"""COMET and COMET-TD: the selectors, the objective's settings, training that finds the class-carrying
region against a frozen detector, the outputs (S(x), x_s, x_{1−s}, the select-then-predict model),
one-line refusals, and fits on randomised labels."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_core.errors import XAIError
from xai_core.methods import create
from xai_core.data.base import TensorImageDataset
from xai_core.methods.comet import (SWEEP_THRESHOLDS, X_OUT, X_S, LRASPPSelector, SmallSelector, masked_in,
                                    masked_out, sweep_sizes, t_candidates)
from xai_core.methods.trained import _new_run
from xai_core.metrics import pxap
from xai_core.metrics.comet_variants import pxap_pooled
from xai_core.store import ArtifactStore

from .toy_units import INFO, QuadrantModel, toy_split


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 64), (3, 32), (1, 8)])
def test_the_small_selector_maps_any_size_to_one_map_in_0_1(channels, size):
    s = SmallSelector(channels, (0.5,) * channels, (0.3,) * channels)(torch.rand(2, channels, size, size))
    assert s.shape == (2, 1, size, size) and 0 <= s.min() and s.max() <= 1


def test_the_paper_selector_is_lraspp_without_downloads():
    sel = LRASPPSelector(1, (0.5,), (0.3,))  # grayscale images are repeated to the backbone's 3 channels
    s = sel.eval()(torch.rand(1, 1, 64, 64))
    assert s.shape == (1, 1, 64, 64) and 0 <= s.min() and s.max() <= 1
    assert type(sel.net).__name__ == "LRASPP"


def test_masked_in_and_out_split_the_image_between_them():
    x, s, q = torch.rand(2, 3, 4, 4), torch.rand(2, 1, 4, 4), torch.rand(1, 3, 1, 1)
    assert torch.allclose(masked_in(x, s, q) + masked_out(x, s, q), x + q)
    assert torch.equal(masked_in(x, torch.ones_like(s), q), x)


@pytest.mark.parametrize("overrides, message", [({"loss": "mse"}, "loss must be"), ({"selector": "unet"}, "selector must"),
                                                ({"predictor_init": "imagenet"}, "predictor_init must")])
def test_bad_settings_are_one_line_at_construction(overrides, message):
    with pytest.raises(XAIError, match=message) as err:
        create("comet", QuadrantModel(), INFO, **overrides)
    assert "\n" not in str(err.value)


class NoParameters(nn.Module):
    def forward(self, x):
        return torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1)


@pytest.mark.parametrize("name", ["comet", "comet_td"])
def test_a_black_box_that_cannot_be_a_detector_is_one_line(name):
    with pytest.raises(XAIError, match="cannot serve as COMET's predictor and detector") as err:
        create(name, NoParameters(), INFO)
    assert "\n" not in str(err.value)


def test_threshold_is_chosen_at_fit_time_unless_set():
    auto = create("comet", QuadrantModel(), INFO)
    assert auto.config.t is None and auto.threshold == 0.1  # the loss form's default until the sweep chooses
    assert create("comet", QuadrantModel(), INFO, loss="hinge").threshold == 0.6
    assert create("comet", QuadrantModel(), INFO, loss="hinge", t=0.3).threshold == 0.3
    assert create("comet", QuadrantModel(), INFO, preset="paper").config.selector == "small"  # 8 px: small
    assert create("comet", QuadrantModel(), INFO.__class__(**{**INFO.__dict__, "image_size": 64}),
                  preset="paper").config.selector == "lraspp"


def fit(name: str, tmp_path, **overrides):
    """The method fitted on the toy task (8×8 images, the class in the top-left quadrant). b = 10: the paper's
    b = 100 outweighs this toy's small cross-entropy gradients; b·(1 − t) must exceed a·ln K (3.5 here) or
    masking everything pays (x_1−s all fill makes the detector guess)."""
    black_box = QuadrantModel()
    settings = {"t": 0.25, "b": 10.0, "epochs": 25, "batch_size": 50, "lr": 3e-3, "train_images": None, **overrides}
    method = create(name, black_box, INFO, preset="smoke", **settings)
    history = []
    method.prepare(toy_split(300), ArtifactStore(tmp_path), lambda step, total, msg="", **kw: history.append(kw))
    return black_box, method, history


@pytest.fixture(scope="module")
def comet(tmp_path_factory):
    return fit("comet", tmp_path_factory.mktemp("comet"))


def test_training_selects_the_region_that_holds_the_class(comet):
    black_box, method, history = comet
    losses = [h for h in history if "predictor_ce" in h]
    assert len(losses) == 25 and {"detector_ce", "mask_term", "mask_size", "accuracy", "eta_s"} <= set(losses[0])
    batch = toy_split(100, seed=1).batch(list(range(100)))
    out = method.explain(batch.x, batch.y, batch.masks)
    inside, outside = out.scores[:, :4, :4].mean(), out.scores[batch.masks.logical_not()].mean()
    assert inside > outside + 0.3
    assert pxap(out.scores, batch.masks).nanmean() > 0.8
    assert float(black_box.anchor) == 0.0  # the black box (the frozen detector) is untouched


def test_outputs_are_the_map_its_selection_and_both_masked_images(comet):
    _, method, _ = comet
    batch = toy_split(10, seed=2).batch(list(range(10)))
    out = method.explain(batch.x, batch.y)
    s, q = out.scores[:, None], torch.tensor(INFO.mean).view(1, -1, 1, 1)
    assert torch.equal(out.selection, out.scores >= 0.5)
    assert torch.allclose(out.extras[X_S], masked_in(batch.x, s, q), atol=1e-6)
    assert torch.allclose(out.extras[X_OUT], masked_out(batch.x, s, q), atol=1e-6)
    # the explained model is the whole pipeline: f_P on x_s, which it computes from x itself
    with torch.no_grad():
        assert torch.allclose(out.model(batch.x), method.trained("f_p")(out.extras[X_S]), atol=1e-5)
    assert set(out.extras) >= {"f_P(x_s)_probs", "f_b(x)_probs"}


def test_comet_td_trains_its_own_detector(tmp_path):
    black_box, method, _ = fit("comet_td", tmp_path, epochs=3)
    assert "f_d" in method.parts and method.parts["f_d"] is not black_box
    assert float(method.parts["f_d"].anchor) != 0.0  # trained (from scratch) on the masked-out regions
    assert method.settings()["detector"].startswith("the black box's architecture, untrained")


def test_randomised_labels_are_their_own_fit_and_shuffle_the_labels(tmp_path):
    real = create("comet", QuadrantModel(), INFO, preset="smoke")
    shuffled = create("comet", QuadrantModel(), INFO, preset="smoke", randomize_labels=True)
    assert "randomize_labels" not in real.cache_spec()["config"]  # real-label fits keep their old store keys
    assert real.cache_spec() != shuffled.cache_spec()
    data = toy_split(200)
    idx = torch.arange(200)
    _, y_real = _new_run(real, data).batch(idx)
    run = _new_run(shuffled, data)
    x, y = run.batch(idx)
    assert torch.equal(x, data.batch(list(range(200))).x) and torch.equal(y.sort().values, y_real.sort().values)
    assert (y != y_real).float().mean() > 0.3
    assert not torch.equal(run.teacher_images(idx[:10], x[:10]), x[:10])  # DiET/DoRaR: another image's outputs


# -- t chosen on validation data ---------------------------------------------------------------------
SWEEP = {"t_grid": (0.05, 0.25, 0.5), "t_sweep_epochs": 6, "t_sweep_images": 200, "t_val_images": 75}
TOY = {"b": 10.0, "epochs": 8, "batch_size": 50, "lr": 3e-3, "train_images": None}  # as fit() above


def test_the_candidates_keep_the_old_default_and_validation_is_held_out():
    config = create("comet", QuadrantModel(), INFO, preset="smoke").config
    assert t_candidates(config) == (0.02, 0.05, 0.1, 0.2)
    assert t_candidates(config.replace(loss="hinge")) == (0.02, 0.05, 0.1, 0.2, 0.6)
    assert sweep_sizes(config, 512) == (128, 64)  # smoke: 128 proxy images, the last 64 for validation
    assert sweep_sizes(config.replace(t_sweep_images=None), 512) == (448, 64)
    assert sweep_sizes(config, 100) == (75, 25)  # at most a quarter held out, the rest never overlaps it
    with pytest.raises(XAIError, match="t_grid must"):
        create("comet", QuadrantModel(), INFO, t_grid=(0.0, 0.1))


def messages(log):
    return lambda step, total, msg="", **kw: log.append(msg)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    store = ArtifactStore(tmp_path_factory.mktemp("sweep"))
    method = create("comet", QuadrantModel(), INFO, preset="smoke", **TOY, **SWEEP)
    log: list[str] = []
    reports: list[tuple[float, float, float | None]] = []

    def report(done, total, message="", **metrics):
        log.append(message)
        reports.append((done, total, metrics.get("eta_s")))
    method.prepare(toy_split(300), store, report)
    return method, store, log, reports


def test_the_sweep_scores_every_candidate_on_validation_and_keeps_the_best(swept):
    method, store, log, _ = swept
    choice = method.settings()["t_choice"]
    assert choice["proxy"] == {"epochs": 6, "training_images": 200, "validation_images": 75}
    scores = choice["validation_pxap"]
    assert list(scores) == ["t = 0.05", "t = 0.1", "t = 0.25", "t = 0.5"]  # the loss form's default 0.1 added
    assert all(0 <= v <= 1 for v in scores.values())
    assert len(set(scores.values())) > 1  # the candidates differ: the choice is not a tie broken by order
    best = max(scores, key=scores.get)
    assert choice["chosen"] == float(best.removeprefix("t = ")) == method.threshold == method.settings()["t"]
    for k in range(4):
        assert any(m.startswith("choosing t on validation data: t = ") and f"({k + 1}/4)" in m for m in log)
    # a candidate's score is its proxy fit's pooled PxAP on the held-out images (the proxy is a cached fit of its own)
    t = choice["chosen"]
    proxy = create("comet", QuadrantModel(), INFO, preset="smoke", **{**TOY, **SWEEP, "t": t, "epochs": 6,
                                                                   "train_images": 200})
    proxy.prepare(toy_split(300), store, lambda *a, **k: pytest.fail("the proxy fit was not stored"))
    val = toy_split(300).batch(list(range(225, 300)))  # the last 75: never a proxy's training image
    with torch.no_grad():
        s = proxy.trained("selector")(val.x)[:, 0]
    stored = method.sweep["t_val_pxap"][method.sweep["t_candidates"] == t]  # unrounded (settings round to 4)
    assert pxap_pooled(s, val.masks, SWEEP_THRESHOLDS) == pytest.approx(float(stored), abs=1e-9)


def test_the_sweep_and_the_fit_report_on_one_scale_with_a_time_left_throughout(swept):
    method, _, log, reports = swept
    passes = method.image_epochs(300)  # the four proxies' image passes and the fit's
    assert {total for _, total, _ in reports} == {passes}
    done = [d for d, _, _ in reports]
    assert done == sorted(done) and done[-1] == pytest.approx(passes)  # never restarts at the fit
    sweep_end = max(i for i, m in enumerate(log) if m.startswith("choosing t"))
    assert 0 < done[sweep_end] < passes  # the sweep is the first part of the bar, not all of it
    timed = [eta for (d, _, eta), m in zip(reports, log) if m.startswith("choosing t") and d > 0]
    assert timed and all(eta is not None and eta > 0 for eta in timed)  # the sweep says how long everything takes


def test_the_full_fit_trains_at_the_chosen_t_under_its_own_key(swept, tmp_path):
    method, store, *_ = swept
    explicit = create("comet", QuadrantModel(), INFO, preset="smoke", **TOY, t=method.threshold)
    assert explicit.cache_spec() != method.cache_spec()  # an auto-t fit is its own store entry
    explicit.prepare(toy_split(300), ArtifactStore(tmp_path))
    for name in ("selector", "f_p"):  # the same training as an explicit fit at that t
        ours, theirs = method.trained(name).state_dict(), explicit.trained(name).state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert explicit.settings()["t_choice"] == "set explicitly (no sweep)"


def test_a_stored_auto_fit_loads_with_its_sweep_and_runs_no_sweep(swept):
    method, store, *_ = swept
    again = create("comet", QuadrantModel(), INFO, preset="smoke", **TOY, **SWEEP)
    again.prepare(toy_split(300), store, lambda *a, **k: pytest.fail("loaded fits report no work"))
    assert again.settings()["t_choice"] == method.settings()["t_choice"] and again.threshold == method.threshold


def test_an_explicit_t_skips_the_sweep(tmp_path):
    log: list[str] = []
    method = create("comet", QuadrantModel(), INFO, preset="smoke", **{**TOY, "epochs": 1}, **SWEEP, t=0.25)
    method.prepare(toy_split(300), ArtifactStore(tmp_path), messages(log))
    assert log and not any(m.startswith("choosing t") for m in log)
    assert method.sweep is None and method.threshold == 0.25 and method.settings()["t"] == 0.25
    # the sweep's settings do not train an explicit-t fit: they stay out of its key
    plain = create("comet", QuadrantModel(), INFO, preset="smoke", **{**TOY, "epochs": 1}, t=0.25)
    assert method.cache_spec() == plain.cache_spec()


NO_GT = INFO.__class__(**{**INFO.__dict__, "has_ground_truth": False})


@pytest.mark.parametrize("loss, n, ground_truth, reason", [
    ("paper", 300, False, "no ground-truth masks"), ("hinge", 300, False, "no ground-truth masks"),
    ("paper", 20, True, "too small to hold out")])
def test_without_ground_truth_or_images_to_hold_out_the_default_t_and_why(tmp_path, loss, n, ground_truth, reason):
    data = toy_split(n)
    if not ground_truth:
        data = TensorImageDataset(NO_GT, "train", data.images, data.labels)
    log: list[str] = []
    method = create("comet", QuadrantModel(), data.info, preset="smoke", **{**TOY, "epochs": 1}, **SWEEP, loss=loss)
    method.prepare(data, ArtifactStore(tmp_path), messages(log))
    default = 0.1 if loss == "paper" else 0.6
    assert not any(m.startswith("choosing t") for m in log)  # no proxy fit
    assert method.threshold == default and method.settings()["t"] == default
    assert method.settings()["t_choice"].startswith(f"the loss form's default, t = {default:g}: ")
    assert reason in method.settings()["t_choice"]


def test_the_estimate_hook_counts_the_t_sweep_proxies_only_where_the_sweep_runs():
    """``image_epochs`` (what fit estimates scale with) adds one proxy fit per candidate t when t is chosen at
    fit time; an explicit t, no ground truth or a split too small to hold images out: the schedule alone."""
    import dataclasses

    sizes = {"train_images": 100, "epochs": 2, "t_sweep_images": 40, "t_sweep_epochs": 3, "t_val_images": 20}
    auto = create("comet", QuadrantModel(), INFO, **sizes)
    n_proxy, n_val = sweep_sizes(auto.config, 200)
    assert (n_proxy, n_val) == (40, 20)
    assert auto.image_epochs(200) == 100 * 2 + len(t_candidates(auto.config)) * 3 * 40
    assert create("comet", QuadrantModel(), INFO, t=0.1, **sizes).image_epochs(200) == 100 * 2
    no_masks = dataclasses.replace(INFO, has_ground_truth=False)
    assert create("comet", QuadrantModel(), no_masks, **sizes).image_epochs(200) == 100 * 2
    assert auto.image_epochs(20) == 20 * 2  # 5 validation images: too few to sweep
