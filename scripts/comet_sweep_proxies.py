"""What COMET's t sweep compared: each candidate t's proxy selector S(x) on held-out training images (its
mean, spread, largest value and share above 0.5) beside the ground truth's share of the pixels. A flat
selector scores that share as its validation PxAP, so equal scores mean flat proxies, not equal budgets.
Fits each proxy the sweep has not cached yet (the sweep's own settings).

    .venv/bin/python scripts/comet_sweep_proxies.py --dataset hard_mnist --preset quick
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xai_core import services  # noqa: E402
from xai_core.data import get_dataset  # noqa: E402
from xai_core.methods.comet import sweep_sizes, t_candidates  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="hard_mnist")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n", type=int, default=200, help="held-out training images looked at")
    args = parser.parse_args()
    ctx = services.load_context(args.dataset, args.preset, device="cpu")
    comet = services.build_explainer(ctx, "comet", prepare=False)
    train = get_dataset(args.dataset, "train", args.preset, store=ctx.store)
    c = comet.config
    n_proxy, n_val = sweep_sizes(c, len(train))
    held_out = train.batch(list(range(len(train) - min(args.n, n_val), len(train))))
    print(f"{args.dataset} ({args.preset}): ground truth share of the pixels {held_out.masks.float().mean():.4f}")
    for t in t_candidates(c):  # the sweep's proxies: each a cached fit of its own
        proxy = type(comet)(comet.model, comet.info, preset=comet.preset, device=comet.device, seed=comet.seed,
                            **{**c.as_dict(), "t": t, "epochs": c.t_sweep_epochs, "train_images": n_proxy,
                               "randomize_labels": False})
        proxy.prepare(train, ctx.store)
        with torch.no_grad():
            s = proxy.trained("selector")(held_out.x)[:, 0]
        print(f"t = {t:g}: S(x) mean {s.mean():.4f}, std {s.std():.4f}, max {s.max():.4f}, "
              f"share above 0.5 {(s > 0.5).float().mean():.4f}")


if __name__ == "__main__":
    main()
