"""Runs timed on this project's 2-core CPU machine: the basis of every time estimate said before
work starts (:mod:`xai_core.services.estimates` scales them to the work asked for). Trained methods
declare theirs (``TrainedExplainer.measured_fit``); black boxes' are in the estimates module."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredRun:
    """A timed run on 2 CPU cores: its seconds, training images, epochs and classifier."""

    seconds: float
    images: int
    epochs: int
    arch: str
    image_size: int
    channels: int
    what: str  # where it was measured, e.g. "DiET quick on hard_mnist"
