"""The artifact store: round trips, corruption and partial entries rebuilt, one build under concurrency."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from xai_core.store import ArtifactStore, spec_hash


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
    """A file without the completion marker (e.g. written by an older, interrupted writer) is rebuilt."""
    store = ArtifactStore(tmp_path)
    path = store.path("model", {"s": 2})
    path.parent.mkdir(parents=True)
    torch.save({"w": torch.ones(2)}, path)
    assert store.load("model", {"s": 2}) is None and not path.exists()


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_entries_load_weights_only(tmp_path):
    """A payload holding arbitrary objects is refused (weights_only) and treated as corrupt."""
    store = ArtifactStore(tmp_path)
    path = store.path("model", {"s": 3})
    path.parent.mkdir(parents=True)
    torch.save({"x": _Evil(), "__xai_complete__": True}, path)
    assert store.load("model", {"s": 3}) is None


def test_env_var_sets_root(monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "c"))
    assert ArtifactStore().root == tmp_path / "c"


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
    root = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "store"), str(counter)], cwd=root)
        for _ in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert counter.read_text().count("built") == 1
    assert not list((tmp_path / "store").rglob("*.tmp"))
