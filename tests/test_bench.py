"""The per-instance benchmark: seconds per 224-px image for IBA and InputIBA, per preset and batch size."""
from __future__ import annotations

from xai_core.bench import _per_instance


def test_per_instance_timings_cover_each_method_preset_and_batch():
    stages = []
    out = _per_instance(["smoke"], [1, 2], "cpu", 0, lambda d, t, m="", **kw: stages.append(m))
    assert set(out) == {"iba@smoke", "input_iba@smoke"}
    for timings in out.values():
        assert set(timings) == {"B=1", "B=2"} and all(v > 0 for v in timings.values())
    assert any("input_iba (smoke) on 2 image(s) of natural" in m for m in stages)
