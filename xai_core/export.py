"""Write explanations to disk (the CLI's ``explain``): PNGs a person can look at, raw scores for
programs, and a JSON manifest naming the settings behind every file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import viz
from .data.base import Batch
from .methods import METHODS, Explanation
from .models import predict


def _png(path: Path, array: np.ndarray) -> Path:
    img = Image.fromarray(array)
    scale = max(1, 224 // max(array.shape[:2]))  # small images are upscaled (nearest) to stay visible
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)
    return path


def save_explanations(out: Path, ctx: Any, batch: Batch, explanations: dict[str, Explanation]) -> list[Path]:
    """Write image, ground truth and, per method, heatmap/overlay/selection PNGs, ``scores.npz``
    and ``explanation.json`` for each image of ``batch`` (files prefixed by the sample index)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    probs = predict(ctx.black_box, batch.x).softmax(1).cpu()
    manifest: list[dict[str, Any]] = []
    for row, index in enumerate(batch.indices.tolist()):
        stem = f"{index:05d}"
        image = viz.to_uint8(batch.x[row].cpu())
        written.append(_png(out / f"{stem}_image.png", image))
        if batch.masks is not None:
            written.append(_png(out / f"{stem}_ground_truth.png", viz.contour_overlay(image, batch.masks[row].cpu())))
        arrays = {}
        for name, expl in explanations.items():
            scores = expl.scores[row : row + 1].cpu()
            sign = "all" if METHODS.get(name).caps.signed else "absolute"
            heat, _ = viz.render_heatmaps(scores, sign=sign)
            written.append(_png(out / f"{stem}_{name}_heatmap.png", heat[0]))
            written.append(_png(out / f"{stem}_{name}_overlay.png", viz.overlay(image, heat[0])))
            if expl.selection is not None:
                sel = (expl.selection[row].cpu().numpy() * 255).astype(np.uint8)
                written.append(_png(out / f"{stem}_{name}_selection.png", sel))
            arrays[name] = scores[0].numpy()
        np.savez_compressed(out / f"{stem}_scores.npz", **arrays)
        written.append(out / f"{stem}_scores.npz")
        p = probs[row]
        manifest.append(
            {
                "index": index,
                "label": int(batch.y[row]),
                "label_name": _class_name(ctx.info, int(batch.y[row])),
                "prediction": int(p.argmax()),
                "prediction_name": _class_name(ctx.info, int(p.argmax())),
                "probability": float(p.max()),
                "methods": {n: e.settings for n, e in explanations.items()},
            }
        )
    (out / "explanation.json").write_text(
        json.dumps({"dataset": ctx.dataset, "preset": ctx.preset, "samples": manifest}, indent=2, default=str)
    )
    written.append(out / "explanation.json")
    return written


def _class_name(info: Any, label: int) -> str:
    return info.class_names[label] if 0 <= label < len(info.class_names) else "unknown"
