"""On-disk artifact cache, content-addressed by everything that determines a result.

Layout: ``<root>/<kind>/<key>.pt`` holds a ``torch.save`` payload (a dict of tensors, numbers,
strings, lists) and ``<root>/<kind>/<key>.json`` its record: kind, spec, key, and the payload's
size and sha256. Both are written atomically (temp file, fsync, ``os.replace``), payload first,
then record, under a per-entry file lock, so two processes building the same entry build it once.

Loading verifies the pair: the record must be a JSON object for this key and the payload must
have the recorded size and sha256 (hashed from the same open file that is then unpickled with
``weights_only=True``). Anything else (flipped bytes, a missing or malformed record, a payload
that is not a dict, a directory in place of a file) is corrupt: it is removed (inside the store
root only) and rebuilt, never a traceback. :meth:`ArtifactStore.exists` only stats, so it is cheap.

Writes that fail (disk full, read-only, permissions) raise :class:`~xai_core.errors.StoreError`
with one line and leave no partial file; :meth:`ArtifactStore.get_or_create` then logs one warning
and returns what it built. Files get the mode ``open()`` would give them (``0o666 & ~umask``).
Temp files of interrupted writes are removed on a directory's first use in each process and
before each build. Call :meth:`ArtifactStore.check` once before any work to turn an unusable
root into one clear line. (Over 300 lines on purpose: writing, locking, verifying and the blob
LRU all guard one on-disk format, through private helpers that should not leak.)
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

import torch
from filelock import FileLock, Timeout

from .errors import StoreError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # part of every key: changing it orphans every entry
RECORD_FORMAT = 2  # version of the ``.json`` record (1: kind and spec only, no checksum)
_COMPLETE = "__xai_complete__"  # marker key: an entry without it is partial
MAX_TMP_AGE_S = 3600.0  # a temp file older than this is left by a dead writer
_MAX_RECORD_BYTES = 1 << 20
_KIND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOB = re.compile(r"[0-9a-f]{64}\.[A-Za-z0-9]{1,16}")
_TMP_WRITER = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")

_swept: set[str] = set()  # directories whose stale temp files this process has removed
_swept_lock = threading.Lock()


def default_root() -> Path:
    """``$XAI_CACHE_DIR``, else the user's cache directory (``~/.cache/attribution-explorer``)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("XAI_CACHE_DIR") or user_cache_dir("attribution-explorer")).expanduser()


