"""Progress of work made of stages: the whole never goes backwards."""
from __future__ import annotations

from xai_core import services
from xai_core.progress import within
from xai_core.store import ArtifactStore


def test_within_maps_a_part_into_its_share_and_stays_below_the_next():
    heard = []
    part = within(lambda done, total, message="", **m: heard.append((done, total, message, m)), 2, 4, "fit: ")
    part(0, 10, "start")
    part(5, 10, "half", eta_s=3.0)
    part(10, 10, "end")
    assert heard == [(2.0, 4, "fit: start", {}), (2.5, 4, "fit: half", {"eta_s": 3.0}), (2.999, 4, "fit: end", {})]


def test_evaluation_progress_never_goes_backwards_while_a_method_trains(tmp_path):
    ctx = services.load_context("hard_mnist", "smoke", device="cpu", store=ArtifactStore(tmp_path))
    heard = []
    services.evaluate(ctx, ["diet", "gradient"], ["iou"], 4, batch_size=2,
                      progress=lambda done, total, message="", **m: heard.append((done / total, message)))
    fractions = [f for f, _ in heard]
    assert any("epoch" in message or "round" in message for _, message in heard)  # DiET's fit was heard
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert max(f for f, message in heard if "round" in message or "epoch" in message) < 0.25  # its first shard's share
