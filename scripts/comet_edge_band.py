"""Where COMET's pooled PxAP is lost on ``parts``: PxAP (pooled over the images as the authors' MaskEvaluator,
and per image) of COMET and Grad-CAM with and without a band of r pixels around the disc's edge left out of
the scoring, and where each map's high-scoring background pixels (≥ half the image's maximum) lie.

Usage: .venv/bin/python scripts/comet_edge_band.py [--n 200] [--preset quick]
       [--json results/comet_edge_band_quick.json]
(uses the cached COMET fit of that preset, with its chosen t; trains it first when there is none).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xai_core import services  # noqa: E402
from xai_core.services.context import TOP1  # noqa: E402

BANDS = (0, 1, 2, 3, 4)


def dilate(masks: torch.Tensor, r: int) -> torch.Tensor:
    """Each mask grown by ``r`` pixels (a square neighbourhood)."""
    return F.max_pool2d(masks.float()[:, None], 2 * r + 1, 1, r)[:, 0] > 0 if r else masks


def _ap(masks: torch.Tensor, scores: torch.Tensor) -> float:
    return float(average_precision_score(masks.numpy(), scores.numpy()))


def edge_band(scores: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """PxAP without the band of each width in :data:`BANDS` around the object, and where the high background is."""
    row: dict[str, float] = {}
    for r in BANDS:
        keep = ~(dilate(masks, r) & ~masks)
        row[f"pooled_pxap_without_{r}px_band"] = _ap(masks[keep], scores[keep])
        row[f"per_image_pxap_without_{r}px_band"] = float(np.mean([_ap(masks[i][keep[i]], scores[i][keep[i]])
                                                                   for i in range(len(masks))]))
    high = (scores >= 0.5 * scores.flatten(1).max(1).values[:, None, None]) & ~masks
    for r in BANDS[1:]:
        row[f"share_of_high_background_within_{r}px"] = float((high & dilate(masks, r)).sum() / high.sum().clamp_min(1))
    row["high_background_pixels_per_image"] = float(high.float().sum() / len(masks))
    row["object_pixels_per_image"] = float(masks.float().sum() / len(masks))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--json", default=str(ROOT / "results" / "comet_edge_band_quick.json"))
    args = parser.parse_args()
    ctx = services.load_context("parts", args.preset, device="cpu", seed=0)
    batch = ctx.test.batch(list(range(min(args.n, len(ctx.test)))))
    masks = batch.masks.bool()
    target = services.targets_for(ctx.black_box, batch.x, batch.y, target=TOP1)
    out: dict[str, object] = {"dataset": "parts", "preset": args.preset, "images": len(masks)}
    for method in ("comet", "gradcam"):
        explainer = services.build_explainer(ctx, method)
        scores = explainer.explain(batch.x, target, batch.masks).scores.detach().float()
        out[method] = edge_band(scores, masks)
        if method == "comet":
            out["comet_t"] = explainer.settings().get("t")
        print(method, json.dumps(out[method], indent=1), flush=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
