"""The best IoU a DiET mask of u×u-pixel cells can reach: the ground truth pooled to the cells (each
cell's share of signal pixels) and upsampled as DiET upsamples its masks (bilinear; nearest beside it),
scored with the ``iou`` metric (top-n pixels, n = |ground truth|) against the ground truth itself.
No model and no fit: a ceiling of the mask resolution alone (issue 26, item 5: the paper's best u = 8 of
224 px gives 28×28 cells; at 64 px that is u ≈ 2, not the old preset's u = 4).

    .venv/bin/python scripts/diet_cell_ceiling.py --preset quick --u 1,2,4,8 --n 200 \
        --json results/diet_cell_ceiling_quick.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo's xai_core
from xai_core.data import get_dataset  # noqa: E402
from xai_core.methods.diet import upsample  # noqa: E402
from xai_core.metrics.localisation import iou  # noqa: E402
from xai_core.metrics.results import bootstrap_ci95  # noqa: E402


def ceiling(masks: torch.Tensor, u: int, mode: str) -> torch.Tensor:
    """Per-image IoU of the ground truth pooled to u×u cells and upsampled (``mode``) with the ground truth."""
    gt = masks.float()[:, None]
    size = tuple(gt.shape[-2:])
    cells = F.avg_pool2d(gt, u, ceil_mode=True) if u > 1 else gt
    return iou(upsample(cells, size, mode)[:, 0], masks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="hard_mnist")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--u", default="1,2,4,8", help="cell sides in pixels")
    ap.add_argument("--n", type=int, default=200, help="the first n test images")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    test = get_dataset(args.dataset, "test", args.preset)
    batch = test.batch(list(range(min(args.n, len(test)))))
    size = int(batch.masks.shape[-1])
    out = {"dataset": args.dataset, "preset": args.preset, "image_size": size, "n": len(batch.masks),
           "signal_share": float(batch.masks.float().mean()),
           "rule": "ground truth average-pooled to u×u cells, upsampled to the image (DiET's bilinear; nearest "
                   "beside), iou metric against the ground truth; ci95: bootstrap over images (2000, seed 0)",
           "ceilings": {}}
    for u in (int(v) for v in args.u.split(",")):
        row = {"cells": f"{-(-size // u)}×{-(-size // u)}"}
        for mode in ("bilinear", "nearest"):
            values = ceiling(batch.masks, u, mode)
            row[mode] = float(values.nanmean())
            row[f"{mode}_ci95"] = list(bootstrap_ci95(values))
        out["ceilings"][str(u)] = row
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
