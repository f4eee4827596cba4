"""On-disk artifact cache, content-addressed by everything that determines a result.

Entries are ``torch.save`` payloads (dicts of tensors, numbers, strings, lists) written
atomically (temp file + ``os.replace``) under a per-entry file lock, so two processes building
the same entry build it once. Entries load with ``weights_only=True``; an unreadable or
partial entry is detected, removed and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from filelock import FileLock
from platformdirs import user_cache_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_COMPLETE = "__xai_complete__"  # marker key: an entry without it is partial


def default_root() -> Path:
    return Path(os.environ.get("XAI_CACHE_DIR") or user_cache_dir("attribution-explorer"))


def spec_hash(kind: str, spec: dict[str, Any]) -> str:
    """Stable hash of a JSON-able spec (keys sorted; tuples and lists hash alike)."""
    blob = json.dumps({"kind": kind, "spec": spec, "format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename: readers
    see the old file or the whole new one, never a partial one (a failed write leaves no trace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class ArtifactStore:
    """A directory of cached artifacts, one file per (kind, spec)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, kind: str, spec: dict[str, Any]) -> Path:
        return self.root / kind / f"{spec_hash(kind, spec)}.pt"

    def exists(self, kind: str, spec: dict[str, Any]) -> bool:
        """Whether the entry is on disk, without reading it (pages ask on every rerun). Entries are
        written atomically, so a present file is complete; :meth:`load` still validates it and
        a corrupt one is rebuilt by :meth:`get_or_create`."""
        path = self.path(kind, spec)
        return path.is_file() and path.stat().st_size > 0

    def load(self, kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        """The entry, or None when absent; a corrupt entry is deleted and None returned."""
        path = self.path(kind, spec)
        if not path.exists():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(payload, dict) or not payload.pop(_COMPLETE, False):
                raise ValueError("partial entry")
            return payload
        except Exception as err:  # any unreadable file is treated as corrupt and rebuilt
            log.warning("cache entry %s is corrupt (%s); rebuilding", path, err)
            path.unlink(missing_ok=True)
            return None

    def save(self, kind: str, spec: dict[str, Any], payload: dict[str, Any]) -> Path:
        path = self.path(kind, spec)
        atomic_write(path, lambda fh: torch.save({**payload, _COMPLETE: True}, fh))
        path.with_suffix(".json").write_text(json.dumps({"kind": kind, "spec": spec}, indent=1, default=str))
        return path

    def get_or_create(
        self, kind: str, spec: dict[str, Any], build: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Load the entry or build, save and return it; concurrent callers build once."""
        payload = self.load(kind, spec)
        if payload is not None:
            return payload
        path = self.path(kind, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            payload = self.load(kind, spec)  # another process may have built it meanwhile
            if payload is None:
                payload = build()
                self.save(kind, spec, payload)
        return payload
