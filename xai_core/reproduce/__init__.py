"""Reproduction: every paper's headline claims, the paper's numbers beside ours, one command and one page.

- :mod:`.claims`: :class:`Measurement`, :class:`Claim`, the checks and the ``CLAIMS`` registry;
- :mod:`.entries`: one module per paper registering its claims (importing registers);
- :mod:`.runner`: running the measurements, cached per preset and code version, and the report JSON;
- :mod:`.render`: docs/reproduction.md's tables from a report.
"""
from __future__ import annotations

from .claims import CLAIMS, PAPERS, Check, Claim, Measurement, Verdict
from .runner import (code_version, is_current, measure, measure_pending, measurements, pending, report, select,
                     stored)

__all__ = ["CLAIMS", "PAPERS", "Check", "Claim", "Measurement", "Verdict", "code_version", "is_current", "measure", "measure_pending", "pending", "measurements",
           "report", "select", "stored"]
