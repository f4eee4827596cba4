"""The COMET authors' metric variants (their repository, ``Zood123/COMET``), beside ours (:mod:`.localisation`,
:mod:`.removal`); the COMET claims use these.

- :func:`pxap_pooled` (their ``MaskEvaluator`` with ``confidence_list = [i/20 for i in 1..19]``, as
  ``eval_explain`` runs it for COMET): one precision–recall curve over the pixels of *all* images, not a mean
  of per-image APs; maps on their raw scale (COMET's S(x) ∈ [0, 1]); pixels scoring below the first
  threshold are dropped, from the positives too.
- :func:`iou_share_curve` (their ``calculate_auc``): the IoU of ``{s > 0.9}`` with the ground truth per
  image, then the share of images whose IoU is ≥ each level; its AUC (≈ the mean IoU).
- :func:`fidelity_to_predictor` (their commented-out fidelity loop): the top-p pixels of the map replaced
  by the fill and the image fed straight to COMET's predictor f_P (the selector is not run again); for a
  method without a predictor, the black box.

Maps other than a method's own mask in [0, 1] (every post-hoc map) are min-max normalised per image first,
as torchcam does for the CAMs the authors scored (:func:`unit_scores`).

Registered here: pxap_pooled, iou_share_curve, fidelity_removal_fp.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError
from .base import X_KEY, EvalInputs, Metric, pick_fill, register_metric
from .localisation import EMPTY_GT, minmax_normalise
from .perturbing import BATCH_SIZE_AUTO, Fill
from .removal import AUC_NOTE, fidelity_removal

#: the authors' ``confidence_list`` for COMET (``eval_explain``): 0.05, …, 0.95; bins [τ_k, τ_k+1), the last [0.95, 1]
POOLED_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
IOU_SELECT = 0.9  # the authors binarise COMET's S(x) at S > 0.9 (eval_explain; 0.6 for their CAMs, 0.95 post hoc)
IOU_LEVEL_STEP = 0.01  # levels 0, 0.01, …, 1 (the authors call calculate_auc with step 1/20000; see notes)
#: COMET Table 5's fractions plus fractions below and around the size of a ``parts`` disc (≈ 2 % of the image)
FP_FRACTIONS: tuple[float, ...] = (0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
SCALES = ("auto", "raw", "minmax")


def unit_scores(scores: torch.Tensor, scale: str = "auto", mask_scores: bool = False) -> torch.Tensor:
    """Maps on [0, 1] (B×H×W float64): ``"raw"`` as given (every score must lie in [0, 1], as the authors'
    ``check_scoremap_validity`` demands); ``"minmax"`` :func:`.localisation.minmax_normalise`; ``"auto"``
    as given where the scores are a mask's (``mask_scores``: the method defines a selection, as COMET's
    S(x)) and the map lies in [0, 1], else min-max normalised (a Grad-CAM map in [0, 0.12] is not a mask)."""
    if scale not in SCALES:
        raise InvalidInputError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    s = scores.detach().double()
    flat = s.reshape(s.shape[0], -1)
    inside = (flat.amin(1) >= 0) & (flat.amax(1) <= 1)
    if scale == "raw":
        if not bool(inside.all()):
            raise InvalidInputError("raw scores must lie in [0, 1] (use scale='minmax' or 'auto')")
        return s
    if scale == "minmax":
        return minmax_normalise(s)
    return torch.where((inside & mask_scores).view(-1, 1, 1), s, minmax_normalise(s))


def _bins(scores: torch.Tensor, thresholds: Sequence[float]) -> tuple[torch.Tensor, int]:
    """Bin index per pixel (B×N long): k for τ_k ≤ s < τ_k+1, the last bin closed at 1; −1 below τ_1."""
    th = torch.as_tensor([float(t) for t in thresholds], dtype=torch.float64, device=scores.device)
    if th.numel() == 0 or bool((th[1:] <= th[:-1]).any()) or float(th[0]) < 0 or float(th[-1]) >= 1:
        raise InvalidInputError(f"thresholds must increase within [0, 1), got {list(thresholds)}")
    s = scores.reshape(scores.shape[0], -1)
    k = torch.searchsorted(th, s.contiguous(), right=True) - 1  # −1 below the first threshold
    return torch.where(s > 1, torch.full_like(k, -1), k), th.numel()


def pooled_histograms(
    scores: torch.Tensor, gt_masks: torch.Tensor, thresholds: Sequence[float] = POOLED_THRESHOLDS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the authors' score histograms (two B×K float64): ground-truth pixels and the other
    pixels per bin [τ_k, τ_k+1) (the last [τ_K, 1]); scores below τ_1 fall in no bin."""
    if scores.ndim != 3 or gt_masks.shape != scores.shape:
        raise InvalidInputError(f"scores and ground-truth masks must both be B×H×W, got {tuple(scores.shape)} "
                                f"and {tuple(gt_masks.shape)}")
    k, n_bins = _bins(scores.double(), thresholds)
    gt = gt_masks.to(scores.device).bool().reshape(k.shape)
    b = k.shape[0]
    true_hist = torch.zeros(b, n_bins + 1, dtype=torch.float64, device=k.device)
    false_hist = torch.zeros_like(true_hist)
    slot = k + 1  # slot 0: below the first threshold (dropped)
    true_hist.scatter_add_(1, slot, gt.double())
    false_hist.scatter_add_(1, slot, (~gt).double())
    return true_hist[:, 1:], false_hist[:, 1:]


