"""The user-model jail: hostile model files are refused in one line and never touch the server.

Every hostile file is built here, at test time, from a good export (nothing that runs is shipped).
Each attack would write a marker file if the code it carries ran anywhere; the marker must never
appear. The jail itself is tested on its own (each forbidden system call fails), the verdict is
tested against fake workers that lie, and the server process is checked to open no user file."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from xai_core.data.base import DatasetInfo
from xai_core.errors import InvalidInputError
from xai_core.models import jail, user_model
from xai_core.models.user_model import ModelBudgetExceeded, load_user_model

from model_files import rewrite_zip

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

INFO = DatasetInfo("synthetic", "smoke", 28, 1, 10, tuple("0123456789"), (0.2,), (0.3,), False)
IMAGES = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.5
MODELS_DIR = Path(jail.__file__).parent


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _export() -> bytes:
    torch.manual_seed(0)
    buf = io.BytesIO()
    ep = torch.export.export(Tiny().eval(), (IMAGES[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, buf)
    return buf.getvalue()


def _edit_json(suffix: str, change):
    def edit(name: str, blob: bytes) -> bytes:
        if name.endswith(suffix):
            doc = json.loads(blob)
            change(doc)
            return json.dumps(doc).encode()
        return blob
    return edit


class _Touch:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _touch_code(marker: Path) -> str:
    return f"__import__('pathlib').Path('{marker}').touch()"


def _expr_str(good: bytes, marker: Path) -> bytes:
    """torch.export.load passes expr_str to sympy.sympify (an eval)."""
    def edit(name: str, blob: bytes) -> bytes:
        if name.endswith("models/model.json"):
            return blob.replace(b'"Symbol(\'s77\'', f'"{_touch_code(marker)} or Symbol(\'s77\''.encode(), 1)
        return blob
    return rewrite_zip(good, edit)


def _guards_code(good: bytes, marker: Path) -> bytes:
    """``.module()`` exec-s guards_code, which then runs on every forward pass."""
    return rewrite_zip(good, _edit_json("models/model.json",
                                     lambda doc: doc.__setitem__("guards_code", [_touch_code(marker)])))


def _opaque(good: bytes, marker: Path, path_name: str) -> bytes:
    """A constants table entry with use_pickle false whose file torch unpickles by its prefix."""
    entry = {"path_name": path_name, "is_param": False, "use_pickle": False}
    edit = _edit_json("constants_config.json", lambda doc: doc["config"].__setitem__("c", entry))
    return rewrite_zip(good, edit, {f"archive/data/constants/{path_name}": pickle.dumps(_Touch(marker))})


def _dotdot_member(good: bytes, marker: Path) -> bytes:
    return rewrite_zip(good, lambda n, b: b, {"archive/data/weights/../../evil.pkl": pickle.dumps(_Touch(marker))})


#: name -> (maker(good bytes, marker path), substring of the one-line refusal)
HOSTILE = {
    "expr_str.pt2": (_expr_str, "symbolic expression"),
    "guards_code.pt2": (_guards_code, "guards_code"),
    "opaque_obj.pt2": (lambda g, m: _opaque(g, m, "opaque_obj_0/p"), "not part of a plain exported program"),
    "opaque_dotdot.pt2": (lambda g, m: _opaque(g, m, "tensor_0/../opaque_obj_0"), "unsafe path"),
    "dotdot_member.pt2": (_dotdot_member, "unsafe path"),
}


@pytest.fixture(scope="module")
def good_pt2() -> bytes:
    user_model.prestart_worker()  # later checks find a warm worker
    return _export()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pt2_is_refused_in_one_line_and_runs_nothing(good_pt2, tmp_path, name):
    marker = tmp_path / "marker"
    make, expected = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(make(good_pt2, marker))
    with pytest.raises(InvalidInputError) as err:
        load_user_model(path, INFO, IMAGES)
    message = str(err.value)
    assert message.startswith(f"{name} was refused") and expected in message, message
    assert "\n" not in message and str(tmp_path) not in message
    assert not marker.exists()


def test_hostile_pt2_upload_is_refused_and_not_kept(good_pt2, tmp_path):
    """The dashboard's upload path: refused in one line, the file deleted, no marker."""
    from xai_core.services import save_user_model
    from xai_core.store import ArtifactStore

    store = ArtifactStore(tmp_path / "cache")
    marker = tmp_path / "marker"
    for name, (make, expected) in HOSTILE.items():
        with pytest.raises(InvalidInputError, match=expected):
            save_user_model(make(good_pt2, marker), name, "hard_mnist", "smoke", store=store)
    assert not list((store.root / user_model.USER_MODELS).glob("*.pt2")) and not marker.exists()


