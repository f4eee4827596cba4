"""How much class information the *positions* of each method's top-n_e units carry (the EPITE leak
the a1a2 protocol's generators can exploit): a logistic regression from the binary unit-selection
pattern (units² values) of the training images to the black box's top-1, scored on the test images.
Chance is about 1/classes; a high score means a generator can read the class from where the units
are, without their content.

    .venv/bin/python scripts/unit_position_leak.py --dataset mnist --methods lime,dorar,gradient,smoothgrad --n-e 4

Uses the training-image unit scores a1a2 caches (computed here when missing)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo's xai_core
from xai_core import services, units  # noqa: E402
from xai_core.services.reconstruction import GeneratorFitter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--methods", default="dorar,gradient,smoothgrad")
    ap.add_argument("--n-e", type=int, default=4)
    ap.add_argument("--n", type=int, default=1000, help="test images")
    args = ap.parse_args()
    ctx = services.load_context(args.dataset, args.preset)
    size = units.default_size(ctx.info.image_size)
    test = ctx.test.batch(list(range(min(args.n, len(ctx.test)))))
    out = {}
    for name in args.methods.split(","):
        fitter = GeneratorFitter(ctx, ctx.explainer(name))
        n = min(len(fitter.train), fitter.defaults()["train_images"] or len(fitter.train))
        train = fitter.train.batch(list(range(n)))
        chosen = units.top_units(fitter.unit_scores(size, n), args.n_e).flatten(1).float()
        scores = ctx.explainer(name).explain(test.x, test.y).scores
        chosen_test = units.top_units(units.pool(scores, size), args.n_e).flatten(1).float()
        with torch.no_grad():
            y_train = torch.cat([ctx.black_box(train.x[i:i + 500]).argmax(1) for i in range(0, n, 500)])
            y_test = ctx.black_box(test.x).argmax(1)
        clf = LogisticRegression(max_iter=2000).fit(chosen.numpy(), y_train.numpy())
        out[name] = float((clf.predict(chosen_test.numpy()) == y_test.numpy()).mean())
    print(json.dumps({"dataset": args.dataset, "preset": args.preset, "n_e": args.n_e, "units": size,
                      "accuracy_from_positions": out}, indent=2))


if __name__ == "__main__":
    main()
