"""Draw docs/charts/cost_growth.png from a ``bench --sections growth`` JSON: evaluation seconds against
images (with the fitted line), against shard size, and per image against the image side (beside the
growth in pixels).

Usage: .venv/bin/python scripts/plot_growth.py [--bench results/bench_growth_cpu.json]
       [--out docs/charts/cost_growth.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def plot(growth: dict, out: Path) -> None:
    images, shards, sides = growth["against_images"], growth["against_shards"], growth["against_sides"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    for key, label in (("cpu_seconds", "CPU s"), ("seconds", "wall s")):
        fit = images[f"{key}_fit"]
        points = ax.plot(images["images"], images[key], "o", label=label)[0]
        xs = [0, max(images["images"])]
        ax.plot(xs, [fit["intercept"] + fit["slope"] * x for x in xs], "-", alpha=0.5, color=points.get_color(),
                label=f"{fit['intercept']:.1f} s + {1000 * fit['slope']:.0f} ms/image (r² {fit['r2']:.3f})")
    ax.set(xlabel="test images", ylabel="seconds", title="against images")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(shards["shard_sizes"], shards["cpu_seconds"], "o-", label="CPU s")
    ax.plot(shards["shard_sizes"], shards["seconds"], "o-", label="wall s")
    ax.set(xlabel="images per shard", ylabel="seconds", title=f"{shards['images']} images, by shard size",
           ylim=(0, None))
    ax.legend(fontsize=7)
    ax = axes[2]
    for key, label in (("cpu_seconds", "CPU s per image"), ("seconds", "wall s per image")):
        base = sides[f"{key}_per_image"][0]
        ax.plot(sides["sides"], [s / base for s in sides[f"{key}_per_image"]], "o-", label=label)
    ax.plot(sides["sides"], [(s / sides["base_side"]) ** 2 for s in sides["sides"]], "--", color="grey",
            label="pixels")
    ax.set(xlabel="image side (px)", ylabel=f"× the cost at {sides['base_side']} px", title="against image side")
    ax.legend(fontsize=7)
    fig.suptitle(f"{growth['method']} scored by {growth['metric']}, {growth['dataset']} ({growth['model']}, "
                 f"{growth['preset']}), {growth['device']}", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=str(ROOT / "results" / "bench_growth_cpu.json"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "charts" / "cost_growth.png"))
    args = parser.parse_args()
    report = json.loads(Path(args.bench).read_text(encoding="utf-8"))
    plot(report.get("growth", report), Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
