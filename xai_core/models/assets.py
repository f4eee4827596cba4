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

Trained methods' fits ship the same way in ``assets/fits/`` (:func:`read_shipped_fit`), each file named by
the store key it was fitted under (``<method>-<spec hash>.pt``): a fit whose key the current code no
longer asks for is simply not found, and ``tests/models/test_assets.py`` fails until it is regenerated.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..store import atomic_write, file_sha256, spec_hash

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "black_boxes"
FIT_DIR = ASSET_DIR.parent / "fits"  #: trained methods' fits, named by their store key
#: (dataset, preset, seed) shipped with the code: the default dataset and the DiET shortcut set
SHIPPED: tuple[tuple[str, str, int], ...] = (("hard_mnist", "quick", 0), ("spurious_patch", "quick", 0))
MANIFEST = "SHA256SUMS"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def asset_path(dataset: str, preset: str, seed: int) -> Path:
    return ASSET_DIR / f"{dataset}-{preset}-seed{seed}.pt"


def manifest_path(directory: Path | None = None) -> Path:
    """``SHA256SUMS`` of the shipped files (``<sha256>  <file name>`` per line) in ``directory`` (default
    the black boxes')."""
    return (ASSET_DIR if directory is None else directory) / MANIFEST


def read_manifest(directory: Path | None = None) -> dict[str, str]:
    """File name → sha256 from the manifest; empty when it is missing or unreadable."""
    try:
        text = manifest_path(directory).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and _SHA256.fullmatch(parts[0].lower()):
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _read_blob(path: Path, what: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(spec, payload) of a shipped file, or None when it is absent, not in its directory's manifest, its
    checksum does not match, or it is unreadable (all but the first are logged; ``what`` names it there)."""
    if not path.exists():
        return None
    expected = read_manifest(path.parent).get(path.name)
    if expected is None:
        log.warning("shipped %s %s has no checksum in %s; ignoring it", what, path, MANIFEST)
        return None
    try:
        with open(path, "rb") as fh:
            if file_sha256(fh)[0] != expected:
                log.warning("shipped %s %s is corrupt (checksum mismatch); ignoring it", what, path)
                return None
            fh.seek(0)  # unpickle the very bytes that were hashed
            blob = torch.load(fh, map_location="cpu", weights_only=True)
        spec = json.loads(blob.pop("spec"))
        if not isinstance(spec, dict) or not all(isinstance(v, (dict, list)) for v in blob.values()):
            raise TypeError("unexpected layout")
        return spec, blob
    except Exception as err:  # a damaged asset is not fatal: the work is done instead
        log.warning("shipped %s %s is unreadable (%s); ignoring it", what, path, err)
        return None


def _write_blob(path: Path, spec: dict[str, Any], payload: dict[str, Any]) -> Path:
    """Write one shipped file atomically and record its sha256 in its directory's manifest."""
    blob = {"spec": json.dumps(spec, sort_keys=True, default=str), **payload}
    atomic_write(path, lambda fh: torch.save(blob, fh))
    with open(path, "rb") as fh:
        digest, _ = file_sha256(fh)
    sums = {**read_manifest(path.parent), path.name: digest}
    text = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums) if (path.parent / name).is_file())
    atomic_write(manifest_path(path.parent), lambda fh: fh.write(text.encode()))
    return path


def read_asset(dataset: str, preset: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(spec, payload) of a shipped black box, or None when none is shipped, it is not in the
    manifest, its checksum does not match, or it is unreadable (all but the first are logged)."""
    found = _read_blob(asset_path(dataset, preset, seed), "black box")
    if found is None:
        return None
    spec, payload = found
    if not (isinstance(payload.get("state_dict"), dict) and isinstance(payload.get("record"), dict)):
        log.warning("shipped black box %s is unreadable (unexpected layout); training instead",
                    asset_path(dataset, preset, seed))
        return None
    return spec, {"state_dict": payload["state_dict"], "record": payload["record"]}


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
    return _write_blob(asset_path(dataset, preset, seed), spec, {"state_dict": payload["state_dict"], "record": record})


# -- trained methods' fits -------------------------------------------------------------------------
def fit_path(method: str, spec: dict[str, Any]) -> Path:
    """Where a fit of ``method`` under store key ``spec`` ships (a file ``stat`` tells whether it does)."""
    return FIT_DIR / f"{method}-{spec_hash(method, spec)}.pt"


def read_shipped_fit(method: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The shipped store payload of ``method``'s fit under ``spec`` (verified against the manifest, its
    recorded key compared), or None when none ships for it."""
    found = _read_blob(fit_path(method, spec), f"{method} fit")
    if found is None:
        return None
    shipped_spec, payload = found
    if _canonical(shipped_spec) != _canonical(spec):
        log.warning("shipped %s fit %s was fitted under another key; fitting instead", method, fit_path(method, spec))
        return None
    return payload


def write_shipped_fit(method: str, spec: dict[str, Any], payload: dict[str, Any]) -> Path:
    """Ship one fit (its store payload) under its store key."""
    return _write_blob(fit_path(method, spec), spec, payload)


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)
