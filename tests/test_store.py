"""The artifact store: round trips, checksums, corrupt and partial entries rebuilt, write errors,
stale temp files, permissions, root checks, read-only caches, bounded blobs, one build under concurrency."""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

import xai_core.store as store_mod
from xai_core.errors import InvalidInputError, StoreError, XAIError
from xai_core.store import ArtifactStore, atomic_write, remove_stale_tmp, spec_hash

REPO = str(Path(__file__).resolve().parents[1])


def _forge(store: ArtifactStore, kind: str, spec: dict, obj: object) -> Path:
    """Write ``obj`` as the entry's payload with a valid record: what someone able to write the
    cache could do (the checksum does not stop them; ``weights_only`` and validation must)."""
    path = store.path(kind, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    data = path.read_bytes()
    record = {"kind": kind, "key": spec_hash(kind, spec), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    path.with_suffix(".json").write_text(json.dumps(record))
    return path


def _leftovers(directory: Path) -> list[str]:
    """Files in ``directory`` other than lock files."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock")) if directory.exists() else []


def test_spec_hash_is_stable_and_order_free():
    assert spec_hash("k", {"a": 1, "b": [1, 2]}) == spec_hash("k", {"b": [1, 2], "a": 1})
    assert spec_hash("k", {"a": 1}) != spec_hash("k", {"a": 2})
    assert spec_hash("k", {"a": 1}) != spec_hash("other", {"a": 1})


def test_round_trip_and_cache_hit(tmp_path):
    store = ArtifactStore(tmp_path)
    calls = []

    def build():
        calls.append(1)
        return {"w": torch.arange(5.0), "meta": {"acc": 0.9, "name": "x"}}

    first = store.get_or_create("model", {"seed": 0}, build)
    second = store.get_or_create("model", {"seed": 0}, build)
    assert len(calls) == 1
    assert torch.equal(first["w"], second["w"]) and second["meta"] == {"acc": 0.9, "name": "x"}
    assert store.get_or_create("model", {"seed": 1}, build) and len(calls) == 2


def test_record_holds_the_payload_checksum(tmp_path):
    store = ArtifactStore(tmp_path)
    path = store.save("model", {"s": 0}, {"w": torch.arange(3.0)})
    record = json.loads(store.record_path("model", {"s": 0}).read_text())
    data = path.read_bytes()
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["size"] == len(data)
    assert record["key"] == spec_hash("model", {"s": 0}) == path.stem
    assert record["kind"] == "model" and record["spec"] == {"s": 0}


@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_flipped_bytes_are_detected_and_rebuilt(tmp_path, caplog, where):
    """16 flipped bytes anywhere (zip header, tensor data, end) are caught by the checksum."""
    store = ArtifactStore(tmp_path)
    store.save("model", {"s": 1}, {"w": torch.ones(4096), "acc": 0.975})
    path = store.path("model", {"s": 1})
    data = bytearray(path.read_bytes())
    start = min(int(len(data) * where), len(data) - 16)
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    path.write_bytes(bytes(data))
    assert store.exists("model", {"s": 1})  # exists() only stats (cheap); load() verifies
    built = []
    out = store.get_or_create("model", {"s": 1}, lambda: built.append(1) or {"w": torch.zeros(4096), "acc": 0.5})
    assert built == [1] and out["acc"] == 0.5
    assert "checksum" in caplog.text or "bytes" in caplog.text
    assert store.load("model", {"s": 1})["acc"] == 0.5


def test_flipped_tensor_bytes_that_torch_would_load_are_refused(tmp_path):
    """The review's case: flipped weights still unpickle, so only the checksum catches them."""
    store = ArtifactStore(tmp_path)
    store.save("model", {"s": 1}, {"w": torch.zeros(100_000)})
    path = store.path("model", {"s": 1})
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 16] = b"\x7f" * 16
    path.write_bytes(bytes(data))
    assert torch.load(path, weights_only=True)["w"].abs().sum() > 0  # torch loads it silently
    assert store.load("model", {"s": 1}) is None and not path.exists()


def test_corrupt_entry_is_rebuilt(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save("model", {"s": 1}, {"w": torch.ones(3)})
    store.path("model", {"s": 1}).write_bytes(b"\x00garbage, not a torch file")
    assert store.exists("model", {"s": 1})  # exists() only looks at the file (cheap); load() validates
    assert store.load("model", {"s": 1}) is None and not store.exists("model", {"s": 1})
    out = store.get_or_create("model", {"s": 1}, lambda: {"w": torch.zeros(3)})
    assert torch.equal(out["w"], torch.zeros(3))
    assert torch.equal(store.load("model", {"s": 1})["w"], torch.zeros(3))


def test_partial_entry_is_rebuilt(tmp_path):
    """A payload without a record (an interrupted or older writer) is removed."""
    store = ArtifactStore(tmp_path)
    path = store.path("model", {"s": 2})
    path.parent.mkdir(parents=True)
    torch.save({"w": torch.ones(2), "__xai_complete__": True}, path)
    assert not store.exists("model", {"s": 2})
    assert store.load("model", {"s": 2}) is None and not path.exists()


def _record(path: Path) -> Path:
    return path.with_suffix(".json")


def _set_record(value: object):
    return lambda store, path: _record(path).write_text(json.dumps(value))


def _edit_record(**changes):
    def edit(store, path):
        record = json.loads(_record(path).read_text())
        record.update(changes)
        _record(path).write_text(json.dumps(record))
    return edit


def _dir_at(which):
    def make(store, path):
        target = which(path)
        target.unlink()
        target.mkdir()
        (target / "inside").write_text("x")
    return make


def _other_entry(store, path):
    store.save("model", {"other": True}, {"w": torch.full((3,), 9.0)})
    other = store.path("model", {"other": True})
    shutil.copyfile(other, path)
    shutil.copyfile(_record(other), _record(path))


BREAKERS = {
    "record is a list": _set_record([1, 2]),
    "record is a number": _set_record(42),
    "record is null": _set_record(None),
    "record is a string": _set_record("sha256"),
    "record is not JSON": lambda s, p: _record(p).write_text("{"),
    "record is not UTF-8": lambda s, p: _record(p).write_bytes(b"\xff\xfe{}"),
    "record is deeply nested": lambda s, p: _record(p).write_text("[" * 100_000),
    "record without sha256": _edit_record(sha256=None),
    "record with a bad size": _edit_record(size="12"),
    "record missing": lambda s, p: _record(p).unlink(),
    "record is a directory": _dir_at(_record),
    "payload missing": lambda s, p: p.unlink(),
    "payload is empty": lambda s, p: p.write_bytes(b""),
    "payload is a directory": _dir_at(lambda p: p),
    "payload is a list": lambda s, p: _forge(s, "model", {"s": 5}, [torch.ones(3)]),
    "payload is a tensor": lambda s, p: _forge(s, "model", {"s": 5}, torch.ones(3)),
    "payload without completion marker": lambda s, p: _forge(s, "model", {"s": 5}, {"w": torch.ones(3)}),
    "pair of another entry": _other_entry,
}


@pytest.mark.parametrize("breaker", list(BREAKERS))
def test_broken_entry_is_removed_and_rebuilt(tmp_path, caplog, breaker):
    store = ArtifactStore(tmp_path)
    spec = {"s": 5}
    path = store.save("model", spec, {"w": torch.ones(3)})
    BREAKERS[breaker](store, path)

    assert store.load("model", spec) is None  # no traceback
    assert not os.path.lexists(path) and not os.path.lexists(_record(path))  # files and dirs removed
    assert "corrupt" in caplog.text

    BREAKERS[breaker](store, store.save("model", spec, {"w": torch.ones(3)}))
    built = []
    out = store.get_or_create("model", spec, lambda: built.append(1) or {"w": torch.zeros(3)})
    assert built == [1] and torch.equal(out["w"], torch.zeros(3))
    assert torch.equal(store.load("model", spec)["w"], torch.zeros(3)) and path.is_file() and _record(path).is_file()


def test_kind_directory_replaced_by_a_file_is_rebuilt(tmp_path):
    store = ArtifactStore(tmp_path)
    kind_dir = store.path("model", {"s": 1}).parent
    kind_dir.parent.mkdir(parents=True, exist_ok=True)
    kind_dir.write_text("not a directory")
    assert store.load("model", {"s": 1}) is None and not store.exists("model", {"s": 1})
    out = store.get_or_create("model", {"s": 1}, lambda: {"w": torch.ones(1)})
    assert kind_dir.is_dir() and torch.equal(out["w"], torch.ones(1)) and store.load("model", {"s": 1})


def test_removal_never_follows_links_out_of_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    store = ArtifactStore(tmp_path / "store")
    path = store.save("model", {"s": 1}, {"w": torch.ones(1)})
    path.unlink()
    path.symlink_to(outside)  # payload replaced by a link to a directory outside the store
    _record(path).unlink()
    _record(path).symlink_to(outside / "precious.txt")
    assert store.load("model", {"s": 1}) is None
    assert not os.path.lexists(path) and not os.path.lexists(_record(path))  # the links went ...
    assert (outside / "precious.txt").read_text() == "keep me"  # ... not what they pointed at


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_entries_load_weights_only(tmp_path, capsys):
    """A payload holding arbitrary objects is refused (weights_only) even with a valid checksum."""
    store = ArtifactStore(tmp_path)
    path = _forge(store, "model", {"s": 3}, {"x": _Evil(), "__xai_complete__": True})
    assert store.load("model", {"s": 3}) is None and not path.exists()
    assert "unpickled!" not in capsys.readouterr().out
    good = _forge(store, "model", {"s": 4}, {"x": torch.ones(1), "__xai_complete__": True})
    assert store.load("model", {"s": 4}) is not None and good.exists()  # the forge helper is sound


def _disk_full(obj, fh):
    fh.write(b"x" * 5000)  # part of the payload made it to disk
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_on_save_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(StoreError) as info:
        store.save("model", {"s": 1}, {"w": torch.ones(3)})
    message = str(info.value)
    assert isinstance(info.value, XAIError) and isinstance(info.value, OSError)
    assert "no space left on device" in message and "\n" not in message and info.value.errno == errno.ENOSPC
    assert _leftovers(tmp_path / "model") == []


def test_get_or_create_keeps_the_build_when_saving_fails(tmp_path, monkeypatch, caplog):
    store = ArtifactStore(tmp_path)
    monkeypatch.setattr(torch, "save", _disk_full)
    built = []
    out = store.get_or_create("model", {"s": 1}, lambda: built.append(1) or {"w": torch.arange(3.0)})
    assert built == [1] and torch.equal(out["w"], torch.arange(3.0))  # the finished work is returned
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no space left on device" in warnings[0].getMessage()
    assert _leftovers(tmp_path / "model") == []
    monkeypatch.undo()
    store.get_or_create("model", {"s": 1}, lambda: built.append(1) or {"w": torch.arange(3.0)})
    assert built == [1, 1] and store.load("model", {"s": 1}) is not None  # the next run rebuilds and saves


def test_failed_record_write_removes_the_payload(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.EROFS, "Read-only file system")
        real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", replace)
    with pytest.raises(StoreError, match="Read-only file system"):
        store.save("model", {"s": 1}, {"w": torch.ones(3)})
    assert _leftovers(tmp_path / "model") == []  # no payload without its record, no temp files


REAL_WRITE_ERROR = """
import logging, resource, signal, sys, torch
from xai_core.store import ArtifactStore
logging.basicConfig(format="%(levelname)s %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))  # the kernel refuses bigger files: EFBIG
out = ArtifactStore(sys.argv[1]).get_or_create("big", {"n": 1}, lambda: {"w": torch.ones(200_000)})
assert out["w"].shape == (200_000,)
print("RETURNED")
"""


def test_real_write_error_from_the_kernel(tmp_path):
    """A write refused by the kernel inside torch.save (which wraps it in RuntimeError) is one warning."""
    proc = subprocess.run([sys.executable, "-c", REAL_WRITE_ERROR, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0 and "RETURNED" in proc.stdout, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "File too large" in warnings[0] and "Traceback" not in proc.stderr, proc.stderr
    assert _leftovers(tmp_path / "big") == []


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        store = ArtifactStore(tmp_path)
        path = store.save("model", {"s": 1}, {"w": torch.ones(1)})
        blob = store.put_blob("uploads", b"data", ".pt", max_count=2, max_bytes=100)
        plain = atomic_write(tmp_path / "plain.bin", lambda fh: fh.write(b"x"))
        modes = {p.name: p.stat().st_mode & 0o777 for p in (path, _record(path), blob, plain)}
        assert set(modes.values()) == {0o640}, modes
        os.umask(0o022)
        path = store.save("model", {"s": 2}, {"w": torch.ones(1)})
        assert path.stat().st_mode & 0o777 == _record(path).stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


SLOW_WRITER = """
import sys, time, torch
from xai_core.store import ArtifactStore
torch.save = lambda obj, fh: time.sleep(600)  # killed while writing: its temp file stays empty
ArtifactStore(sys.argv[1]).save("job", {"k": 1}, {"v": torch.zeros(1)})
"""


def _start_slow_writer(root: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(root)], cwd=REPO)
    deadline = time.time() + 240
    while time.time() < deadline:
        found = list((root / "job").glob("*.tmp")) if (root / "job").is_dir() else []
        if found:
            return proc, found[0]
        assert proc.poll() is None, "the writer died"
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the writer made no temp file")


def test_temp_files_of_killed_writers_are_removed(tmp_path):
    root = tmp_path / "store"
    proc, tmp = _start_slow_writer(root)
    try:
        assert tmp.stat().st_size == 0
        assert remove_stale_tmp(root / "job") == 0 and tmp.exists()  # its writer still runs: kept
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert tmp.exists()  # killed mid-write: the empty temp file is left behind ...
    out = ArtifactStore(root).get_or_create("job", {"k": 1}, lambda: {"v": torch.ones(1)})  # first use here
    assert not tmp.exists() and torch.equal(out["v"], torch.ones(1))  # ... and cleared on the next use
    assert not list((root / "job").glob("*.tmp")) and ArtifactStore(root).load("job", {"k": 1}) is not None


def test_old_temp_files_are_removed_before_a_build(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save("model", {"s": 1}, {"w": torch.ones(1)})  # the directory is now in use by this process
    old = tmp_path / "model" / "abc.pt1234.tmp"  # an older writer's name: no pid, judged by age
    fresh = tmp_path / "model" / "def.pt5678.tmp"
    old.write_bytes(b"")
    fresh.write_bytes(b"")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    store.get_or_create("model", {"s": 2}, lambda: {"w": torch.ones(1)})
    assert not old.exists() and fresh.exists()


def test_env_var_sets_root(monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "c"))
    assert ArtifactStore().root == tmp_path / "c"


def test_check_creates_a_missing_root(tmp_path):
    store = ArtifactStore(tmp_path / "a" / "b")
    assert store.check() is True and (tmp_path / "a" / "b").is_dir()
    assert not [p for p in (tmp_path / "a" / "b").iterdir()]  # the write probe is gone


def test_cache_root_that_is_a_file(monkeypatch, tmp_path, caplog):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "file"))
    store = ArtifactStore()
    with pytest.raises(StoreError, match="is not a directory") as info:
        store.check()
    assert "\n" not in str(info.value)
    assert store.load("model", {"s": 1}) is None and not store.exists("model", {"s": 1})
    out = store.get_or_create("model", {"s": 1}, lambda: {"w": torch.ones(1)})  # no traceback: built, not saved
    assert torch.equal(out["w"], torch.ones(1)) and (tmp_path / "file").read_text() == "x"
    with pytest.raises(StoreError, match="cannot create the cache directory"):
        ArtifactStore(tmp_path / "file" / "sub").check()


READ_ONLY = """
import logging, sys, torch
from xai_core.errors import StoreError
from xai_core.store import ArtifactStore
logging.basicConfig(format="%(levelname)s %(message)s")
store = ArtifactStore(sys.argv[1])
assert store.check() is False  # read-only but holds entries: usable
built = []
out = store.get_or_create("m", {"s": 1}, lambda: built.append(1) or {"w": torch.zeros(1)})
assert not built and float(out["w"][0]) == 7.0  # the stored entry, verified without a lock
out = store.get_or_create("m", {"s": 2}, lambda: built.append(1) or {"w": torch.ones(1)})
assert built == [1] and float(out["w"][0]) == 1.0  # built, used, not saved
assert store.load("m", {"s": 3}) is None  # corrupt and not removable: ignored
try:
    ArtifactStore(sys.argv[2]).check()
except StoreError as err:
    print("EMPTY:", err)
print("DONE")
"""


def test_read_only_cache(tmp_path):
    """Entries of a read-only cache load; missing ones are built but not saved; an empty one fails check()."""
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop root, which ignores permission bits")
    base = Path(tempfile.mkdtemp(dir="/tmp" if as_root else tmp_path))  # traversable by nobody
    try:
        os.chmod(base, 0o755)
        store = ArtifactStore(base / "cache")
        store.save("m", {"s": 1}, {"w": torch.full((1,), 7.0)})
        bad = store.save("m", {"s": 3}, {"w": torch.ones(1)})
        bad.write_bytes(bad.read_bytes()[:-16] + b"\x00" * 16)
        (base / "empty").mkdir()
        for d in (base / "cache", base / "cache" / "m", base / "empty"):
            os.chmod(d, 0o555)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_root else []
        proc = subprocess.run([*prefix, sys.executable, "-c", READ_ONLY, str(base / "cache"), str(base / "empty")],
                              cwd=REPO, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(base)})
        assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stderr
        assert "Traceback" not in proc.stderr
        empty_line = next(line for line in proc.stdout.splitlines() if line.startswith("EMPTY:"))
        assert "is not writable" in empty_line and "XAI_CACHE_DIR" in empty_line
        assert bad.exists()  # nothing was removed from the read-only cache
        assert not store.exists("m", {"s": 2})
    finally:
        for d in (base / "cache", base / "cache" / "m", base / "empty"):
            if d.exists():
                os.chmod(d, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_put_blob_is_named_by_content_and_refreshed(tmp_path):
    store = ArtifactStore(tmp_path)
    path = store.put_blob("uploads", b"model bytes", ".pt", max_count=5, max_bytes=1000)
    assert path.name == hashlib.sha256(b"model bytes").hexdigest() + ".pt" and path.read_bytes() == b"model bytes"
    os.utime(path, (1000, 1000))
    assert store.put_blob("uploads", b"model bytes", ".pt", max_count=5, max_bytes=1000) == path
    assert path.stat().st_mtime > 1000  # recently used again
    path.write_bytes(b"model bytez")  # a damaged copy is replaced, not trusted
    store.put_blob("uploads", b"model bytes", ".pt", max_count=5, max_bytes=1000)
    assert path.read_bytes() == b"model bytes"
    assert _leftovers(tmp_path / "uploads") == [path.name]


def test_put_blob_evicts_least_recently_used(tmp_path):
    store = ArtifactStore(tmp_path)
    bounds = {"max_count": 3, "max_bytes": 1000}
    paths = {}
    for i, name in enumerate("abc"):
        paths[name] = store.put_blob("uploads", name.encode() * 10, ".pt", **bounds)
        os.utime(paths[name], (1000 + i, 1000 + i))  # a, b, c: oldest first
    paths["d"] = store.put_blob("uploads", b"d" * 10, ".pt", **bounds)
    assert not paths["a"].exists() and all(paths[n].exists() for n in "bcd")  # count bound: a went
    store.put_blob("uploads", b"b" * 10, ".pt", **bounds)  # b used again: c is now the oldest
    paths["e"] = store.put_blob("uploads", b"e" * 10, ".pt", **bounds)
    assert {p.name for p in (tmp_path / "uploads").glob("*.pt")} == {paths[n].name for n in "bde"}

    store.put_blob("uploads", b"f" * 10, ".pt", max_count=10, max_bytes=25)  # byte bound: f and b (newest)
    assert len(list((tmp_path / "uploads").glob("*.pt"))) == 2

    small = store.put_blob("lru", b"s" * 5, ".pt", max_count=10, max_bytes=40)
    os.utime(small, (1000, 1000))
    large = store.put_blob("lru", b"L" * 30, ".pt", max_count=10, max_bytes=40)
    os.utime(large, (2000, 2000))
    newest = store.put_blob("lru", b"n" * 15, ".pt", max_count=10, max_bytes=40)
    # 15 + 30 is too much: the large file goes, and so does the older small one (least recently used
    # first), though it would fit on its own
    assert [p.name for p in (tmp_path / "lru").glob("*.pt")] == [newest.name]
    big = store.put_blob("uploads", b"g" * 25, ".pt", max_count=10, max_bytes=25)  # never the new one
    assert [p.name for p in (tmp_path / "uploads").glob("*.pt")] == [big.name]
    with pytest.raises(InvalidInputError, match="at most 25 bytes"):
        store.put_blob("uploads", b"h" * 26, ".pt", max_count=10, max_bytes=25)
    assert [p.name for p in (tmp_path / "uploads").glob("*.pt")] == [big.name]


def test_discard_blob(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    path = store.put_blob("uploads", b"rejected", ".pt", max_count=2, max_bytes=100)
    store.discard_blob(path)
    assert not path.exists()
    store.discard_blob(path)  # already gone: fine
    outside = tmp_path / ("0" * 64 + ".pt")
    outside.write_bytes(b"x")
    with pytest.raises(ValueError):
        store.discard_blob(outside)
    with pytest.raises(ValueError):
        store.discard_blob(tmp_path / "store" / "uploads" / "../../x.pt")
    assert outside.exists()
    with pytest.raises(ValueError):
        store.put_blob("../up", b"x", ".pt", max_count=1, max_bytes=10)
    with pytest.raises(ValueError):
        store.put_blob("uploads", b"x", "/../x", max_count=1, max_bytes=10)


WORKER = """
import sys, time, torch
from xai_core.store import ArtifactStore

def build():
    with open(sys.argv[2], "a") as fh:
        fh.write("built\\n")
    time.sleep(0.5)
    return {"v": torch.tensor([42])}

out = ArtifactStore(sys.argv[1]).get_or_create("job", {"same": True}, build)
assert int(out["v"]) == 42
"""


def test_concurrent_writers_build_once(tmp_path):
    """Three processes ask for the same entry at once: it is built once, no temp files remain."""
    counter = tmp_path / "count.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "store"), str(counter)], cwd=REPO)
        for _ in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert counter.read_text().count("built") == 1
    assert not list((tmp_path / "store").rglob("*.tmp"))
