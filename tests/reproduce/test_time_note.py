"""The Reproduction page's note before a run names the fits the pending measurements may need, per paper
(no longer one line about DiET's fit under every paper)."""
from __future__ import annotations

from xai_core.reproduce.claims import CLAIMS
from xai_core.reproduce.jobs import time_note


def _measurements(paper: str):
    return [CLAIMS.get(name).measurement for name in CLAIMS if CLAIMS.get(name).paper == paper]


def test_the_note_names_each_papers_own_fits():
    fits = "may take minutes to hours: it fits {} where not cached (each fit minutes to an hour on 2 CPU cores; the " \
           "Train page estimates each)"
    assert time_note(_measurements("diet")) == fits.format("diet")
    assert time_note(_measurements("comet")) == fits.format("comet")
    assert time_note(_measurements("meed")) == fits.format("l2x, meed")
    # IBA and InputIBA train nothing ahead of time
    assert time_note(_measurements("inputiba")) == ("no method to fit first (the time is the per-image work: "
                                                    "not estimated)")