def test_the_good_export_loads(good_pt2, tmp_path):
    """The hostile files above are one edit away from this one, which is accepted."""
    (tmp_path / "good.pt2").write_bytes(good_pt2)
    model = load_user_model(tmp_path / "good.pt2", INFO, IMAGES)
    torch.manual_seed(0)
    with torch.no_grad():
        assert torch.allclose(model(IMAGES), Tiny().eval()(IMAGES), atol=1e-5)


# -- the jail on its own ---------------------------------------------------------------------------
ESCAPES = {
    "open for write": "open('/tmp/xai-jail-escape-{tag}', 'w')",
    "open for read": "open('/etc/hostname').read()",
    "mknod": "os.mknod('/tmp/xai-jail-escape-{tag}')",
    "utime": "os.utime('/tmp')",
    "chown": "os.lchown('/tmp', 0, 0)",
    "setxattr": "os.setxattr('/tmp', 'user.x', b'1')",
    "stat /etc/shadow": "os.stat('/etc/shadow')",
    "signal the parent": "os.kill(os.getppid(), 0)",
    "socket": "__import__('socket').socket()",
    "fork": "os.fork()",
    "exec": "os.execv('/bin/sh', ['sh', '-c', 'touch /tmp/xai-jail-escape-{tag}'])",
    "list the root": "os.listdir('/')",
    "write through a mapped file left open": "__import__('mmap').mmap(KEPT, 4096).write(b'X')",
    "raise the memory limit": "__import__('resource').setrlimit(__import__('resource').RLIMIT_AS, (-1, -1))",
}


