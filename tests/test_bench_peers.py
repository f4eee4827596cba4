"""``bench --sections peers``: ours against Captum and Quantus on the same model, images and maps (never a speed)."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch

from xai_core import bench_peers
from xai_core.bench_peers import (
    METHOD_PEERS, Rounds, Stacked, Timing, alternated, fill_by_indices, nearest_stride, pearson, run_peers,
)
from xai_core.errors import MissingDataError, XAIError

pytest.importorskip("quantus")


@pytest.fixture(scope="module")
def peers():
    return run_peers(sizes=[64], preset="smoke", n=2, repeats=2, budget_s=0.0, device="cpu")


def _ratios(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "ratio":
                yield v
            else:
                yield from _ratios(v)


def test_peers_section_times_every_pair_and_is_json(peers):
    out = json.loads(json.dumps(peers))
    assert out["repeats"] == 2 and out["quantus"] == "0.6.0" and set(out["sizes"]) == {"64"}
    size = out["sizes"]["64"]
    assert size["dataset"].startswith("hard_mnist@") and size["images"] == 2 and size["model"] == "cnn_light"
    assert set(size["methods"]) == set(METHOD_PEERS) and set(size["metrics"]) == {"deletion", "mass_in_signal"}
    assert size["forward"]["limit"] == max(size["forward"]["images_per_second"].values()) > 0
    ratios = list(_ratios(out))
    assert len(ratios) == len(METHOD_PEERS) + 2
    assert all(math.isfinite(r) and r > 0 for r in ratios)
    for row in size["methods"].values():
        assert row["ours_seconds"] > 0 and row["peer_seconds"] > 0
        assert row["ratio"] == pytest.approx(row["ours_seconds"] / row["peer_seconds"])
        assert row["cpu_ratio"] == pytest.approx(row["ours_cpu_seconds"] / row["peer_cpu_seconds"])
    deletion = size["metrics"]["deletion"]  # per forward: the two sides run different numbers of them
    assert deletion["ratio"] == pytest.approx((deletion["ours_seconds"] / deletion["ours_forwards"])
                                              / (deletion["peer_seconds"] / deletion["peer_forwards"]))


def test_captum_computes_the_same_maps_as_ours(peers):
    methods = peers["sizes"]["64"]["methods"]
    for name in ("gradient", "integrated_gradients", "gradcam"):  # the same maths: identical up to float rounding
        assert methods[name]["r"] >= 0.99, name
    assert -1.0 <= methods["smoothgrad"]["r"] <= 1.0  # other noise draws: similar, not equal


def test_deletion_and_pixel_flipping_trace_the_same_curve_at_the_same_stride(peers):
    row = peers["sizes"]["64"]["metrics"]["deletion"]
    side = int(peers["sizes"]["64"]["dataset"].split("@")[1].removesuffix("px"))
    steps = side * side // row["pixels_per_step"]
    assert row["evaluations"] == steps + 1  # ours evaluates the unperturbed image too
    assert row["ours_forwards"] == 2 * (steps + 1) and row["peer_forwards"] == 2 * steps
    assert row["r"] >= 0.99 and row["max_abs_difference"] < 1e-4
    for key in ("ours_share_of_limit", "peer_share_of_limit", "ours_share_at_own_pass", "peer_share_at_own_pass"):
        assert row[key] > 0
    # the limit is the model alone on the same forwards, timed in the same rotation as the two sides
    rates = row["forward_images_per_second"]
    assert row["ours_share_of_limit"] == pytest.approx(row["ours_forwards"] / row["ours_seconds"]
                                                       / max(rates.values()))
    assert row["ours_share_at_own_pass"] >= row["ours_share_of_limit"]
    mass = peers["sizes"]["64"]["metrics"]["mass_in_signal"]
    assert mass["max_abs_difference"] < 1e-6


def test_alternated_runs_the_calls_in_turn_and_returns_their_warm_up_outputs():
    order = []
    calls = [lambda k=k: order.append(k) or k for k in "abc"]
    times, outputs = alternated(calls, Rounds(least=2, budget_s=0.0), torch.device("cpu"))
    assert outputs == ["a", "b", "c"] and order == list("abc" * 3)  # one warm-up each, then two rounds
    assert [len(t) for t in times] == [2, 2, 2] and all(w >= 0 and c >= 0 for t in times for w, c in t)
    order.clear()
    times, _ = alternated(calls, Rounds(least=1, budget_s=60.0, most=4), torch.device("cpu"))
    assert [len(t) for t in times] == [4, 4, 4]  # cheap calls: more rounds, up to the most


def test_timing_reports_the_median_and_the_spread_of_the_round_by_round_ratio():
    t = Timing.of([(1.0, 0.5), (2.0, 1.0), (3.0, 1.5), (4.0, 2.0)], [(1.0, 1.0)] * 4)
    assert (t.ours, t.peer, t.ours_cpu, t.rounds) == (2.5, 1.0, 1.25, 4)
    fields = t.fields(ours_work=2.0, peer_work=1.0)  # per unit of work: ours did twice as much
    assert fields["ratio"] == pytest.approx(1.25) and fields["cpu_ratio"] == pytest.approx(0.625)
    q1, q3 = fields["ratio_quartiles"]
    assert q1 < fields["ratio"] < q3


def test_nearest_stride_divides_the_pixels_nearest_51_evaluations():
    assert nearest_stride(224 * 224) == 1024  # 49 steps: 50 evaluations
    assert nearest_stride(64 * 64) == 64  # 64 steps (32 is farther from 50)
    assert nearest_stride(101) == 101 and nearest_stride(100) == 2


def test_fill_by_indices_replaces_each_feature_by_its_own_fill():
    arr = np.arange(12, dtype=np.float32).reshape(2, 6)
    fill = np.array([-1, -2, -3, -4, -5, -6], dtype=np.float32)
    out = fill_by_indices(arr, np.array([[0, 5], [2, 3]]), fill, perturb_baseline="black")
    assert out.tolist() == [[-1, 1, 2, 3, 4, -6], [6, 7, -3, -4, 10, 11]]
    assert arr[0, 0] == 0  # the input is not changed


def test_stacked_model_sees_the_original_images(tiny_net):
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    stacked = Stacked(tiny_net, 3)
    assert torch.equal(stacked(x.reshape(3, 1, 24, 8)), tiny_net(x))


def test_pearson_is_the_median_over_images():
    a = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    b = torch.tensor([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    assert pearson(a, b) == pytest.approx(1.0)  # rows: 1, -1, 1 (constant and equal)
    assert pearson(a[:2], b[:2]) == pytest.approx(0.0)


def test_a_missing_weight_skips_its_size_and_bad_input_is_one_line(monkeypatch):
    def missing(*args, **kwargs):
        raise MissingDataError("efficientnet_lite0 weights are not installed")

    monkeypatch.setattr(bench_peers.services, "load_context", missing)
    out = run_peers(sizes=[224], n=1, repeats=1, device="cpu")
    assert out["sizes"] == {"224": {"skipped": "efficientnet_lite0 weights are not installed"}}
    with pytest.raises(XAIError, match="unknown peers size"):
        run_peers(sizes=[100])
    monkeypatch.setitem(sys.modules, "quantus", None)
    with pytest.raises(XAIError, match="needs Quantus"):
        run_peers(sizes=[64])


def test_bench_cli_takes_the_peers_options():
    from xai_core.bench import DEFAULT_SECTIONS, SECTIONS
    from xai_core.cli import build_parser

    args = build_parser().parse_args(["bench", "--sections", "peers", "--sizes", "64,224", "--repeats", "7",
                                      "--json", "out.json"])
    assert args.sizes == [64, 224] and args.repeats == 7 and args.n is None and args.sections == ["peers"]
    assert "peers" in SECTIONS and "peers" not in DEFAULT_SECTIONS
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--sizes", "big", "--json", "out.json"])
