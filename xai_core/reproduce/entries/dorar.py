"""DoRaR's claims (Qin et al., docs/methods/dorar.md, Table III: the a1/a2 protocol on MNIST)."""
from __future__ import annotations

from ..claims import Claim, Measurement, all_of, at_least, at_most, metric_values, ordering, register_claim

PAPER = "dorar"
METHODS = ["dorar", "gradient", "smoothgrad", "lime"]
FOUR = Measurement("evaluate", "mnist", {"methods": METHODS, "metrics": ["a1a2"], "n": 1000,
                                         "configs": {"dorar": {"n_e": 4}},
                                         "metric_settings": {"a1a2": {"n_e": 4}}})
TWENTY_FOUR = Measurement("evaluate", "mnist", {"methods": ["dorar"], "metrics": ["a1a2"], "n": 1000,
                                                "configs": {"dorar": {"n_e": 24}},
                                                "metric_settings": {"a1a2": {"n_e": 24}}})
NOTE = ("ours: quick preset, the offline 4,000 / 1,000 MNIST digits (the paper: 50,000 training digits and its "
        "own black box), 3 generator seeds")

register_claim(Claim(
    "dorar.a1_four_units", PAPER, "Table III",
    "With 4 of 49 units, DoRaR's kept units let a generator rebuild the class (a1 ≥ 70 %) and beat every "
    "baseline's a1 (81.3 vs gradient 18.1, SmoothGrad 15.1, LIME 58.6)",
    {"DoRaR a1": 0.813, "LIME a1": 0.586, "gradient a1": 0.181, "SmoothGrad a1": 0.151},
    FOUR,
    metric_values("a1a2", {"DoRaR a1": "dorar", "LIME a1": "lime", "gradient a1": "gradient",
                           "SmoothGrad a1": "smoothgrad"}, "a1"),
    all_of(at_least("DoRaR a1", 0.70), ordering(["DoRaR a1", "LIME a1"]), ordering(["DoRaR a1", "gradient a1"]),
           ordering(["DoRaR a1", "SmoothGrad a1"])),
    note=NOTE))

register_claim(Claim(
    "dorar.a2_four_units", PAPER, "Table III",
    "With 4 units, the class is least recoverable from what DoRaR leaves out (the lowest a2 of the four)",
    {"DoRaR a2": 0.882, "LIME a2": 0.898, "gradient a2": 0.908, "SmoothGrad a2": 0.908},
    FOUR,
    metric_values("a1a2", {"DoRaR a2": "dorar", "LIME a2": "lime", "gradient a2": "gradient",
                           "SmoothGrad a2": "smoothgrad"}, "a2"),
    all_of(*(ordering(["DoRaR a2", other], lower_is_better=True)
             for other in ("LIME a2", "gradient a2", "SmoothGrad a2"))),
    note=NOTE))

register_claim(Claim(
    "dorar.twenty_four_units", PAPER, "Table III",
    "With 24 units, DoRaR's selection holds the class and its complement does not (a1 89.1, a2 13.0)",
    {"DoRaR a1": 0.891, "DoRaR a2": 0.130},
    TWENTY_FOUR,
    lambda r: {**metric_values("a1a2", {"DoRaR a1": "dorar"}, "a1")(r),
               **metric_values("a1a2", {"DoRaR a2": "dorar"}, "a2")(r)},
    all_of(at_least("DoRaR a1", 0.80), at_most("DoRaR a2", 0.30)),
    note=NOTE))
