"""Named presets: ``quick`` (CPU-friendly), ``paper`` (the papers' resolution; GPU recommended)
and ``smoke`` (tiny, for tests and CI only)."""
from __future__ import annotations

from .errors import UnknownNameError

PRESETS = ("quick", "paper", "smoke")


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise UnknownNameError(f"unknown preset {preset!r}; choose from: {', '.join(PRESETS)}")
    return preset