def test_jail_refuses_every_escape(tmp_path):
    """Code that runs inside the jail (as if a loader had a hole) can compute and write to stdout,
    and each of these fails."""
    tag = os.getpid()
    probes = "\n".join(f"""
try:
    {code.format(tag=tag)}
    print({what!r}, 'ALLOWED', flush=True)
except BaseException as err:
    print({what!r}, 'refused', type(err).__name__, flush=True)""" for what, code in ESCAPES.items())
    root = tmp_path / "root"
    root.mkdir()
    kept = tmp_path / "kept"  # a file the process had open before the jail
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(MODELS_DIR)!r})
        import jail
        KEPT = os.open({str(kept)!r}, os.O_RDWR | os.O_CREAT)
        os.write(KEPT, bytes(4096))
        print("jailed as", jail.enter_jail(2**30, {str(root)!r}), flush=True)
        """) + probes + "\nprint('done', sum(range(10)), flush=True)\n"
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert lines and lines[0].startswith("jailed as"), out.stdout + out.stderr
    assert lines[-1] == "done 45", out.stdout + out.stderr
    verdicts = {what: next((line for line in lines if line.startswith(f"{what} ")), "") for what in ESCAPES}
    assert all(" refused " in v for v in verdicts.values()), out.stdout
    assert not list(Path("/tmp").glob(f"xai-jail-escape-{tag}*")) and kept.read_bytes() == bytes(4096)


# -- the verdict is the server's own -------------------------------------------------------------
FAKE = """
import os, sys, time
sys.path.insert(0, {models!r})
import numpy as np, wire
mode = sys.argv[1]
def read(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c: os._exit(0)
        b += c
    return b
def send(h, t=()):
    os.write(1, wire.encode(h, t))
send({{"ok": True, "ready": True}})
wire.decode(read, 1 << 40)
send({{"ok": True}})
while True:
    h, arrays = wire.decode(read, 1 << 40)
    b = len(arrays[0])
    if mode == "nan":
        send({{"ok": True, "dtype": "float32", "shape": [b, 10]}}, [np.full((b, 10), np.nan, np.float32)])
    elif mode == "line":
        os.write(1, b'{{"ok": true}}\\n')
    elif mode == "huge":
        os.write(1, wire.MAGIC + (40).to_bytes(4, "big") + b'{{"ok": true, "tensors": [[99999999, 999]]}}')
    elif mode == "stall":
        time.sleep(3600)
    elif mode == "spin":
        while True: pass
"""


@pytest.mark.parametrize("mode,expected", [("nan", "NaN"), ("line", "malformed reply"), ("huge", "malformed reply"),
                                           ("stall", "no answer within"), ("spin", "s of CPU time")])
def test_a_lying_or_stuck_worker_is_refused(tmp_path, monkeypatch, mode, expected):
    """The worker's word is never the verdict: a worker that claims success with NaN logits, prints
    a bare ``{"ok": true}``, announces a huge reply, stalls or spins is refused in one line."""
    fake = tmp_path / "fake_worker.py"
    fake.write_text(FAKE.format(models=str(MODELS_DIR)))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read by the fake")
    monkeypatch.setattr(user_model, "WORKER_COMMAND", [sys.executable, str(fake), mode])
    # the wall-clock backstop only for the worker that uses no CPU; a spinning one must be caught by its
    # CPU time however busy the machine is
    monkeypatch.setattr(user_model, "WALL_FLOOR_S", 3.0 if mode == "stall" else 600.0)
    with pytest.raises(InvalidInputError) as err:
        load_user_model(model, INFO, IMAGES, cpu_limit=0.3)
    assert expected in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_zip_bomb_costs_the_server_nothing(tmp_path):
    """A small archive that inflates past the limit is refused in the worker; the server's peak
    memory grows by under 50 MB."""
    bomb = tmp_path / "bomb.pt2"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/archive_format", "pt2")
        with zf.open("archive/data/weights/weight_0", "w", force_zip64=True) as member:
            chunk = bytes(1 << 24)
            for _ in range(160):  # 2.5 GB of zeros, about 2.5 MB on disk
                member.write(chunk)
    assert bomb.stat().st_size < 5 * 2**20
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark
    before = _peak_rss()
    with pytest.raises(InvalidInputError, match="zip bomb"):
        load_user_model(bomb, INFO, IMAGES)
    assert _peak_rss() - before < 50 * 2**20


def _peak_rss() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) * 1024


def test_the_server_never_opens_the_model_file(tmp_path):
    """Checking, loading and explaining (forward and backward) open no user file in this process:
    every file open is recorded by an audit hook."""
    path = tmp_path / "seen.pt2"
    path.write_bytes(_export())
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    try:
        model = load_user_model(path, INFO, IMAGES)
        x = IMAGES.clone().requires_grad_(True)
        model(x)[:, 2].sum().backward()
    finally:
        watching[0] = False
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not [p for p in opened if Path(p).name == path.name], opened


class SlowOnBright(nn.Module):
    """Fast on the validation images (dim), endless on a bright image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = 0
        if bool(x.mean() > 0.9):
            while i >= 0:
                i = (i + 1) % 1000
        return x.mean((2, 3)).repeat(1, 10) * torch.arange(10.0)


def test_explaining_has_a_cpu_budget_and_frees_the_worker(tmp_path, monkeypatch):
    """A model that passed validation but loops on other images is stopped after its per-pass CPU
    budget with one line; the next pass starts a fresh worker and works."""
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(SlowOnBright()), buf)
    path = tmp_path / "slow.pt"
    path.write_bytes(buf.getvalue())
    model = load_user_model(path, INFO, IMAGES)
    monkeypatch.setattr(user_model, "PASS_CPU_S", 1.0)
    with pytest.raises(ModelBudgetExceeded) as err:
        model(torch.ones(2, 1, 28, 28))
    assert str(err.value).startswith("slow.pt: one pass over 2 image(s) used more than 1 s of CPU time")
    assert model(IMAGES).shape == (4, 10)


@pytest.mark.parametrize("raw, expected", [("", 120.0), ("7.5", 7.5), ("abc", 120.0), ("-3", 120.0), ("inf", 120.0)])
def test_budgets_from_the_environment_are_positive_seconds(monkeypatch, raw, expected):
    monkeypatch.setenv("XAI_MODEL_CPU_S", raw)
    assert user_model._seconds("XAI_MODEL_CPU_S", 120.0) == expected
