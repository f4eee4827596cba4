"""Write explanations to disk (the CLI's ``explain``): PNGs a person can look at, raw scores for
programs, and a JSON manifest naming the settings behind every file. The same three as bytes for
the dashboard's downloads: :func:`grid_png`, :func:`scores_npz`, :func:`settings_json`."""
from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

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


#: :func:`grid_png`'s cell side in pixels (small maps are upscaled, nearest, to it) and caption strip height.
GRID_CELL = 192
GRID_GAP = 6  # white between cells
_CAPTION = 16


def grid_png(panels: Sequence[tuple[str, np.ndarray]], columns: int = 4, cell: int = GRID_CELL, *,
             header: Sequence[str] = (), footer: tuple[str, np.ndarray] | None = None) -> bytes:
    """A PNG of ``panels`` (caption, H×W×3 or H×W uint8 image; e.g. the image and every method's
    heatmap as shown) in rows of at most ``columns`` cells, each upscaled (nearest) to ``cell`` pixels
    wide, its caption beneath (wrapped; a ``\\n`` starts a line), on white (:data:`GRID_GAP` pixels between cells).
    ``header``: lines above the grid (what was explained: dataset, class, prediction); ``footer``: a
    captioned image below it (the colour bar), so the file stands on its own."""
    if not panels:
        raise ValueError("grid_png needs at least one panel")
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    tiles = []
    for caption, array in panels:
        img = Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")
        wrapped = [line for part in str(caption).split("\n") for line in textwrap.wrap(part, cell // 6) or [""]]
        tiles.append((wrapped,
                      img.resize((cell, max(1, round(cell * img.height / img.width))), Image.NEAREST)))
    lines = max(len(caption) for caption, _ in tiles)
    height = max(t.height for _, t in tiles) + lines * _CAPTION + GRID_GAP
    width = columns * (cell + GRID_GAP) - GRID_GAP
    top = len(header) * _CAPTION + (GRID_GAP if header else 0)
    bar = None
    if footer is not None:
        bar = Image.fromarray(np.asarray(footer[1], dtype=np.uint8)).convert("RGB")
        if bar.width > width:
            bar = bar.resize((width, max(1, round(width * bar.height / bar.width))), Image.BILINEAR)
    bottom = 0 if bar is None else GRID_GAP + bar.height + _CAPTION
    sheet = Image.new("RGB", (width, top + rows * height - GRID_GAP + bottom), "white")
    draw = ImageDraw.Draw(sheet)
    for k, line in enumerate(header):
        draw.text((2, k * _CAPTION + 2), line[: width // 6], fill="black")  # the default font: ~6 px a glyph
    for i, (caption, tile) in enumerate(tiles):
        x, y = (i % columns) * (cell + GRID_GAP), top + (i // columns) * height
        sheet.paste(tile, (x, y))
        for k, line in enumerate(caption):
            draw.text((x + 2, y + tile.height + 2 + k * _CAPTION), line, fill="black")
    if bar is not None:
        y = top + rows * height - GRID_GAP + GRID_GAP
        sheet.paste(bar, (0, y))
        draw.text((2, y + bar.height + 2), footer[0][: width // 6], fill="black")
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def scores_npz(scores: Mapping[str, np.ndarray]) -> bytes:
    """A compressed NPZ of ``scores``: one array per method, under the method's name, as computed."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{name: np.asarray(a) for name, a in scores.items()})
    return buf.getvalue()


def jsonable(value: Any) -> Any:
    """``value`` with arrays and scalars (numpy, torch), tuples and sets made JSON types (anything else unknown: its str)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "tolist"):  # numpy (and torch) arrays and scalars
        return jsonable(value.tolist())
    return str(value)


def settings_json(*, dataset: str, preset: str, model: Any, source: Mapping[str, Any], target: Mapping[str, Any],
                  methods: Mapping[str, Mapping[str, Any]], display: Mapping[str, Any] | None = None) -> bytes:
    """What produced a set of maps, as indented UTF-8 JSON: ``dataset``, ``preset``, ``model`` (a
    description or a dict), ``source`` (the sample: ``{"split", "index", "label"}``, or the upload:
    ``{"upload": name}``), ``target`` (the class explained: ``{"index", "name", ...}``), ``methods``
    (per method a dict: its settings as the explainer reports them, the class it explains) and ``display`` (colour scale, sign,
    clip)."""
    doc = {"dataset": dataset, "preset": preset, "model": model, "source": dict(source), "target": dict(target),
           "methods": {name: dict(entry) for name, entry in methods.items()}, "display": dict(display or {})}
    return json.dumps(jsonable(doc), indent=2, ensure_ascii=False).encode()