def _pr(true_hist: torch.Tensor, false_hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pooled tp and selected counts at the thresholds in descending order, and the positives (K, K, 1)."""
    tp = true_hist.sum(0).flip(0).cumsum(0)
    selected = tp + false_hist.sum(0).flip(0).cumsum(0)
    return tp, selected, true_hist.sum()


def pxap_from_histograms(true_hist: torch.Tensor, false_hist: torch.Tensor) -> float:
    """The authors' ``MaskEvaluator.compute`` on histograms summed over images (N×K or K), on [0, 1]:
    ``Σ_k (R_k − R_k−1)·P_k`` over the thresholds in descending order, R_0 = 0, thresholds selecting no
    pixel skipped. NaN without a positive pixel in any bin."""
    tp, selected, positives = _pr(true_hist.reshape(-1, true_hist.shape[-1]),
                                  false_hist.reshape(-1, false_hist.shape[-1]))
    if float(positives) <= 0:
        return math.nan
    recall = tp / positives
    precision = torch.where(selected > 0, tp / selected.clamp_min(1), torch.zeros_like(tp))
    gain = recall - torch.cat([recall.new_zeros(1), recall[:-1]])
    return float((gain * precision).sum())


def pxap_pooled(
    scores: torch.Tensor, gt_masks: torch.Tensor, thresholds: Sequence[float] = POOLED_THRESHOLDS,
    scale: str = "raw",
) -> float:
    """The COMET authors' PxAP over a set of maps (one number): every pixel of every image in one pair of
    histograms (:func:`pooled_histograms`), then :func:`pxap_from_histograms`. ``scale``: :func:`unit_scores`."""
    true_hist, false_hist = pooled_histograms(unit_scores(scores, scale), gt_masks, thresholds)
    return pxap_from_histograms(true_hist, false_hist)


def pooled_contributions(true_hist: torch.Tensor, false_hist: torch.Tensor) -> torch.Tensor:
    """Each image's share of the pooled PxAP of its batch, times the batch size (B float64): the pooled
    sum ``Σ_k ΔR_k·P_k`` split by the recall each image adds at each threshold, so the batch mean is
    :func:`pxap_from_histograms` of the batch exactly. NaN for every image without a positive pixel in the
    batch."""
    b = true_hist.shape[0]
    tp, selected, positives = _pr(true_hist, false_hist)
    if float(positives) <= 0:
        return torch.full((b,), math.nan, dtype=torch.float64, device=true_hist.device)
    precision = torch.where(selected > 0, tp / selected.clamp_min(1), torch.zeros_like(tp))
    added = true_hist.flip(1)  # B×K: the positives each image adds at each descending threshold
    return b * (added * precision).sum(1) / positives


def iou_above(scores: torch.Tensor, gt_masks: torch.Tensor, select: float = IOU_SELECT) -> torch.Tensor:
    """Per image (B float64), the authors' IoU: ``{s > select}`` (maps on [0, 1]) against the ground truth.
    Empty ground truth → NaN."""
    if scores.ndim != 3 or gt_masks.shape != scores.shape:
        raise InvalidInputError(f"scores and ground-truth masks must both be B×H×W, got {tuple(scores.shape)} "
                                f"and {tuple(gt_masks.shape)}")
    b = scores.shape[0]
    sel = (scores.detach() > float(select)).reshape(b, -1)
    gt = gt_masks.to(scores.device).bool().reshape(b, -1)
    inter, union = (sel & gt).sum(1).double(), (sel | gt).sum(1).double()
    return torch.where(gt.any(1), inter / union.clamp_min(1), torch.full_like(inter, math.nan))


def iou_levels(step: float = IOU_LEVEL_STEP) -> torch.Tensor:
    """IoU levels 0, step, …, 1 (float64)."""
    if not 0 < float(step) <= 1:
        raise InvalidInputError(f"step must be in (0, 1], got {step}")
    n = int(round(1 / float(step)))
    return torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)


def iou_share_curve(ious: torch.Tensor, levels: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Per image and level (B×T float64): 1 where the image's IoU is ≥ the level, else 0 (NaN IoU → NaN);
    the mean over images is the authors' ``calculate_auc`` curve, the share of images at or above each
    level, and its trapezoid area over [0, 1] approaches the mean IoU as the step shrinks."""
    lv = torch.as_tensor(levels, dtype=torch.float64, device=ious.device).flatten()
    v = ious.double().view(-1, 1)
    return torch.where(torch.isnan(v), torch.full((v.shape[0], lv.numel()), math.nan, dtype=torch.float64,
                                                  device=v.device), (v >= lv).double())


def fidelity_model(explained: nn.Module, black_box: nn.Module) -> nn.Module:
    """The model the authors' fidelity test feeds the masked image: a select-then-predict model's
    ``predictor`` (COMET's f_P, without running the selector again), else the black box."""
    predictor = getattr(explained, "predictor", None)
    return predictor if isinstance(predictor, nn.Module) else black_box


def fidelity_to_predictor(
    explained: nn.Module, black_box: nn.Module, x: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor,
    fractions: Sequence[float] = FP_FRACTIONS, *, fill: Fill, batch_size: int | None = None,
) -> torch.Tensor:
    """:func:`.removal.fidelity_removal` (B×T, 0/1: still right after the top ``ceil(p·H·W)`` pixels are
    filled) with :func:`fidelity_model` as the model."""
    return fidelity_removal(fidelity_model(explained, black_box), x, labels, scores, fractions, fill=fill,
                            batch_size=batch_size)


# -- registration -------------------------------------------------------------------------------
def _pxap_pooled(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    scores = unit_scores(inputs.scores, p["scale"], inputs.selection is not None)
    true_hist, false_hist = pooled_histograms(scores, inputs.masks, p["thresholds"])
    return {"pxap_pooled": pooled_contributions(true_hist, false_hist)}


def _iou_share(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    levels = iou_levels(p["step"])
    ious = iou_above(unit_scores(inputs.scores, p["scale"], inputs.selection is not None), inputs.masks, p["select"])
    return {X_KEY: levels, "share": iou_share_curve(ious, levels.to(ious.device)), "iou": ious.view(-1, 1)
            .expand(-1, levels.numel())}


def _fidelity_fp(inputs: EvalInputs, p: dict[str, Any]) -> dict[str, torch.Tensor]:
    labels = inputs.labels.to(inputs.target.device)
    truth = torch.where(labels >= 0, labels, inputs.target)  # unknown labels: the explained class
    accuracy = fidelity_removal(
        fidelity_model(inputs.model, inputs.black_box), inputs.x, truth, inputs.scores, p["fractions"],
        fill=pick_fill(inputs, p["fill"]), batch_size=p["batch_size"], progress=inputs.progress)
    return {X_KEY: torch.tensor([float(f) for f in p["fractions"]], dtype=torch.float64), "accuracy": accuracy}


SCALE_NOTE = ("auto: the map of a method that defines a selection (its scores are a mask's: COMET's S(x)) as it "
              "is where it lies in [0, 1], every other map min-max normalised per image (torchcam's CAM "
              "normalisation, what the authors scored); raw; minmax")
SOURCE = "the COMET authors' code (github.com/Zood123/COMET, eval_module.py / evaluation_explain.py)"
register_metric(Metric(
    name="pxap_pooled", kind="scalar", needs_ground_truth=True, fn=_pxap_pooled, primary="pxap_pooled",
    description="COMET authors' PxAP: one precision-recall curve over the pixels of all images (MaskEvaluator), "
                "raw scores",
    parameters={"thresholds": POOLED_THRESHOLDS, "scale": "auto"},
    notes={
        "source": SOURCE + ": MaskEvaluator with confidence_list = [i/20 for i in 1..19] (eval_explain)",
        "scale_rule": SCALE_NOTE,
        "pooling": "one pair of histograms (ground-truth pixels, the others) over every pixel of every image of an "
                   "evaluation batch (evaluate's 50 images): the batch's pooled PxAP; the result is the image-weighted "
                   "mean over batches (exactly the test set's pooled PxAP when one batch holds every image)",
        "per_image_value": "an image's share of its batch's pooled sum, times the batch size (their mean is the "
                           "batch's PxAP; the std is not a spread of per-image APs)",
        "bins": "[t_k, t_k+1) per threshold, the last [0.95, 1]",
        "below_first_threshold": "dropped, from the ground-truth pixels too (as the authors' code does): recall "
                                 "reaches 1 at the lowest threshold",
        "formula": "sum over thresholds in descending order of (R_k - R_k-1) * P_k, R_0 = 0 (the authors start at "
                   "recall 1/10001 when the top bin holds a pixel: < 1e-4 apart); thresholds selecting nothing "
                   "skipped",
        "empty_ground_truth": "counted: its pixels are negatives; NaN only when the batch has no positive pixel",
    },
))
register_metric(Metric(
    name="iou_share_curve", kind="curve", needs_ground_truth=True, fn=_iou_share, primary="share",
    x_label="IoU level",
    description="COMET authors' IoU curve (calculate_auc): share of images whose IoU of {S > 0.9} with the ground "
                "truth is at or above each level; AUC",
    parameters={"select": IOU_SELECT, "step": IOU_LEVEL_STEP, "scale": "auto"},
    notes={
        "source": SOURCE + ": calculate_auc, IoU of mask > 0.9 for COMET (eval_explain)",
        "scale_rule": SCALE_NOTE,
        "iou": "per image, IoU of {s > select} with the ground truth; the 'iou' curve repeats it at every level "
               "(its AUC is the mean IoU)",
        "score": "share of images with IoU >= level, levels 0, step, ..., 1",
        "auc": AUC_NOTE + "; the authors use step 1/20000 (AUC = mean IoU within 3e-5); at step 0.01 each "
                          "image counts the midpoint of its 0.01 bin (within 0.005 of its IoU)",
        "select_per_method": "the authors binarise COMET at 0.9, their CAMs at 0.6 and post-hoc maskers at 0.95; "
                             "one select here for every method (override with --metric-set)",
        "empty_ground_truth": EMPTY_GT,
    },
))
register_metric(Metric(
    name="fidelity_removal_fp", kind="curve", needs_ground_truth=False, fn=_fidelity_fp, primary="accuracy",
    x_label="fraction of pixels removed (most important first)", higher_is_better=False,
    description="COMET authors' fidelity: accuracy of f_P (the black box for other methods) on the image with the "
                "map's top-p pixels removed, the selector not re-run (lower = better)",
    parameters={"fractions": FP_FRACTIONS, "fill": "dataset_mean", "batch_size": None},
    notes={
        "source": SOURCE + ": binarize_map + eval_postacc(masked image, net.predictor)",
        "model": "a select-then-predict model's predictor (COMET's f_P) on the masked image itself, without running "
                 "the selector again; the black box for every method without a predictor",
        "fractions_chosen": "COMET Table 5's 5, 10, 20 % and 0.25, 0.5, 1, 2 % (a parts disc is about 2 % of the "
                            "image: at 5 % every method removes all of it)",
        "score": "accuracy vs labels (the explained class where a label is unknown)",
        "removal": "the top ceil(p*H*W) pixels of the map, all channels, replaced by the fill (the authors: 0 in "
                   "normalised space, the mean colour); p = 0 is the image",
        "auc": AUC_NOTE,
    },
    auto={"batch_size": BATCH_SIZE_AUTO},
))
