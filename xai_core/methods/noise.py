"""Per-image random streams (:class:`~xai_core.noise.ImageNoise`), re-exported where the methods
import them; the class lives in :mod:`xai_core.noise` so the metrics can draw from it too."""
from __future__ import annotations

from ..noise import ImageNoise

__all__ = ["ImageNoise"]
