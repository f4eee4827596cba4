"""One black box serves every browser session and background job of a server process: methods
must not leave hooks or flags on it, and work running at the same time must not change results."""
from __future__ import annotations

import threading

import pytest
import torch

from xai_core import services
from xai_core.jobs import JobManager
from xai_core.methods import METHODS
from xai_core.methods.base import model_fingerprint
from xai_core.models.views import borrowed_view, model_view
from xai_core.store import ArtifactStore


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


def test_model_view_shares_weights_but_not_hooks_or_flags(tiny_net):
    view = model_view(tiny_net)
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(tiny_net.parameters(), view.parameters()))
    assert all(a.data_ptr() == b.data_ptr() for a, b in zip(tiny_net.buffers(), view.buffers()))
    view.get_submodule("features.0").register_forward_hook(lambda *a: None)
    assert _hooks(tiny_net) == 0 and not any(p.requires_grad for p in view.parameters())
    assert all(p.requires_grad for p in tiny_net.parameters())
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(view(x), tiny_net.eval()(x))


def test_a_borrowed_view_is_reused_by_its_thread_and_rebuilt_when_it_cannot_be(tiny_net):
    with borrowed_view(tiny_net) as first:
        with borrowed_view(tiny_net) as nested:  # lent already: a nested borrow gets its own
            assert nested is not first
    with borrowed_view(tiny_net) as again:
        assert again is first and not again.training  # no copy of the module tree per call
        handle = again.get_submodule("features.0").register_forward_hook(lambda *a: None)
        handle.remove()
    with borrowed_view(tiny_net) as kept:
        assert kept is first
        kept.get_submodule("features.0").register_forward_hook(lambda *a: None)  # left on: never lent again
    with borrowed_view(tiny_net) as fresh:
        assert fresh is not first and _hooks(fresh) == 0 and _hooks(tiny_net) == 0
        fresh.get_submodule("features.0").train()  # left in training mode: never lent again either
    with borrowed_view(tiny_net) as clean:
        assert clean is not fresh and not any(m.training for m in clean.modules())
    fresh = clean
    others = []

    def borrow() -> None:
        with borrowed_view(tiny_net) as view:
            others.append(view)

    worker = threading.Thread(target=borrow)
    worker.start()
    worker.join()
    assert others[0] is not fresh  # each thread its own
    tiny_net.double()  # the weights moved: the old view would run stale tensors
    with borrowed_view(tiny_net) as moved:
        assert moved is not fresh
        assert all(a.data_ptr() == b.data_ptr() for a, b in zip(tiny_net.parameters(), moved.parameters()))


@pytest.mark.parametrize("name", METHODS.names())
def test_explaining_leaves_the_shared_model_as_it_was(name, tiny_net, tiny_info):
    x, target = torch.rand(3, 3, 12, 12), torch.tensor([0, 1, 2])
    masks = torch.rand(3, 12, 12) > 0.5
    config = {"layer": tiny_net.cam_layer} if METHODS.get(name).caps.takes_layer else {}
    explainer = METHODS.get(name)(tiny_net, tiny_info, preset="smoke", **config)
    if explainer.caps.uses_train_split:
        from xai_core.data.base import TensorImageDataset

        n = 64  # DoRaR's background noise needs at least 50 training images
        data = TensorImageDataset(tiny_info, "train", (torch.rand(n, 3, 12, 12) * 255).to(torch.uint8),
                                  torch.zeros(n, dtype=torch.long), masks[:1].expand(n, -1, -1).clone())
        explainer.prepare(data, ArtifactStore(), lambda *a, **k: None)
    flags = [p.requires_grad for p in tiny_net.parameters()]
    fingerprint, state = model_fingerprint(tiny_net), dict(vars(explainer))
    explainer.explain(x, target, masks)
    assert _hooks(tiny_net) == 0
    assert [p.requires_grad for p in tiny_net.parameters()] == flags
    assert all(p.grad is None for p in tiny_net.parameters())
    assert model_fingerprint(tiny_net) == fingerprint
    assert vars(explainer).keys() == state.keys()  # nothing of the call is kept on the explainer
    assert all(vars(explainer)[k] is v for k, v in state.items())


def test_a_fit_job_and_iba_at_once_equal_their_solo_runs(tmp_path):
    """The issue's reproduction: DiET fitting in a job thread while IBA explains on the same black
    box (IBA's hooks used to raise inside DiET's forward passes)."""
    ctx = services.load_context("hard_mnist", "smoke")
    iba = ctx.explainer("iba")
    indices = list(range(4))

    def fit(store_dir):
        def work(progress):
            solo_ctx = services.Context(**{**vars(ctx), "store": ArtifactStore(store_dir), "_explainers": {}})
            return model_fingerprint(services.build_explainer(solo_ctx, "diet", progress).explained_model)
        return work

    solo_maps = services.explain_indices(ctx, ["iba"], indices)[1]["iba"].scores
    manager = JobManager()
    solo_fit = manager.wait(manager.submit("solo", "diet", fit(tmp_path / "a")).key, timeout=600).result

    job = manager.submit("together", "diet", fit(tmp_path / "b"))
    maps, errors = [], []
    while job.active:  # IBA keeps explaining for as long as the fit runs
        try:
            maps.append(services.explain_indices(ctx, ["iba"], indices)[1]["iba"].scores)
        except Exception as err:  # pragma: no cover - the bug this test guards against
            errors.append(err)
    manager.wait("together", timeout=600)
    assert job.status == "done", job.error
    assert not errors and maps
    assert job.result == solo_fit  # the tuned model is bit-identical to the solo fit
    for m in maps:
        assert torch.allclose(m, solo_maps, atol=1e-5)
    assert _hooks(ctx.black_box) == 0 and iba is ctx.explainer("iba")
