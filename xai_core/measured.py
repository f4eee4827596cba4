"""Runs timed on this project's 2-core CPU machine: the basis of every time estimate said before
work starts (:mod:`xai_core.services.estimates` scales them to the work asked for). Trained methods
declare theirs (``TrainedExplainer.measured_fits``); black boxes' are in the estimates module."""
from __future__ import annotations

import math
from collections.abc import Sequence
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


def nearest(runs: Sequence[MeasuredRun], arch: str, image_size: int, channels: int) -> MeasuredRun:
    """The run measured closest to the work asked for: nearest in values per image (a method's own networks
    grow with the image, whatever the classifier: DoRaR's generators at 64 px cost 16× those at 28 px),
    then on the same classifier."""
    values = image_size ** 2 * channels
    return min(runs, key=lambda r: (abs(math.log(r.image_size ** 2 * r.channels / values)), r.arch != arch))
