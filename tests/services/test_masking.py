"""Signal vs distractor masking (DiET's Table 6, services/masking.py): the signal is DiET's own rounded
masks (the paper's) or the dataset's ground truth, chosen and reported; on toy data where the model reads
one known patch, each choice gives the answer it must."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from xai_core.cli import main
from xai_core.data.base import DatasetInfo, TensorImageDataset
from xai_core.errors import XAIError
from xai_core.methods import Explanation
from xai_core.methods.diet import DiET
from xai_core.services.context import Context
from xai_core.services.masking import check_region_masking, masking_signal, region_masking
from xai_core.store import ArtifactStore

INFO = DatasetInfo("patches", "smoke", 16, 3, 3, ("r", "g", "b"), (0.5,) * 3, (0.25,) * 3, True)
READ = (slice(0, 8), slice(0, 8))  # the patch the model reads
GT = (slice(8, 16), slice(8, 16))  # the toy's "ground truth": a patch the model ignores


class PatchNet(nn.Module):
    """Reads only the top-left 8×8 patch: class k = the patch's dominant channel k."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x[:, :, READ[0], READ[1]].mean((2, 3)) - 0.5)


def patch_data(n: int, seed: int = 0, split: str = "test") -> TensorImageDataset:
    """Grey noise, a saturated colour patch (the class) where the model reads; ground truth elsewhere."""
    g = torch.Generator().manual_seed(seed)
    x = 0.5 + 0.1 * torch.randn(n, 3, 16, 16, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    x[:, :, READ[0], READ[1]] = 0.2
    x[torch.arange(n), y, READ[0], READ[1]] = 0.95
    masks = torch.zeros(n, 16, 16, dtype=torch.bool)
    masks[:, GT[0], GT[1]] = True
    return TensorImageDataset(INFO, split, (x.clamp(0, 1) * 255).round().to(torch.uint8), y, masks)


class StubDiET:
    """DiET's public surface: a tuned model, and an explanation whose selection (its rounded mask) is
    the patch the model reads."""

    def __init__(self, model: nn.Module) -> None:
        self.explained_model, self.calls = model, 0

    def explain(self, x: torch.Tensor, target: torch.Tensor, masks=None, **_) -> Explanation:
        self.calls += 1
        selection = torch.zeros(len(x), *x.shape[-2:], dtype=torch.bool)
        selection[:, READ[0], READ[1]] = True
        return Explanation(torch.zeros(len(x), *x.shape[-2:]), selection=selection)


def context(tmp_path, diet=None) -> Context:
    ctx = Context("patches", "smoke", INFO, patch_data(30), PatchNet().eval(), {}, torch.device("cpu"), 0,
                  ArtifactStore(tmp_path))
    if diet is not None:
        ctx._explainers["diet"] = diet
    return ctx


def test_default_signal_is_diet_mask_with_diet_else_ground_truth():
    assert masking_signal(["diet"]) == "diet_mask" and masking_signal(["gradient"]) == "ground_truth"
    assert masking_signal(["diet"], "ground_truth") == "ground_truth"
    with pytest.raises(XAIError, match="add diet to the methods"):
        masking_signal([], "diet_mask")
    with pytest.raises(XAIError, match="unknown signal"):
        masking_signal(["diet"], "box")
    no_gt = DatasetInfo("x", "smoke", 16, 3, 3, ("r", "g", "b"), (0.5,) * 3, (0.25,) * 3, False)
    check_region_masking(no_gt, "diet_mask")  # DiET's masks need no ground truth
    with pytest.raises(XAIError, match="ground-truth"):
        check_region_masking(no_gt)


def test_diet_mask_signal_is_what_diet_keeps_and_ground_truth_is_the_datasets(tmp_path):
    """The model reads the top-left patch; the toy's ground truth is the bottom-right one. With DiET's masks
    (the top-left patch) erasing the signal costs accuracy and erasing the distractor none; with the ground
    truth, the opposite."""
    tuned = PatchNet().eval()
    diet = StubDiET(tuned)
    ctx = context(tmp_path, diet)
    paper = region_masking(ctx, ["diet"], n=30, fractions=(0.0, 1.0), batch_size=16)
    assert paper["signal"] == "diet_mask" and "DiET" in paper["signal_source"] and diet.calls == 2
    assert paper["signal_share"] == pytest.approx(0.25) and paper["empty_signal"] == paper["full_signal"] == 0
    assert set(paper["models"]) == {"black box", "diet (tuned model)"}
    f_v = paper["models"]["diet (tuned model)"]
    assert f_v["distractor"] == [1.0, 1.0] and f_v["signal"][0] == 1.0 and f_v["signal"][1] < 0.6

    ours = region_masking(ctx, ["diet"], n=30, fractions=(0.0, 1.0), batch_size=16, signal="ground_truth")
    assert ours["signal"] == "ground_truth" and ours["signal_share"] == pytest.approx(0.25)
    f_v = ours["models"]["diet (tuned model)"]
    assert f_v["signal"] == [1.0, 1.0] and f_v["distractor"][1] < 0.6

    plain = region_masking(context(tmp_path), [], n=30, fractions=(0.0, 1.0))
    assert plain["signal"] == "ground_truth" and plain["models"]["black box"] == ours["models"]["black box"]


def test_diet_mask_signal_uses_a_fitted_diets_rounded_masks(tmp_path):
    """With a real (smoke) DiET fit, the signal is exactly its explanation's selection: the share reported is
    that of its rounded masks, which lie on the patch the model reads (not on the toy's ground truth), and
    erasing everything else leaves f_v its accuracy (DiET's masks are sufficient)."""
    store = ArtifactStore(tmp_path)
    black_box = PatchNet().eval()
    diet = DiET(black_box, INFO, preset="smoke", test_steps=25)
    diet.prepare(patch_data(64, split="train"), store)
    ctx = context(tmp_path, diet)
    ctx.black_box = black_box
    result = region_masking(ctx, ["diet"], n=20, fractions=(1.0,))
    batch = ctx.test.batch(list(range(20)))
    selection = diet.explain(batch.x, batch.y).selection
    assert result["signal"] == "diet_mask"
    assert result["signal_share"] == pytest.approx(float(selection.double().mean()))
    assert 0 < result["signal_share"] <= 0.25 and not selection[:, 8:, :].any() and not selection[:, :, 8:].any()
    assert result["models"]["diet (tuned model)"]["distractor"][0] >= 0.9


def test_cli_signal_option_is_reported(capsys, tmp_path):
    """`signal_distractor --signal` picks the signal and the JSON says which; diet_mask without diet is one
    line of error."""
    out = tmp_path / "m.json"
    code = main(["signal_distractor", "--dataset", "hard_mnist", "--preset", "smoke", "--fractions", "0,1",
                 "--n", "8", "--signal", "ground_truth", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["signal"] == "ground_truth" and set(result["models"]) == {"black box"}
    assert "signal: the dataset's ground-truth masks" in capsys.readouterr().out
    code = main(["signal_distractor", "--dataset", "hard_mnist", "--preset", "smoke", "--signal", "diet_mask",
                 "--json", str(out)])
    assert code == 2 and "add diet to the methods" in capsys.readouterr().err
