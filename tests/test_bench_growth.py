"""``bench --sections growth``: evaluation cost against images, shard size and image side (never a speed)."""
from __future__ import annotations

import json

import pytest

from xai_core.bench_growth import line, run_growth


def test_line_recovers_intercept_and_slope():
    fit = line([8, 32, 128], [1.0 + 0.5 * n for n in (8, 32, 128)])
    assert fit["intercept"] == pytest.approx(1.0) and fit["slope"] == pytest.approx(0.5)
    assert fit["r2"] == pytest.approx(1)
    assert line([1, 2, 3], [2.0, 2.0, 2.0])["r2"] == 1.0  # flat: no variance to explain


def test_growth_times_each_count_shard_size_and_side_and_is_json():
    out = json.loads(json.dumps(run_growth(preset="smoke", device="cpu", counts=(2, 4, 10**6), shards=(2, 4),
                                           sides=(32, 48))))
    assert out["dataset"].startswith("hard_mnist@") and out["method"] == "gradient"
    images = out["against_images"]
    assert images["images"] == [2, 4]  # more images than the test split has: left out, not an error
    for key in ("seconds", "cpu_seconds"):
        assert all(s > 0 for s in images[key]) and len(images[key]) == 2
        assert images[f"{key}_fit"]["slope"] == pytest.approx((images[key][1] - images[key][0]) / 2)
    shards = out["against_shards"]
    assert shards["images"] == 4 and shards["shard_sizes"] == [2, 4] and all(s > 0 for s in shards["cpu_seconds"])
    sides = out["against_sides"]
    assert sides["sides"] == [32, 48] and sides["base_side"] == 32
    per_base = sides["cpu_seconds_per_image_per_base_pixels"]
    assert per_base[0] == pytest.approx(sides["cpu_seconds_per_image"][0])
    assert per_base[1] == pytest.approx(sides["cpu_seconds_per_image"][1] * (32 / 48) ** 2)
