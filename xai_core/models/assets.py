"""Black boxes shipped in ``assets/black_boxes/`` so a fresh machine shows attributions at once.

A shipped file is a store payload plus the exact store key (spec) it was trained under. It is
used only while that spec equals what the current code would train; after any change to the
data generator, architecture or training table it is ignored (logged) and the model trains as
usual until ``python -m xai_core assets`` regenerates it. ``tests/test_assets.py`` fails while
a shipped file is stale, so a stale file cannot land unnoticed.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..store import atomic_write

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "black_boxes"
#: (dataset, preset, seed) shipped with the code: the default dataset and the DiET shortcut set
SHIPPED: tuple[tuple[str, str, int], ...] = (("hard_mnist", "quick", 0), ("spurious_patch", "quick", 0))


def asset_path(dataset: str, preset: str, seed: int) -> Path:
    return ASSET_DIR / f"{dataset}-{preset}-seed{seed}.pt"


def read_asset(dataset: str, preset: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(spec, payload) of a shipped black box, or None when none is shipped or it is unreadable."""
    path = asset_path(dataset, preset, seed)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return json.loads(blob["spec"]), {"state_dict": blob["state_dict"], "record": blob["record"]}
    except Exception as err:  # a damaged asset is not fatal: the model trains instead
        log.warning("shipped black box %s is unreadable (%s); training instead", path, err)
        return None


def shipped_payload(dataset: str, preset: str, seed: int, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The shipped payload for ``spec``, or None when absent or trained under another spec."""
    found = read_asset(dataset, preset, seed)
    if found is None:
        return None
    shipped_spec, payload = found
    if _canonical(shipped_spec) != _canonical(spec):
        log.warning("shipped black box for %s/%s is stale (trained by older code); training instead. "
                    "Regenerate with: python -m xai_core assets", dataset, preset)
        return None
    return payload


def write_asset(dataset: str, preset: str, seed: int, spec: dict[str, Any], payload: dict[str, Any]) -> Path:
    """Write one shipped black box atomically."""
    record = {k: v for k, v in payload["record"].items() if k != "from_cache"}
    blob = {"spec": json.dumps(spec, sort_keys=True, default=str), "state_dict": payload["state_dict"], "record": record}
    return atomic_write(asset_path(dataset, preset, seed), lambda fh: torch.save(blob, fh))


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)
