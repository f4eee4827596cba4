"""DoRaR's claims read a1/a2 and, beside them and not judged, the same run's controls (each method's a1 from its
units' layout alone, the random-units floor) from results shaped as services.evaluate returns them."""
from __future__ import annotations

from xai_core.reproduce import CLAIMS, Verdict
from xai_core.reproduce.entries import dorar  # noqa: F401  (registers the claims)


def seeded(**scores: float) -> dict:
    out: dict = {}
    for i, (key, mean) in enumerate(scores.items()):
        out.update({key: mean, f"{key}_std": 0.01, f"{key}_seeds": [mean]})
        if i == 0:
            out.update({"seeds": 1, "n": 100})
    return out


def result(a1: dict[str, float], position: dict[str, float] | None = None) -> dict:
    values = {}
    for method, value in a1.items():
        scores = {"a1": value, "a2": 0.9}
        if position is not None:
            scores.update(a1_position=position[method], a1_random=0.3, a2_random=0.93)
        values[method] = {"a1a2": seeded(**scores)}
    return {"dataset": "mnist", "preset": "quick", "n": 100, "results": values}


def test_the_controls_sit_beside_a1_and_do_not_change_the_verdict():
    a1 = {"dorar": 0.81, "gradient": 0.18, "smoothgrad": 0.15, "lime": 0.59}
    position = {"dorar": 0.2, "gradient": 0.85, "smoothgrad": 0.86, "lime": 0.9}
    claim = CLAIMS.get("dorar.a1_four_units")
    with_controls, without = Verdict.of(claim, result(a1, position)), Verdict.of(claim, result(a1))
    assert with_controls.holds is True and without.holds is True
    ours = claim.values(result(a1, position))
    assert ours["gradient a1 (layout only)"] == 0.85 and ours["DoRaR a1 (layout only)"] == 0.2
    assert ours["random units a1"] == 0.3 and ours["random units a2"] == 0.93
    assert claim.values(result(a1))["gradient a1 (layout only)"] is None  # a run without controls: missing
    assert "layout only" in claim.note and "ln 10" in claim.note


def test_twenty_four_units_reports_dorar_s_controls_only():
    ours = CLAIMS.get("dorar.twenty_four_units").values(result({"dorar": 0.93}, {"dorar": 0.4}))
    assert ours == {"DoRaR a1": 0.93, "DoRaR a2": 0.9, "DoRaR a1 (layout only)": 0.4, "random units a1": 0.3,
                    "random units a2": 0.93}
