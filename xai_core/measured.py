"""Runs timed on this project's 2-core CPU machine: the basis of every time estimate said before
work starts (:mod:`xai_core.services.estimates` scales them to the work asked for), kept apart from the
code that does the work, so re-timing a run changes no computing module (and no reproduction result's
code version). docs/measured.md gives the command behind each."""
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


#: black-box training, per architecture (docs/measured.md: black boxes, quick preset); other
#: architectures are scaled from ``cnn_light`` by their multiply-accumulates
BLACK_BOX_RUNS: dict[str, MeasuredRun] = {
    "cnn_light": MeasuredRun(93, 8000, 6, "cnn_light", 64, 3, "cnn_light on hard_mnist, quick"),
    "small_cnn": MeasuredRun(27, 4000, 5, "small_cnn", 28, 1, "small_cnn on mnist, quick"),
}

#: each trained method's whole fits (docs/measured.md: quick fits; `python -m xai_core train --dataset D --preset
#: quick --methods M`); its estimate scales the one :func:`nearest` the work asked for; a method without runs has
#: no estimate (the pages say so)
FIT_RUNS: dict[str, tuple[MeasuredRun, ...]] = {
    # its stages converged after 24 of at most 60 epochs (the estimate scales this run as if it had run all 60)
    "diet": (MeasuredRun(102, 1500, 60, "cnn_light", 64, 3, "DiET quick on hard_mnist"),),
    "dorar": (MeasuredRun(381, 4000, 50, "small_cnn", 28, 1, "DoRaR quick on mnist"),
              MeasuredRun(571, 2000, 20, "cnn_light", 64, 3, "DoRaR quick on hard_mnist")),
    # 6,000 images × 5 epochs plus the t sweep's 4 proxies × 3 epochs × 2,000 images: 9 passes over 6,000 images
    "comet": (MeasuredRun(546, 6000, 9, "cnn_light", 64, 3, "COMET quick on hard_mnist (its t sweep: 301 s)"),),
    # not measured: COMET's time × 1.3 for the detector it trains besides
    "comet_td": (MeasuredRun(710, 6000, 9, "cnn_light", 64, 3, "COMET quick on hard_mnist × 1.3 (not measured)"),),
    # on a machine shared with other jobs (an upper end): 10 epochs on 6,000 Fashion-MNIST images
    "meed": (MeasuredRun(690, 6000, 10, "small_cnn", 28, 1, "MEED quick on fashion_pullover_shirt"),
             MeasuredRun(1514, 6000, 10, "cnn_light", 64, 3, "MEED quick on hard_mnist")),
    "l2x": (MeasuredRun(282, 6000, 10, "small_cnn", 28, 1, "L2X quick on fashion_pullover_shirt"),
            MeasuredRun(937, 6000, 10, "cnn_light", 64, 3, "L2X quick on hard_mnist")),
}
