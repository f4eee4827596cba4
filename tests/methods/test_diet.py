"""DiET (docs/methods/diet.md): tuning is cached, explanations are binary masks from the tuned model, and the
test-time masks find the pixels a model actually uses."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from xai_core.data.base import DatasetInfo, TensorImageDataset
from xai_core.methods import METHODS
from xai_core.methods.base import model_fingerprint
from xai_core.methods.diet import DiET, simplify, upsample
from xai_core.metrics import faithfulness
from xai_core.store import ArtifactStore

INFO = DatasetInfo("patches", "smoke", 16, 3, 3, ("r", "g", "b"), (0.5,) * 3, (0.25,) * 3, True)


class PatchNet(nn.Module):
    """Reads only the top-left 8×8 patch: class k = the patch's dominant channel k."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x[:, :, :8, :8].mean((2, 3)) - 0.5)


def patch_data(n: int, seed: int = 0) -> TensorImageDataset:
    """Grey noise everywhere, a saturated colour patch (the class) in the top-left 8×8."""
    g = torch.Generator().manual_seed(seed)
    x = 0.5 + 0.1 * torch.randn(n, 3, 16, 16, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    x[:, :, :8, :8] = 0.2
    x[torch.arange(n), y, :8, :8] = 0.95
    masks = torch.zeros(n, 16, 16, dtype=torch.bool)
    masks[:, :8, :8] = True
    return TensorImageDataset(INFO, "train", (x.clamp(0, 1) * 255).round().to(torch.uint8), y, masks)


@pytest.fixture
def fitted(tmp_path):
    store = ArtifactStore(tmp_path)
    explainer = DiET(PatchNet().eval(), INFO, preset="smoke", test_steps=25)
    steps = []
    assert not explainer.is_ready(store)
    explainer.prepare(patch_data(64), store, lambda d, t, m="", **kw: steps.append((d, t, kw)))
    return explainer, store, steps


def variant(explainer: DiET, **settings) -> DiET:
    """The fitted explainer with other test-time settings (the trained parts are shared)."""
    other = copy.copy(explainer)
    other.config = explainer.config.replace(**settings)
    return other


def test_fit_reports_rounds_and_is_cached(fitted):
    explainer, store, steps = fitted
    assert "diet" in METHODS and explainer.caps.trained and explainer.caps.kind == "trained"
    assert steps[-1][0] == steps[-1][1] and any("mask_loss" in kw for _, _, kw in steps)
    assert any("model_loss" in kw for _, _, kw in steps) and all("eta_s" in kw for _, _, kw in steps[:-1])
    assert explainer.is_ready(store)
    again = DiET(PatchNet().eval(), INFO, preset="smoke", test_steps=25)
    calls = []
    again.prepare(patch_data(64), store, lambda *a, **kw: calls.append(a))
    assert calls == []  # loaded from the store, not retrained
    assert all(torch.equal(a, b) for a, b in zip(again.explained_model.state_dict().values(),
                                                 explainer.explained_model.state_dict().values()))
    other_box = PatchNet().eval()
    with torch.no_grad():
        other_box.scale.fill_(5.0)
    assert model_fingerprint(other_box) != model_fingerprint(explainer.model)  # a new black box, a new entry
    assert not DiET(other_box, INFO, preset="smoke").is_ready(store)
    assert DiET(PatchNet().eval(), INFO, preset="smoke", test_steps=99).is_ready(store)  # test-time only: same entry


def test_test_time_masks_keep_the_pixels_the_model_reads(fitted):
    explainer, _, _ = fitted
    data = patch_data(8, seed=1)
    batch = data.batch(list(range(8)))
    out = explainer.explain(batch.x, batch.y)
    assert out.scores.shape == (8, 16, 16) and out.scores.min() >= 0 and out.scores.max() <= 1
    assert out.selection.dtype == torch.bool and out.model is explainer.explained_model is explainer.parts["f_v"]
    kept_signal = out.selection[:, :8, :8].float().mean()
    kept_rest = out.selection.float().mean() * 4 / 3 - kept_signal / 3  # the other three quadrants
    # sparse and on the signal: a part of the patch is enough to keep the prediction, nothing else is kept
    assert kept_signal >= 0.5 and kept_rest < 0.05, (kept_signal, kept_rest)
    assert out.extras["simplified"].shape == batch.x.shape
    assert (out.extras["f_v(x)_probs"].argmax(1) == batch.y).all()
    assert (out.extras["f_v(x_s)_probs"].argmax(1) == batch.y).all()  # the mask keeps the evidence


@pytest.mark.parametrize("test_fill_sigma", [0.0, 0.05])  # 0.05: the authors' random test fill, per image
def test_explain_is_deterministic_and_batch_independent(fitted, test_fill_sigma):
    explainer = variant(fitted[0], test_fill_sigma=test_fill_sigma)
    x = patch_data(4, seed=2).batch([0, 1, 2, 3]).x
    y = torch.zeros(4, dtype=torch.long)
    full = explainer.explain(x, y)
    one = explainer.explain(x[2:3], y[2:3])
    assert torch.allclose(one.scores[0], full.scores[2], atol=1e-5)
    assert torch.equal(explainer.explain(x, y).selection, full.selection)
    if test_fill_sigma:  # the fill moves, so the masks differ from the fixed-fill ones
        assert not torch.allclose(variant(explainer, test_fill_sigma=0.0).explain(x, y).scores, full.scores)


def test_single_stage_scores_are_continuous_and_selection_is_their_rounding(fitted):
    """The authors' inference: one stage of SGD, no rounding in between; the selection is round(m + 0.4)."""
    explainer = variant(fitted[0], upsample="nearest", test_rounds=1)
    out = explainer.explain(patch_data(6, seed=5).batch(list(range(6))).x, torch.zeros(6, dtype=torch.long))
    assert ((out.scores > 0) & (out.scores < 1)).any()  # continuous, not binary
    assert torch.equal(out.selection, out.scores + 0.4 >= 0.5)
    assert "no rounding" in explainer.settings()["test_time"]


def test_simplified_image_is_x_s_as_in_training(fitted):
    """x_s upsamples the rounded mask the way training did (bilinear): soft edges, not a hard cut-out."""
    explainer, _, _ = fitted
    x = patch_data(6, seed=5).batch(list(range(6))).x
    out = explainer.explain(x, torch.zeros(6, dtype=torch.long))
    u = explainer.config.u
    rounded = out.selection[:, u // 2::u, u // 2::u].float()[:, None]  # one pixel per mask cell
    fill = torch.tensor(INFO.mean)
    assert torch.allclose(out.extras["simplified"], simplify(x, upsample(rounded, (16, 16)), fill), atol=1e-6)
    assert not torch.allclose(out.extras["simplified"], simplify(x, out.selection[:, None].float(), fill))
    assert torch.allclose(out.extras["f_v(x_s)_probs"], explainer.explained_model(out.extras["simplified"]).softmax(1))


def test_lrs_scale_with_mask_cells_and_fill_sigma_defaults_to_dataset_std():
    box = PatchNet().eval()
    assert DiET(box, INFO, preset="quick").lr_scale == 1.0  # the preset's u = 2
    assert DiET(box, INFO, preset="quick", u=1).lr_scale == 4.0  # 4× the cells, 1/4 the pull on each
    assert DiET(box, INFO, preset="quick", u=4).lr_scale == 0.25
    quick = DiET(box, INFO, preset="quick", u=4)  # u = 4 keeps the lrs it was tuned with (4000 and 200)
    assert quick.config.mask_lr * quick.lr_scale == 4000.0 and quick.config.test_lr * quick.lr_scale == 200.0
    assert DiET(box, INFO, preset="smoke").config.u == 4
    assert DiET(box, INFO)._fill_sigma() == [0.25] * 3  # the paper's N(μ(D), σ²(D))
    assert DiET(box, INFO, fill_sigma=0.05)._fill_sigma() == [0.05] * 3


def test_simplify_and_upsample():
    x = torch.rand(2, 3, 8, 8)
    m = torch.zeros(2, 1, 2, 2)
    m[0, 0, 0, 0] = 1
    up = upsample(m, (8, 8), "nearest")
    assert up[0, 0, :4, :4].all() and up[0, 0, 4:, :].sum() == 0 and up[1].sum() == 0
    xs = simplify(x, up, torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(xs[0, :, :4, :4], x[0, :, :4, :4])
    assert torch.allclose(xs[1, :, 0, 0], torch.tensor([0.1, 0.2, 0.3]))


def test_faithfulness_metric():
    box = PatchNet().eval()
    x = patch_data(6).batch(list(range(6))).x
    same = faithfulness(box, box, x, None, [0.5] * 3)
    assert same["original"].tolist() == [1.0] * 6 and all(math.isnan(v) for v in same["simplified"].tolist())
    keep_patch = torch.zeros(6, 16, 16, dtype=torch.bool)
    keep_patch[:, :8, :8] = True
    assert faithfulness(box, box, x, keep_patch, [0.5] * 3)["simplified"].tolist() == [1.0] * 6
    drop_patch = ~keep_patch  # the fill replaces the evidence: predictions fall to the fill's class
    assert faithfulness(box, box, x, drop_patch, [0.5] * 3)["simplified"].mean() < 0.7
    # a method's own simplified image, when it defines one, is what f_v is scored on
    assert faithfulness(box, box, x, drop_patch, [0.5] * 3, simplified=x)["simplified"].tolist() == [1.0] * 6


def test_region_masking_accuracy_separates_signal_from_distractor():
    from xai_core.metrics import region_masking_accuracy

    data = patch_data(30, seed=3)
    batch = data.batch(list(range(30)))
    out = region_masking_accuracy(PatchNet().eval(), batch.x, batch.y, batch.masks, [0.0, 0.5, 1.0], [0.5] * 3)
    assert set(out) == {"distractor", "signal", "random"} and out["signal"].shape == (30, 3)
    assert out["distractor"].mean(0).tolist() == [1.0, 1.0, 1.0]  # the model never reads the distractors
    assert out["signal"][:, 0].mean() == 1.0 and out["signal"][:, 2].mean() < 0.6  # erasing the patch hurts
    again = region_masking_accuracy(PatchNet().eval(), batch.x, batch.y, batch.masks, [0.0, 0.5, 1.0], [0.5] * 3)
    assert all(torch.equal(out[k], again[k]) for k in out)  # seeded


def test_pixel_perturbation_on_f_v_or_on_f_b():
    """Figure 3 scores DiET's maps on its tuned model and on the black box: two metrics, two models."""
    from xai_core.metrics import METRICS, EvalInputs

    class Wrong(nn.Module):  # an "explained model" that always says class 0
        def forward(self, x):
            return torch.tensor([[9.0, 0.0, 0.0]]).expand(len(x), 3)

    batch = patch_data(9, seed=4).batch(list(range(9)))
    inputs = EvalInputs(model=Wrong(), black_box=PatchNet().eval(), x=batch.x, labels=batch.y, target=batch.y,
                        scores=batch.masks.float(), masks=batch.masks, fill=torch.full((3,), 0.5))
    on_fv = METRICS.get("pixel_perturbation")(inputs)["accuracy"][:, -1]
    on_fb = METRICS.get("pixel_perturbation_black_box")(inputs)["accuracy"][:, -1]
    assert on_fb.mean() == 1.0 and on_fv.mean() == (batch.y == 0).float().mean()
