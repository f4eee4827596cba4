"""evaluate()-shaped results for the figure tests, as JSON (what pages hand the figures); trimmed to the keys
each test reads (the rest reads as None)."""
from __future__ import annotations

RESULT = {
    "dataset": "d", "preset": "smoke", "n": 3,
    "results": {
        "a": {"iou": 0.5, "deletion": {"x": [0, 0.5, 1], "y": [1, 0.4, 0.1], "auc": 0.475}},
        "b": {"iou": 0.25, "deletion": {"x": [0, 0.5, 1], "y": [1, 0.8, 0.2], "auc": 0.7}},
    },
    "spread": {"a": {"iou": {"mean": 0.5, "std": 0.1, "n": 3}}, "b": {"iou": {"mean": 0.25, "std": 0.05, "n": 3}}},
    "ms_per_image": {"a": 1.0, "b": 2.0},
}

A1A2 = {
    "dataset": "d", "preset": "smoke", "n": 4,
    "results": {
        "dorar": {"iou": 0.4, "a1a2": {"a1": 0.9, "a1_std": 0.05, "a1_seeds": [0.85, 0.95],
                                       "a2": 0.2, "a2_std": 0.1, "a2_seeds": [0.1, 0.3], "seeds": 2, "n": 4}},
        "random": {"iou": 0.1, "a1a2": {"a1": 0.3, "a1_std": 0.0, "a1_seeds": [0.3, 0.3],
                                        "a2": 0.8, "a2_std": None, "a2_seeds": [0.8, None], "seeds": 2, "n": 4}},
    },
    "spread": {}, "ms_per_image": {"dorar": 3.0, "random": 0.1},
}

GROUP = {
    "dataset": "d", "preset": "smoke", "n": 4,
    "results": {
        "gradient": {"iou": None, "deletion": {"x": [0, 1], "y": [1, 0], "auc": 0.5},
                     "robustness": {"pxap_clean": 0.6, "pxap_clean_std": 0.1, "pxap_clean_n": 4,
                                    "pxap_noisy": 0.5, "pxap_noisy_std": 0.2, "pxap_noisy_n": 4,
                                    "pxap_background": None, "pxap_background_std": None, "pxap_background_n": 0,
                                    "n": 4}},
    },
    "settings": {"not_applicable": {"iou": "d has no ground-truth masks"}},
    "spread": {"gradient": {"robustness": {"mean": 0.5, "std": 0.2, "n": 4}}}, "ms_per_image": {"gradient": 1.0},
}


def curves(metric: str, methods: list[str]) -> dict:
    """One curve of ``metric`` per method."""
    return {"dataset": "d", "preset": "smoke", "n": 3, "ms_per_image": {m: 1.0 for m in methods},
            "results": {m: {metric: {"x": [0, 0.5, 1], "y": [1, 0.5 - 0.1 * i, 0.1], "auc": 0.5}}
                        for i, m in enumerate(methods)}}


def fidelity(fs_m, fu_m, fs_a=None, fu_a=None) -> dict:
    """An fs_fu value (approximators' scores when given)."""
    value = {"fs_m": fs_m, "fs_m_std": 0.1, "fu_m": fu_m, "fu_m_std": 0.2, "n": 4}
    if fs_a is not None:
        value.update(fs_a=fs_a, fs_a_std=0.0, fu_a=fu_a, fu_a_std=0.0)
    return value


FIDELITY = {
    "dataset": "mnist38", "preset": "smoke", "n": 4,
    "results": {"meed": {"fs_fu": fidelity(0.99, 0.75, 0.98, 0.6), "sen": 6.1},
                "l2x": {"fs_fu": fidelity(0.91, 0.91, 0.9, 0.88), "sen": 7.0},
                "gradient": {"fs_fu": fidelity(0.8, 0.5, 0.7, 0.5), "sen": 139.123456}},
    "ms_per_image": {"meed": 0.1234, "l2x": 0.1, "gradient": 2.0},
    "settings": {"metrics": {}},
}
