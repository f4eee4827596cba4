"""The fits shipped in assets/fits/ match the current code, a fresh store explains with them without
training, and what they leave out of a fit changes no map."""
from __future__ import annotations

import pytest
import torch

from xai_core import services
from xai_core.methods import METHODS, TrainedExplainer
from xai_core.methods import trained
from xai_core.models.assets import fit_path, read_shipped_fit
from xai_core.services import shipped
from xai_core.services.shipped import SHIPPED_FITS
from xai_core.store import ArtifactStore

REGEN = "stale: regenerate with `python -m xai_core assets` and commit assets/fits/"


@pytest.fixture(scope="module")
def ctx():
    """hard_mnist quick on the session's cache (its black box from assets/, its test split generated)."""
    return services.load_context("hard_mnist", "quick", device="cpu")


@pytest.mark.parametrize("method,dataset,preset", SHIPPED_FITS)
def test_every_shipped_fit_is_the_one_the_current_code_asks_for(method, dataset, preset, ctx, tmp_path):
    here = ctx if (dataset, preset) == ("hard_mnist", "quick") else services.load_context(dataset, preset, device="cpu")
    explainer = services.build_explainer(here, method, prepare=False)
    spec = explainer.cache_spec()
    assert fit_path(method, spec).is_file(), f"no {fit_path(method, spec).name}; {REGEN}"
    payload = read_shipped_fit(method, spec)  # checksum and recorded key verified
    assert payload is not None, REGEN
    assert explainer.is_ready(ArtifactStore(tmp_path))  # shipped counts as ready in an empty store, by a stat
    assert set(payload["components"]) == set(explainer.components())


def test_a_fresh_store_explains_with_the_shipped_fit_without_training(ctx, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained although a fit ships")

    monkeypatch.setattr(trained, "fit", no_training)
    fresh = ArtifactStore(tmp_path)
    diet = services.build_explainer(ctx, "diet", prepare=False)
    diet.prepare(ctx.test, fresh)  # the training split is never read when the fit ships
    batch = ctx.test.batch([0])  # one image: DiET optimises each test mask (a minute on a busy machine)
    scores = diet.explain(batch.x, batch.y).scores
    assert scores.shape == (1, 64, 64) and torch.isfinite(scores).all() and scores.std() > 0
    assert fresh.exists("diet", diet.cache_spec())  # the store was seeded: the next load is its own


PRUNED = [name for name in METHODS.names()
          if issubclass(METHODS.get(name), TrainedExplainer) and METHODS.get(name).explain_state is not None]


@pytest.mark.parametrize("name", PRUNED)
def test_the_state_a_shipped_fit_leaves_out_changes_no_map(name, tmp_path):
    ctx = services.load_context("hard_mnist", "smoke", device="cpu", store=ArtifactStore(tmp_path / "full"))
    full = services.build_explainer(ctx, name)
    payload = ctx.store.load(name, full.cache_spec())
    shipped = full.shipped_payload(payload)
    assert set(shipped["state"]) == set(full.explain_state) - set(full.rebuilt_state)
    assert shipped["components"] == payload["components"]
    pruned_store = ArtifactStore(tmp_path / "pruned")
    pruned_store.save(name, full.cache_spec(), shipped)
    pruned = services.build_explainer(
        services.load_context("hard_mnist", "smoke", device="cpu", store=pruned_store), name)
    for name in full.explain_state:  # what the explain step reads, shipped or remade from the training split
        assert torch.equal(full.state[name], pruned.state[name]), name
    batch = ctx.test.batch([0, 1, 2])
    ours, theirs = full.explain(batch.x, batch.y), pruned.explain(batch.x, batch.y)
    assert torch.equal(ours.scores, theirs.scores)
    assert ours.extras.keys() == theirs.extras.keys()  # DoRaR's reconstructions draw on the noise bank
    assert all(torch.equal(ours.extras[k], theirs.extras[k]) for k in ours.extras)


def test_explore_starts_with_the_papers_methods_where_their_fits_ship_else_the_baselines(tmp_path, monkeypatch):
    ctx = services.load_context("hard_mnist", "smoke", store=ArtifactStore(tmp_path))
    offered = [r.name for r in services.offered_methods(ctx)[0]]
    baselines = ["gradient", "input_x_gradient", "smoothgrad", "integrated_gradients", "gradcam"]
    assert services.preselected(ctx, offered) == baselines  # nothing ships at smoke
    services.build_explainer(ctx, "comet")  # fitted here (smoke: seconds), but not shipped: the start is the same
    assert services.preselected(ctx, offered) == baselines
    monkeypatch.setattr(shipped, "ships", lambda ctx, method: method in ("comet", "meed"))
    assert services.preselected(ctx, offered) == ["comet", "meed", "input_iba", "gradcam"]  # InputIBA trains nothing
    assert services.preselected(ctx, ["gradient", "comet"]) == ["comet"]  # only what is offered


def test_a_fresh_clone_starts_explore_with_the_five_papers_methods(tmp_path):
    fresh = services.load_context("hard_mnist", "quick", device="cpu", store=ArtifactStore(tmp_path))
    offered = [r.name for r in services.offered_methods(fresh)[0]]
    assert services.preselected(fresh, offered) == [*services.PAPER_METHODS, "gradcam"]
