"""Black boxes shipped in ``assets/black_boxes/`` so a fresh machine shows attributions at once.

A shipped file is a store payload plus the exact store key (spec) it was trained under. It is
used only while that spec equals what the current code would train; after any change to the
data generator, architecture or training table it is ignored (logged) and the model trains as
usual until ``python -m xai_core assets`` regenerates it. ``tests/test_assets.py`` fails while
a shipped file is stale, so a stale file cannot land unnoticed.

Every shipped file is verified against ``SHA256SUMS`` beside it (``sha256sum`` format, so
``cd assets/black_boxes && sha256sum -c SHA256SUMS`` checks it too) before it is unpickled
(``weights_only=True``); a file that is missing from the manifest or does not match it is ignored
with a warning and the black box is trained instead. :func:`write_asset` updates the manifest.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..store import atomic_write, file_sha256

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "black_boxes"
#: (dataset, preset, seed) shipped with the code: the default dataset and the DiET shortcut set
SHIPPED: tuple[tuple[str, str, int], ...] = (("hard_mnist", "quick", 0), ("spurious_patch", "quick", 0))
MANIFEST = "SHA256SUMS"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def asset_path(dataset: str, preset: str, seed: int) -> Path:
    return ASSET_DIR / f"{dataset}-{preset}-seed{seed}.pt"


def manifest_path() -> Path:
    """``SHA256SUMS`` of the shipped files (``<sha256>  <file name>`` per line)."""
    return ASSET_DIR / MANIFEST


def read_manifest() -> dict[str, str]:
    """File name → sha256 from the manifest; empty when it is missing or unreadable."""
    try:
        text = manifest_path().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and _SHA256.fullmatch(parts[0].lower()):
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def read_asset(dataset: str, preset: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(spec, payload) of a shipped black box, or None when none is shipped, it is not in the
    manifest, its checksum does not match, or it is unreadable (all but the first are logged)."""
    path = asset_path(dataset, preset, seed)
    if not path.exists():
        return None
    expected = read_manifest().get(path.name)
    if expected is None:
        log.warning("shipped black box %s has no checksum in %s; training instead", path, MANIFEST)
        return None
    try:
        with open(path, "rb") as fh:
            if file_sha256(fh)[0] != expected:
                log.warning("shipped black box %s is corrupt (checksum mismatch); training instead", path)
                return None
            fh.seek(0)  # unpickle the very bytes that were hashed
            blob = torch.load(fh, map_location="cpu", weights_only=True)
        spec = json.loads(blob["spec"])
        payload = {"state_dict": blob["state_dict"], "record": blob["record"]}
        if not all(isinstance(x, dict) for x in (spec, payload["state_dict"], payload["record"])):
            raise TypeError("unexpected layout")
        return spec, payload
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
    """Write one shipped black box atomically and record its sha256 in the manifest."""
    record = {k: v for k, v in payload["record"].items() if k != "from_cache"}
    blob = {"spec": json.dumps(spec, sort_keys=True, default=str), "state_dict": payload["state_dict"],
            "record": record}
    path = asset_path(dataset, preset, seed)
    atomic_write(path, lambda fh: torch.save(blob, fh))
    with open(path, "rb") as fh:
        digest, _ = file_sha256(fh)
    sums = {**read_manifest(), path.name: digest}
    text = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums))
    atomic_write(manifest_path(), lambda fh: fh.write(text.encode()))
    return path


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)
