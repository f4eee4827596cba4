"""Per-epoch training histories of the trained methods, for checking that a trainer change keeps
their numbers: run it on two versions of the code and compare the JSON files exactly.

    python scripts/trained_losses.py OUT.json [--runs all|quick] [--store DIR]

``short`` runs (the default) fit each method at the ``quick`` preset on the shipped ``hard_mnist``
black box with fewer images and epochs (minutes on 2 CPU cores); ``quick`` runs the full quick fits
of DoRaR and COMET (hard_mnist) as well. Values are written with Python's ``repr`` precision.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xai_core import services  # noqa: E402
from xai_core.data import get_dataset  # noqa: E402
from xai_core.store import ArtifactStore  # noqa: E402

#: (method, config overrides): the quick preset's step code on fewer images and epochs
SHORT = [
    ("diet", {"train_images": 96, "rounds": 2, "mask_epochs": 2, "model_epochs": 2}),
    ("dorar", {"train_images": 200, "noise_images": 200, "epochs": 2}),
    ("comet", {"train_images": 192, "epochs": 2}),
    ("comet", {"train_images": 192, "epochs": 2, "loss": "hinge"}),
    ("comet_td", {"train_images": 192, "epochs": 2}),
    ("meed", {"train_images": 256, "epochs": 2}),
    ("meed", {"train_images": 256, "epochs": 2, "ail": False, "prior": False}),
    ("l2x", {"train_images": 256, "epochs": 2}),
]
QUICK = [("dorar", {}), ("comet", {})]


def histories(runs: list[tuple[str, dict]], store: ArtifactStore) -> list[dict]:
    ctx = services.load_context("hard_mnist", "quick", store=store)
    out = []
    for method, config in runs:
        explainer = services.build_explainer(ctx, method, prepare=False, **config)
        payload = store.load(explainer.name, explainer.cache_spec())
        if payload is None:
            explainer.prepare(get_dataset("hard_mnist", "train", "quick", store=store), store)
            payload = store.load(explainer.name, explainer.cache_spec())
        out.append({"method": method, "config": config, "history": payload["history"]})
        print(method, config, payload["history"][-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", choices=("short", "quick"), default="short")
    parser.add_argument("--store", type=Path, help="artifact folder for the fits (default: a fresh temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(args.store or Path(tmp))
        runs = SHORT if args.runs == "short" else SHORT + QUICK
        args.out.write_text(json.dumps(histories(runs, store), indent=1) + "\n")


if __name__ == "__main__":
    main()
