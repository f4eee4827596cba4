"""The selection overlay a top-k selection method (MEED, L2X) gets in Explore."""
from __future__ import annotations

import numpy as np
import pytest

from xai_core import viz
from xai_core.errors import InvalidInputError


def test_selection_overlay_paints_only_the_selected_pixels_and_enlarges():
    image = np.full((4, 4), 0.5)
    selection = np.zeros((4, 4), bool)
    selection[1, 2] = selection[3, 0] = True
    out = viz.selection_overlay(image, selection, scale=3)
    assert out.shape == (12, 12, 3) and out.dtype == np.uint8
    grey = viz.to_uint8(image)[0, 0]
    painted = np.round(0.25 * grey + 0.75 * np.array(viz.SELECTION_COLOUR)).astype(np.uint8)
    assert (out[3:6, 6:9] == painted).all() and (out[9:12, 0:3] == painted).all()
    assert (out[0:3, 0:3] == grey).all()  # the others as they are
    assert ((out == painted).all(-1).sum()) == 2 * 9
    with pytest.raises(InvalidInputError):
        viz.selection_overlay(image, np.zeros((3, 3), bool))
