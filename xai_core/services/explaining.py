"""Explaining for display: test samples or uploads with several methods, the sample picker's
filters, the black box's top classes, and explanations as plain arrays for the dashboard's caches."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..data.base import Batch, DatasetInfo
from ..errors import XAIError
from ..methods import Explanation
from ..models import predict
from ..progress import Progress, no_progress, prefixed
from .catalog import check_methods
from .context import Configs, Context, targets_for

OUTCOMES = ("all", "correct", "misclassified")


def explain_indices(
    ctx: Context, methods: list[str], indices: list[int], progress: Progress = no_progress,
    configs: Configs | None = None, targets: torch.Tensor | None = None, split: str | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain samples ``indices`` of ``split`` (None: the test split) with each method: (batch,
    {method: explanation}); ``targets`` (B class indices) replace the labels as the classes explained."""
    return explain_batch(ctx, methods, evaluation_split(ctx, split).batch(indices), progress, configs, targets)


def explain_images(
    ctx: Context, methods: list[str], images: torch.Tensor, progress: Progress = no_progress,
    configs: Configs | None = None, targets: torch.Tensor | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain user images (B×C×H×W in [0, 1], e.g. from :func:`xai_core.uploads.load_upload`);
    without labels, each image's target is the model's own top-1 unless ``targets`` name classes."""
    n = len(images)
    batch = Batch(images, torch.full((n,), -1, dtype=torch.long), None, torch.arange(n))
    return explain_batch(ctx, methods, batch, progress, configs, targets)


def explain_batch(
    ctx: Context, methods: list[str], batch: Batch, progress: Progress = no_progress,
    configs: Configs | None = None, targets: torch.Tensor | None = None,
) -> tuple[Batch, dict[str, Explanation]]:
    """Explain one batch with each method (``configs[method]`` overrides its settings), targets =
    ``targets`` (B class indices) if given, else the labels (model top-1 where unknown)."""
    check_methods(methods, ctx.info if batch.masks is not None else without_ground_truth(ctx.info))
    batch = batch.to(ctx.device)
    if targets is None:
        target = targets_for(ctx.black_box, batch.x, batch.y)
    else:
        target = torch.as_tensor(targets, dtype=torch.long).flatten().to(ctx.device)
        n_classes = len(ctx.info.class_names)
        if len(target) != len(batch.x) or bool(((target < 0) | (target >= n_classes)).any()):
            raise XAIError(f"targets must be {len(batch.x)} class indices in [0, {n_classes}), "
                           f"not {target.tolist()}")
    out = {}
    for i, name in enumerate(methods):
        progress(i, len(methods), f"explaining with {name}")
        stage = prefixed(progress, f"{name}: ")  # training or per-image optimisation stages
        explainer = ctx.explainer(name, stage, **dict((configs or {}).get(name, {})))
        out[name] = explainer.explain(batch.x, target, batch.masks, progress=stage)
    progress(len(methods), len(methods), "done")
    return batch, out


def without_ground_truth(info: DatasetInfo) -> DatasetInfo:
    """``info`` as seen by an image without a mask (an upload): methods needing masks are out."""
    return dataclasses.replace(info, has_ground_truth=False)


def predicted_labels(ctx: Context, split: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, black-box top-1) for every image of ``split`` (None: the test split): what the
    sample picker filters on."""
    labels, preds = [], []
    for b in evaluation_split(ctx, split).loader(batch_size=256):
        labels.append(b.y)
        preds.append(predict(ctx.black_box, b.x.to(ctx.device)).argmax(1).cpu())
    return torch.cat(labels), torch.cat(preds)


def evaluation_splits(info: DatasetInfo) -> list[str]:
    """The splits a sample can be explained from: every split but "train" (the test split first)."""
    rest = [s for s in info.splits if s not in ("train", "test")]
    return (["test"] if "test" in info.splits else []) + rest


def evaluation_split(ctx: Context, split: str | None = None):
    """The dataset of ``split`` (None: the test split); an error naming the choices otherwise."""
    if split is None or split == "test":
        return ctx.test
    data = ctx.split(split) if split != "train" else None
    if data is None:
        raise XAIError(f"unknown split {split!r} for {ctx.info.name}; choose from: "
                       f"{', '.join(evaluation_splits(ctx.info))}")
    return data


def class_choices(ctx: Context, x: torch.Tensor, label: int = -1) -> list[tuple[int, str]]:
    """The classes one image (C×H×W) can be explained for, as (class index, text with the black box's
    probability): its prediction first, then the label (when known and different), then the others."""
    probs = predict(ctx.black_box, x[None].to(ctx.device)).softmax(1)[0].cpu()
    names = ctx.info.class_names
    pred = int(probs.argmax())
    order = [pred] + ([label] if 0 <= label != pred else [])
    order += [k for k in range(len(probs)) if k not in order]

    def text(k: int) -> str:
        tags = [t for t, hit in (("prediction", k == pred), ("label", k == label)) if hit]
        name = names[k] if k < len(names) else str(k)
        return f"{name} ({float(probs[k]):.1%})" + (f" · {' = '.join(tags)}" if tags else "")

    return [(k, text(k)) for k in order]


def sample_indices(labels: torch.Tensor, predictions: torch.Tensor, label: int | None = None,
                   outcome: str = "all") -> list[int]:
    """Test indices whose label is ``label`` (None: any) and whose prediction is ``outcome``."""
    if outcome not in OUTCOMES:
        raise XAIError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    keep = torch.ones_like(labels, dtype=torch.bool) if label is None else labels == label
    if outcome != "all":
        keep &= (predictions == labels) == (outcome == "correct")
    return keep.nonzero().flatten().tolist()


def top_k(ctx: Context, x: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
    """The black box's ``k`` most probable classes for one image (C×H×W): (name, probability)."""
    probs = predict(ctx.black_box, x[None].to(ctx.device)).softmax(1)[0].cpu()
    top = probs.topk(min(k, len(probs)))
    return [(ctx.info.class_names[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def first_as_arrays(explanation: Explanation, class_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """The first image's scores, selection and extras as numpy arrays (for the dashboard's caches,
    which pickle their values). Image-shaped extras stay arrays; class-probability extras
    (``*_probs``, B×K) become a "class (p)" line under ``predictions``."""
    images, predictions = {}, {}
    for key, value in explanation.extras.items():
        first = value[0].detach().cpu().float()
        if first.ndim >= 2:
            images[key] = first.numpy()
        elif key.endswith("_probs") and first.ndim == 1:
            p, k = first.max(0)
            name = class_names[int(k)] if int(k) < len(class_names) else str(int(k))
            predictions[key.removesuffix("_probs")] = f"{name} ({float(p):.1%})"
    selection = explanation.selection
    return {
        "scores": explanation.scores[0].cpu().numpy(),
        "selection": None if selection is None else selection[0].cpu().numpy(),
        "extras": images,
        "predictions": predictions,
        "settings": explanation.settings,
    }


#: the gallery's grid sizes (rows = columns)
GALLERY_SIZES = (3, 4, 5)
GALLERY_TARGETS = ("prediction", "label")


def gallery_indices(options: list[int], count: int, seed: int = 0) -> list[int]:
    """``count`` of ``options`` (fewer if there are not as many) for the gallery: the first ones in
    order for ``seed`` 0, otherwise a random draw seeded by ``seed`` (the same seed, the same draw),
    sorted."""
    if count < 1:
        raise XAIError(f"a gallery needs at least one sample, not {count}")
    if seed == 0 or len(options) <= count:
        return list(options[:count])
    picked = torch.randperm(len(options), generator=torch.Generator().manual_seed(int(seed)))[:count]
    return sorted(options[int(i)] for i in picked)


def explain_gallery(ctx: Context, method: str, indices: list[int], progress: Progress = no_progress,
                    split: str | None = None, target: str = "prediction",
                    configs: Configs | None = None) -> dict[str, Any]:
    """One method on samples ``indices`` of ``split`` in one batch, each explained for the black
    box's prediction (``target="prediction"``) or its label (``"label"``): numpy arrays ``images``
    (N×H×W×C in [0, 1]), ``scores`` (N×H×W), ``masks`` (N×H×W bool, or None), ``labels`` and
    ``predictions`` (N class indices), for the dashboard's caches."""
    if target not in GALLERY_TARGETS:
        raise XAIError(f"target must be one of {GALLERY_TARGETS}, not {target!r}")
    batch = evaluation_split(ctx, split).batch(indices)
    predictions = predict(ctx.black_box, batch.x.to(ctx.device)).argmax(1).cpu()
    targets = predictions if target == "prediction" else None
    batch, out = explain_batch(ctx, [method], batch, progress, configs, targets)
    return {
        "images": batch.x.permute(0, 2, 3, 1).cpu().numpy(),
        "scores": out[method].scores.detach().cpu().float().numpy(),
        "masks": None if batch.masks is None else batch.masks.cpu().numpy(),
        "labels": batch.y.cpu().numpy(),
        "predictions": predictions.numpy(),
    }
