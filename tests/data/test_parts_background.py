"""``parts``' test_background: the Mixed-Next decoy (one rimmed disc in the next class's colour, away from the
flower) and its own store key."""
from __future__ import annotations

import numpy as np

from xai_core.data import get_dataset, parts
from xai_core.data._common import index_rng
from xai_core.store import ArtifactStore


def _near(img: np.ndarray, colour, tol: float) -> np.ndarray:
    return (np.abs(img - np.asarray(colour, dtype=np.float32)) <= tol).all(-1)


def test_new_background_holds_one_rimmed_disc_of_the_next_class_away_from_the_flower():
    size, s = 64, 64.0
    drawn = np.zeros((size, size), dtype=bool)
    drawn[20:44, 20:44] = True  # the flower
    for label in range(len(parts.PALETTE)):
        for index in range(4):
            img = parts._new_background(index_rng(123, index), 0.5, s, drawn, label)
            decoy = _near(img, parts._COLOURS[(label + 1) % len(parts._COLOURS)], parts.JITTER + 1e-6)
            area = int(decoy.sum())
            # one disc of radius 0.07–0.1·s: π r² between ~60 and ~130 pixels at 64 px
            assert 0.8 * np.pi * (0.07 * s) ** 2 <= area <= 1.2 * np.pi * (0.1 * s) ** 2, (label, index, area)
            assert not (decoy & parts._dilate(drawn)).any()  # never on the flower or its margin
            rim = _near(img, parts.RIM, 1e-6)
            assert (parts._dilate(decoy) & ~decoy & rim).sum() >= 0.7 * (parts._dilate(decoy) & ~decoy).sum()
            own = _near(img, parts._COLOURS[label], parts.JITTER + 1e-6)
            assert not own.any()  # the background never shows the class's own colour


def test_background_split_has_its_own_store_key(tmp_path):
    store = ArtifactStore(tmp_path)
    test = get_dataset("parts", "test", "smoke", store=store)
    bg = get_dataset("parts", "test_background", "smoke", store=store)
    assert bg.info.extra["background_version"] == parts.BACKGROUND_VERSION == 2
    assert "background_version" not in test.info.extra  # the test split's (and black boxes') keys are unchanged
    assert test.info.spec() != bg.info.spec()