def spec_hash(kind: str, spec: dict[str, Any]) -> str:
    """Stable hash of a JSON-able spec (keys sorted; tuples and lists hash alike)."""
    blob = json.dumps({"kind": kind, "spec": spec, "format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (``mkstemp`` would give 0600)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it (briefly process-wide)
    os.umask(mask)
    return 0o666 & ~mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:32] or "host"


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on device"
    return (err.strerror or str(err) or type(err).__name__).strip().splitlines()[0]


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err`` (torch.save reports a failed write as RuntimeError with it as context)."""
    if isinstance(err, OSError):
        return None if isinstance(err, Timeout) else err
    seen: BaseException | None = err if isinstance(err, RuntimeError) else None
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and not isinstance(seen, Timeout):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _store_error(message: str, cause: OSError | None = None) -> StoreError:
    err = StoreError(message)
    err.errno = cause.errno if cause is not None else None
    return err


def _write_error(path: Path, cause: OSError) -> StoreError:
    hint = "; free some space or set XAI_CACHE_DIR to another disk" if cause.errno == errno.ENOSPC else ""
    return _store_error(f"cannot write {path}: {_reason(cause)}{hint}", cause)


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> tuple[str, int]:
    """:func:`atomic_write`, returning the sha256 and size of the bytes that reached the file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            if hasattr(os, "fchmod"):  # POSIX
                os.fchmod(fh.fileno(), file_mode())
            os.fsync(fh.fileno())
        with open(tmp, "rb") as fh:  # hash what is on disk, not what we meant to write
            digest, size = file_sha256(fh)
        os.replace(tmp, path)
        tmp = None
    except BaseException as err:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        cause = _os_error(err) if isinstance(err, Exception) else None
        if cause is not None and not isinstance(err, StoreError):
            raise _write_error(path, cause) from err
        raise
    return digest, size


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename: readers
    see the old file or the whole new one, never a partial one. The file gets ``0o666 & ~umask``.
    A failed write leaves no trace; an OS error (disk full, read-only, permissions) is raised as
    :class:`~xai_core.errors.StoreError` (one line, also an ``OSError``)."""
    _atomic_write(Path(path), write)
    return Path(path)


def file_sha256(fh: BinaryIO) -> tuple[str, int]:
    """(sha256 hex digest, size) of the rest of an open binary file."""
    sha, size = hashlib.sha256(), 0
    while chunk := fh.read(1 << 20):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def _writer_gone(name: str) -> bool:
    """Whether the temp file ``name`` was made by a process of this host that no longer runs."""
    found = _TMP_WRITER.search(name)
    if found is None or found["host"] != _host():
        return False
    try:
        pid = int(found["pid"])
        if pid <= 0 or pid == os.getpid():
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, OverflowError):  # EPERM: alive, another user's
        return False
    return False


def remove_stale_tmp(directory: Path, max_age_s: float = MAX_TMP_AGE_S) -> int:
    """Delete the ``*.tmp`` files in ``directory`` left by interrupted writes: those whose writer
    (a process of this host) is gone, and any older than ``max_age_s``. Returns how many went;
    errors (a read-only directory) are ignored."""
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(".tmp"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                continue
            if now - st.st_mtime > max_age_s or _writer_gone(entry.name):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d stale temp file(s) in %s", removed, directory)
    return removed


_BUSY = "another process is writing it"


class _Corrupt(Exception):
    """An entry that exists but cannot be used (the message says why)."""


class ArtifactStore:
    """A directory of cached artifacts: one verified (payload, record) pair per (kind, spec), and
    bounded directories of content-named blobs (:meth:`put_blob`).

    Call :meth:`check` once before any work (CLI start, service entry points): it turns a root
    that is a file, cannot be created or is not writable into one clear :class:`StoreError`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # -- paths ---------------------------------------------------------------------------------

    def _kind_dir(self, kind: str) -> Path:
        if not _KIND.fullmatch(kind):
            raise ValueError(f"invalid store kind {kind!r}")
        return self.root / kind

    def path(self, kind: str, spec: dict[str, Any]) -> Path:
        """Where the payload of (kind, spec) lives (its record is the same path with ``.json``)."""
        return self._kind_dir(kind) / f"{spec_hash(kind, spec)}.pt"

    def record_path(self, kind: str, spec: dict[str, Any]) -> Path:
        """Where the record (checksum, kind, spec) of (kind, spec) lives."""
        return self.path(kind, spec).with_suffix(".json")

    # -- checks --------------------------------------------------------------------------------

    def check(self) -> bool:
        """Make sure the root can hold the cache; call it before any work.

        Creates the root when missing. Raises :class:`StoreError` (one line) when the root is a
        file, cannot be created, or is not writable and empty. Returns True when writable, and
        False for a read-only root that already holds entries (logged): those entries still load,
        new results are used for the run but not saved."""
        root = self.root
        self._check_root_is_dir()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _store_error(f"cannot create the cache directory {root}: {_reason(err)}; "
                               "set XAI_CACHE_DIR to a writable directory", err) from None
        try:
            fd, probe = tempfile.mkstemp(dir=root, prefix=f".write-check.{_host()}-{os.getpid()}.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            try:
                has_entries = any(root.iterdir())
            except OSError:
                has_entries = False
            if not has_entries:
                raise _store_error(
                    f"the cache directory {root} is not writable ({_reason(err)}); "
                    "set XAI_CACHE_DIR to a writable directory", err
                ) from None
            log.warning("the cache directory %s is read-only (%s): cached results load, new ones are not saved",
                        root, _reason(err))
            return False
        self._first_use(root)
        return True

    def exists(self, kind: str, spec: dict[str, Any]) -> bool:
        """Whether payload and record are on disk, by two ``stat`` calls (pages ask on every rerun);
        :meth:`load` verifies the checksum, and a corrupt entry is rebuilt by :meth:`get_or_create`."""
        path = self.path(kind, spec)
        try:
            st = os.stat(path)
            if not (stat.S_ISREG(st.st_mode) and st.st_size > 0):
                return False
            return stat.S_ISREG(os.stat(path.with_suffix(".json")).st_mode)
        except (OSError, ValueError):
            return False

    # -- entries -------------------------------------------------------------------------------

    def load(self, kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        """The verified entry, or None when absent. A corrupt entry is removed (unless another
        process is writing it right now, or the store is read-only) and None returned. Needs no
        write access and takes no lock when the entry is sound."""
        path, key = self.path(kind, spec), spec_hash(kind, spec)
        self._first_use(path.parent)
        try:
            return self._read(path, key)
        except _Corrupt as why:
            reason = str(why)
        lock, err = self._acquire(path, blocking=False)  # look again, alone: it may be mid-write
        if lock is None:
            level = logging.INFO if err == _BUSY else logging.WARNING
            log.log(level, "cache entry %s is unusable (%s); ignoring it (%s)", path, reason, err)
            return None
        try:
            return self._read_or_remove(path, key)
        finally:
            lock.release()

    def save(self, kind: str, spec: dict[str, Any], payload: dict[str, Any]) -> Path:
        """Write the entry (payload, then its record) under its lock; returns the payload's path.
        Raises :class:`StoreError` when it cannot be written, leaving nothing behind."""
        path, key = self.path(kind, spec), spec_hash(kind, spec)
        lock, _ = self._acquire(path, blocking=True)  # no lock: the write below says why
        try:
            self._write(path, kind, spec, key, payload)
        finally:
            if lock is not None:
                lock.release()
        return path

    def discard(self, kind: str, spec: dict[str, Any]) -> None:
        """Remove the entry (e.g. it verified but its content does not fit the code); never raises."""
        path = self.path(kind, spec)
        lock, _ = self._acquire(path, blocking=True)
        try:
            self._remove_entry(path)
        finally:
            if lock is not None:
                lock.release()

    def get_or_create(
        self, kind: str, spec: dict[str, Any], build: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Load the verified entry, or build, save and return it; concurrent callers build once.

        A corrupt entry is removed and rebuilt. When only saving fails (disk full, read-only
        store) one warning is logged and the built payload is returned: this run keeps the work,
        the next one rebuilds. Errors raised by ``build`` propagate."""
        path, key = self.path(kind, spec), spec_hash(kind, spec)
        self._first_use(path.parent)
        try:
            payload = self._read(path, key)  # sound entries need neither a lock nor write access
            if payload is not None:
                return payload
        except _Corrupt:
            pass
        lock, err = self._acquire(path, blocking=True)
        try:
            if lock is not None:
                payload = self._read_or_remove(path, key)  # another process may have built it meanwhile
                if payload is not None:
                    return payload
                remove_stale_tmp(path.parent)
            else:  # read-only or unusable root: saving will fail too and say so
                log.info("cannot lock cache entry %s (%s); building it without a lock", path, err)
            payload = build()
            try:
                self._write(path, kind, spec, key, payload)
            except StoreError as save_err:
                log.warning("%s; the result is used for this run only and rebuilt next time", save_err)
            return payload
        finally:
            if lock is not None:
                lock.release()

    # -- blobs ---------------------------------------------------------------------------------

    def put_blob(self, kind: str, data: bytes, suffix: str, *, max_count: int, max_bytes: int) -> Path:
        """Store ``data`` as ``<root>/<kind>/<sha256><suffix>`` (atomically; an intact existing
        copy only gets its mtime refreshed), then evict the least recently put files of ``kind``
        until at most ``max_count`` files and ``max_bytes`` bytes remain, never the one just put.
        Raises :class:`~xai_core.errors.InvalidInputError` when ``data`` alone exceeds
        ``max_bytes`` and :class:`StoreError` when it cannot be written."""
        from .errors import InvalidInputError

        if not _SUFFIX.fullmatch(suffix):
            raise ValueError(f"invalid blob suffix {suffix!r}")
        if max_count < 1 or max_bytes < 1:
            raise ValueError("max_count and max_bytes must be positive")
        if len(data) > max_bytes:
            raise InvalidInputError(f"the file is {len(data):,} bytes; at most {max_bytes:,} bytes are kept")
        directory = self._kind_dir(kind)
        digest = hashlib.sha256(data).hexdigest()
        path = directory / f"{digest}{suffix}"
        self._ensure_dir(directory)
        self._first_use(directory)
        lock, err = self._acquire(directory / ".blobs", blocking=True)
        if lock is None:
            raise _store_error(f"cannot write {directory}: {err}")
        try:
            if not self._blob_intact(path, digest, len(data)):
                self._remove(path)
                written, _ = _atomic_write(path, lambda fh: fh.write(data))
                if written != digest:
                    self._remove(path)
                    raise _store_error(f"cannot write {path}: the bytes on disk differ from the upload")
            else:
                try:
                    os.utime(path)
                except OSError as utime_err:
                    raise _write_error(path, utime_err) from None
            self._evict(directory, keep=path, max_count=max_count, max_bytes=max_bytes)
        finally:
            lock.release()
        return path

    def discard_blob(self, path: str | Path) -> None:
        """Delete one blob written by :meth:`put_blob` (e.g. an upload that was rejected); a
        missing file is fine. Raises ValueError for a path outside ``<root>/<kind>/``."""
        path = Path(path)
        root = self.root.resolve()
        if (path.parent.resolve().parent != root or not _KIND.fullmatch(path.parent.name)
                or not _BLOB.fullmatch(path.name)):
            raise ValueError(f"{path} is not a blob of the store at {self.root}")
        self._remove(path)

    @staticmethod
    def _blob_intact(path: Path, digest: str, size: int) -> bool:
        try:
            with open(path, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    return False
                return file_sha256(fh) == (digest, size)
        except OSError:
            return False

    def _evict(self, directory: Path, keep: Path, max_count: int, max_bytes: int) -> None:
        files = []
        for entry in os.scandir(directory):
            if entry.name.startswith(".") or entry.name.endswith((".tmp", ".lock")) or entry.path == str(keep):
                continue
            with suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    files.append((st.st_mtime_ns, entry.name, st.st_size))
        files.sort(reverse=True)  # most recently put first
        count, total, full = 1, keep.stat().st_size, False
        for _, name, size in files:
            full = full or count + 1 > max_count or total + size > max_bytes
            if not full:  # keep the newest files while they fit; everything older than the first misfit goes
                count, total = count + 1, total + size
                continue
            log.info("evicting %s from %s (bounds: %d files, %d bytes)", name, directory, max_count, max_bytes)
            self._remove(directory / name)

    # -- internals -----------------------------------------------------------------------------

    def _first_use(self, directory: Path) -> None:
        """Remove stale temp files the first time this process touches ``directory``."""
        name = str(directory)
        with _swept_lock:
            if name in _swept:
                return
            _swept.add(name)
        remove_stale_tmp(directory)

    def _check_root_is_dir(self) -> None:
        try:
            not_dir = self.root.exists() and not self.root.is_dir()
        except OSError as err:  # e.g. a parent that cannot be searched
            raise _store_error(f"cannot use the cache directory {self.root}: {_reason(err)}; "
                               "set XAI_CACHE_DIR to a writable directory", err) from None
        if not_dir:
            raise _store_error(f"the cache directory {self.root} is not a directory; set XAI_CACHE_DIR to a directory")

    def _ensure_dir(self, directory: Path) -> None:
        """Create ``directory``; a file squatting a kind directory is removed. StoreError otherwise."""
        self._check_root_is_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return
        except FileExistsError:
            if directory.parent != self.root:
                raise _store_error(f"cannot create {directory}: a file is in the way") from None
        except OSError as err:
            raise _store_error(f"cannot create {directory}: {_reason(err)}", err) from None
        log.warning("cache path %s is not a directory; replacing it", directory)
        self._remove(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _store_error(f"cannot create {directory}: {_reason(err)}", err) from None

    def _acquire(self, path: Path, blocking: bool) -> tuple[FileLock | None, str]:
        """The entry's lock, held; or (None, why) when it is busy or cannot be created (read-only)."""
        try:
            self._ensure_dir(path.parent)
            lock = FileLock(str(path) + ".lock")
            lock.acquire(blocking=blocking)
        except Timeout:
            return None, _BUSY
        except OSError as err:  # StoreError included
            return None, str(err) if isinstance(err, StoreError) else _reason(err)
        return lock, ""

    def _read(self, path: Path, key: str) -> dict[str, Any] | None:
        """The verified payload at ``path``, None when absent; raises _Corrupt (with why) when unusable."""
        record_path = path.with_suffix(".json")
        if not os.path.lexists(path) and not os.path.lexists(record_path):
            return None
        record = self._read_record(record_path, key)
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise _Corrupt("payload is not a regular file")
                if st.st_size != record["size"]:
                    raise _Corrupt(f"payload has {st.st_size} bytes, its record says {record['size']}")
                if file_sha256(fh)[0] != record["sha256"]:
                    raise _Corrupt("payload checksum does not match its record")
                fh.seek(0)
                payload = torch.load(fh, map_location="cpu", weights_only=True)
        except _Corrupt:
            raise
        except FileNotFoundError:
            raise _Corrupt("record without payload") from None
        except Exception as err:  # unreadable, a directory, refused by weights_only, ...
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise _Corrupt(f"payload unreadable: {first}") from None
        if not isinstance(payload, dict) or payload.pop(_COMPLETE, None) is not True:
            raise _Corrupt("payload is not a complete entry")
        return payload

    @staticmethod
    def _read_record(path: Path, key: str) -> dict[str, Any]:
        try:
            with open(path, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    raise _Corrupt("record is not a regular file")
                raw = fh.read(_MAX_RECORD_BYTES + 1)
        except _Corrupt:
            raise
        except FileNotFoundError:
            raise _Corrupt("no record (interrupted, or written by an older version)") from None
        except OSError as err:
            raise _Corrupt(f"record unreadable: {_reason(err)}") from None
        if len(raw) > _MAX_RECORD_BYTES:
            raise _Corrupt("record too large")
        try:
            record = json.loads(raw.decode("utf-8"))
        except Exception:  # bad UTF-8, bad JSON, absurd nesting
            raise _Corrupt("record is not JSON") from None
        if not isinstance(record, dict):
            raise _Corrupt(f"record is a JSON {type(record).__name__}, not an object")
        if not (isinstance(record.get("sha256"), str) and _SHA256.fullmatch(record["sha256"])):
            raise _Corrupt("record has no sha256")
        if type(record.get("size")) is not int or record["size"] < 0:
            raise _Corrupt("record has no size")
        if record.get("key") != key:
            raise _Corrupt("record belongs to another entry")
        return record

    def _read_or_remove(self, path: Path, key: str) -> dict[str, Any] | None:
        """With the entry's lock held: the verified payload, or None after removing what is there."""
        try:
            return self._read(path, key)
        except _Corrupt as why:
            log.warning("cache entry %s is corrupt (%s); rebuilding", path, why)
            self._remove_entry(path)
            return None

    def _write(self, path: Path, kind: str, spec: dict[str, Any], key: str, payload: dict[str, Any]) -> None:
        """Payload, then record, each atomic; on failure neither is left (StoreError)."""
        self._ensure_dir(path.parent)
        record_path = path.with_suffix(".json")
        self._remove(record_path)  # from here until the new record lands the entry reads as absent
        try:
            digest, size = _atomic_write(path, lambda fh: torch.save({**payload, _COMPLETE: True}, fh))
            record = {"kind": kind, "key": key, "sha256": digest, "size": size,
                      "record_format": RECORD_FORMAT, "spec": spec}
            text = json.dumps(record, indent=1, default=str).encode()
            _atomic_write(record_path, lambda fh: fh.write(text))
        except BaseException:
            self._remove(path)
            raise

    def _remove_entry(self, path: Path) -> None:
        self._remove(path)
        self._remove(path.with_suffix(".json"))

    def _remove(self, path: Path) -> None:
        """Delete a file, link or directory tree at ``path``, only inside the store root; never raises."""
        try:
            root = self.root.resolve()
            parent = path.parent.resolve()
            if parent != root and root not in parent.parents:
                log.warning("not removing %s: outside the cache %s", path, root)
                return
            st = os.lstat(path)
        except (OSError, RuntimeError):
            return
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("cannot remove %s: %s", path, _reason(err))
