"""DoRaR's claims (Qin et al., docs/methods/dorar.md, Table III: the a1/a2 protocol on MNIST)."""
from __future__ import annotations

from ..claims import (
    Claim, Measurement, Values, all_of, at_least, at_most, metric_values, ordering, register_claim,
)

PAPER = "dorar"
METHODS = ["dorar", "gradient", "smoothgrad", "lime"]
FOUR = Measurement("evaluate", "mnist", {"methods": METHODS, "metrics": ["a1a2"], "n": 1000,
                                         "configs": {"dorar": {"n_e": 4}},
                                         "metric_settings": {"a1a2": {"n_e": 4}}})
TWENTY_FOUR = Measurement("evaluate", "mnist", {"methods": ["dorar"], "metrics": ["a1a2"], "n": 1000,
                                                "configs": {"dorar": {"n_e": 24}},
                                                "metric_settings": {"a1a2": {"n_e": 24}}})
NOTE = ("ours: quick preset, the offline 4,000 / 1,000 MNIST digits (the paper: 50,000 training digits and its "
        "own black box), 3 generator seeds; the generators' cross-entropy / ln 10 as the authors' code. Beside a1/a2, "
        "not judged, the same run's controls: '<method> a1 (layout only)' = a1 of a generator that sees only where "
        "the method's units are (their binary mask, no pixel): the part of a1 the position leak explains; "
        "'random units a1/a2' = G1/G2 on n_e random units per image: the floor")
LABELS = {"DoRaR": "dorar", "LIME": "lime", "gradient": "gradient", "SmoothGrad": "smoothgrad"}


def controls(labels: dict[str, str]) -> Values:
    """The a1a2 controls of one run: each method's a1 from its units' layout alone, and the random floor (the
    same for every method: read from the first)."""
    layout = metric_values("a1a2", {f"{name} a1 (layout only)": method for name, method in labels.items()},
                           "a1_position")
    first = next(iter(labels.values()))
    return lambda r: {**layout(r), **metric_values("a1a2", {"random units a1": first}, "a1_random")(r),
                      **metric_values("a1a2", {"random units a2": first}, "a2_random")(r)}


def with_controls(values: Values, labels: dict[str, str]) -> Values:
    return lambda r: {**values(r), **controls(labels)(r)}

register_claim(Claim(
    "dorar.a1_four_units", PAPER, "Table III",
    "With 4 of 49 units, DoRaR's kept units let a generator rebuild the class (a1 ≥ 70 %) and beat every "
    "baseline's a1 (81.3 vs gradient 18.1, SmoothGrad 15.1, LIME 58.6)",
    {"DoRaR a1": 0.813, "LIME a1": 0.586, "gradient a1": 0.181, "SmoothGrad a1": 0.151},
    FOUR,
    with_controls(metric_values("a1a2", {f"{name} a1": method for name, method in LABELS.items()}, "a1"), LABELS),
    all_of(at_least("DoRaR a1", 0.70), ordering(["DoRaR a1", "LIME a1"]), ordering(["DoRaR a1", "gradient a1"]),
           ordering(["DoRaR a1", "SmoothGrad a1"])),
    note=NOTE))

register_claim(Claim(
    "dorar.a2_four_units", PAPER, "Table III",
    "With 4 units, the class is least recoverable from what DoRaR leaves out (the lowest a2 of the four)",
    {"DoRaR a2": 0.882, "LIME a2": 0.898, "gradient a2": 0.908, "SmoothGrad a2": 0.908},
    FOUR,
    with_controls(metric_values("a1a2", {f"{name} a2": method for name, method in LABELS.items()}, "a2"), LABELS),
    all_of(*(ordering(["DoRaR a2", other], lower_is_better=True)
             for other in ("LIME a2", "gradient a2", "SmoothGrad a2"))),
    note=NOTE))

register_claim(Claim(
    "dorar.twenty_four_units", PAPER, "Table III",
    "With 24 units, DoRaR's selection holds the class and its complement does not (a1 89.1, a2 13.0)",
    {"DoRaR a1": 0.891, "DoRaR a2": 0.130},
    TWENTY_FOUR,
    with_controls(lambda r: {**metric_values("a1a2", {"DoRaR a1": "dorar"}, "a1")(r),
                             **metric_values("a1a2", {"DoRaR a2": "dorar"}, "a2")(r)}, {"DoRaR": "dorar"}),
    all_of(at_least("DoRaR a1", 0.80), at_most("DoRaR a2", 0.30)),
    note=NOTE))
