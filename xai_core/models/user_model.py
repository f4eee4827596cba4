"""Users' own classifiers — ONNX (``.onnx``), ``torch.export`` (``.pt2``) and, from the command
line, TorchScript (``.pt``) — run in a jail, never in the server.

The server never opens, parses or deserialises a user's model file. A :class:`ModelWorker` (one
long-lived process per model file, :mod:`.jail`, forked from a fork server, :class:`_Zygote`, that
imported torch and warmed up the loaders once) reads the file, confines itself (seccomp allow-list,
no privileges, an empty root, rlimits), then checks and loads the model and answers forward and
backward passes as plain float32 tensors over a socket (:mod:`.wire`). The server sees a
:class:`JailedNet`, an ``nn.Module`` whose forward and backward call the worker, wrapped in
:class:`~.normalize.Normalized` like every black box; gradient methods and metrics work unchanged.

Every reply is untrusted: its framing, shape, dtype, size and finiteness are checked here, and
acceptance (:func:`check_user_model`) comes from this process's own checks on returned tensors —
batch 1 and batch 4 agree, finite float (B, classes) logits on real images of the dataset, a
gradient — never from anything the worker says about itself.

Budgets are **CPU time**, not wall-clock time, so a verdict does not depend on what else the
machine runs: each request (loading, one forward, one backward) may use :data:`LOAD_CPU_S` /
:data:`PASS_CPU_S` seconds of the worker's CPU; past that the worker is killed and the caller gets
one line (the next call starts a fresh worker). A wall-clock backstop (:data:`WALL_FACTOR` × the
budget) only catches a worker that stops being scheduled (e.g. blocked). User models have no
hookable layers (``cam_layer = None``): Grad-CAM, FullGrad, IBA and InputIBA refuse them.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.base import DatasetInfo
from ..errors import InvalidInputError
from . import jail, wire
from .normalize import Normalized

def _seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment; the default (with a warning) otherwise."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        logging.getLogger(__name__).warning("%s=%r is not a positive number of seconds; using %g", name, raw, default)
        return default
    return value


#: CPU seconds a worker may spend loading and checking a model, and on each validation pass
LOAD_CPU_S = _seconds("XAI_MODEL_LOAD_CPU_S", 30.0)
#: CPU seconds one forward or backward pass of an accepted model may take (any batch size)
PASS_CPU_S = _seconds("XAI_MODEL_CPU_S", 120.0)
#: the wall-clock backstop is this many times the CPU budget, and at least WALL_FLOOR_S (it only
#: catches a worker that is not scheduled or blocks)
WALL_FACTOR, WALL_FLOOR_S = 10.0, 60.0
#: wall-clock seconds for a worker's own start-up (importing torch; nothing of the user's runs yet)
STARTUP_LIMIT_S = 600.0
#: bytes of address space a worker may add once jailed
MEMORY_LIMIT = 4 * 2**30
#: the largest model file accepted
MAX_MODEL_BYTES = 512 * 2**20
#: the most bytes of tensors the server takes back in one reply
MAX_REPLY_BYTES = 2**30
#: live workers kept (least recently used closed beyond it)
MAX_WORKERS = 4
#: formats the dashboard accepts (TorchScript is for the command line only)
UPLOAD_FORMATS = (".onnx", ".pt2")
#: the store kind of uploaded model files
USER_MODELS = "user_models"
#: None: workers are forked by the fork server (:class:`_Zygote`); a command instead starts each
#: worker as that program on a socket (tests run lying fakes, scripts/measure_jail_syscalls.py strace)
WORKER_COMMAND: list[str] | None = None
FORMATS = {".onnx": "onnx", ".pt2": "export", ".pt": "torchscript", ".ts": "torchscript", ".pth": "torchscript"}


class Refused(Exception):
    """A model we will not run; ``str()`` is one line naming the cause (``<label> was refused: …``)."""


class ModelBudgetExceeded(InvalidInputError):
    """A user model's pass used more than its CPU budget; its worker was stopped."""


def model_format(name: str) -> str:
    """The format of a model file by its suffix; one line naming the accepted ones otherwise."""
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"{Path(name).name}: unknown model format; use .onnx (recommended), .pt2 "
                                "(torch.export.save) or .pt (TorchScript, command line only)")
    return fmt


@dataclass(frozen=True)
class ModelFile:
    """A user's model file as the server knows it, without opening it: path, format, the name
    messages use, its class count and a stamp (size, mtime, inode) so that a changed file is a new model."""

    path: str
    fmt: str
    label: str
    classes: int
    stamp: tuple[int, int, int]

    @classmethod
    def of(cls, path: str | Path, classes: int, name: str | None = None) -> ModelFile:
        path = Path(path)
        label = name or path.name
        fmt = model_format(label)
        try:
            st = path.stat()
        except OSError:
            raise InvalidInputError(f"model file not found: {label}") from None
        if not path.is_file():
            raise InvalidInputError(f"model file not found: {label}")
        if st.st_size == 0 or st.st_size > MAX_MODEL_BYTES:
            raise InvalidInputError(f"{label} is {'empty' if not st.st_size else f'over {MAX_MODEL_BYTES >> 20} MB'}")
        return cls(str(path.resolve()), fmt, label, int(classes), (st.st_size, st.st_mtime_ns, st.st_ino))


# -- one worker process --------------------------------------------------------------------------
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class _Zygote:
    """The fork server (``jail.py zygote``): started once per server process, it imports torch and
    warms up every format's loader, then forks a worker per request in milliseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._ready = False

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen([sys.executable, "-I", jail.__file__, "zygote", str(theirs.fileno())],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      pass_fds=(theirs.fileno(),), env=_ENV, start_new_session=True)
        theirs.close()
        self._ctrl, self._ready = ours, False

    def fork(self) -> tuple[int, socket.socket]:
        """A new worker: its pid and our end of its socket."""
        with self._lock:
            self._start()
            if not self._ready:
                self._ready = _recv_exact(self._ctrl, 1, STARTUP_LIMIT_S) == b"R"
            mine, theirs = socket.socketpair()
            try:
                socket.send_fds(self._ctrl, [b"F"], [theirs.fileno()])
                pid = int.from_bytes(_recv_exact(self._ctrl, 8, STARTUP_LIMIT_S), "big")
            except OSError:
                mine.close()
                self._proc.kill()
                raise Refused("the model jail's fork server did not answer") from None
            finally:
                theirs.close()
            return pid, mine

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
                self._ctrl.close()
                self._proc = None


def _recv_exact(sock: socket.socket, n: int, timeout: float) -> bytes:
    sock.settimeout(timeout)
    try:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data
    finally:
        sock.settimeout(None)


ZYGOTE = _Zygote()


class ModelWorker:
    """One jailed process serving one model file; requests are serialised by a lock."""

    def __init__(self) -> None:
        self._root = tempfile.mkdtemp(prefix="xai-jail-")  # empty; the worker's chroot / working directory
        os.chmod(self._root, 0o555)
        self._proc: subprocess.Popen | None = None
        if WORKER_COMMAND is None:
            self.pid, self._sock = ZYGOTE.fork()
        else:
            self._sock, theirs = socket.socketpair()
            self._proc = subprocess.Popen(WORKER_COMMAND, stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL,
                                          cwd=self._root, env=_ENV)
            theirs.close()
            self.pid = self._proc.pid
        try:
            self._pidfd: int | None = os.pidfd_open(self.pid)
        except OSError:  # gone already, or no pidfd: signals by pid
            self._pidfd = None
        self._lock = threading.RLock()  # one request at a time; close() waits for the one in flight
        self._ready = self._closed = False
        self.model: ModelFile | None = None
        self.jail = ""

    @property
    def alive(self) -> bool:
        if self._closed:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        if self._pidfd is None:  # no pidfd (kernel < 5.3): by pid
            try:
                os.kill(self.pid, 0)
            except OSError:
                return False
            return True
        return not select.select([self._pidfd], [], [], 0)[0]  # a pidfd is readable once its process ended

    def wait_ready(self) -> None:
        """Block until the worker has imported torch (a hang guard only: nothing of the user's runs yet)."""
        if not self._ready:
            header, _ = self._reply(None, STARTUP_LIMIT_S, wall_only=True, what="start")
            self._ready = bool(header.get("ready"))
            if not self._ready:
                raise Refused("the model jail did not start")

    def load(self, model: ModelFile, cpu_s: float) -> None:
        """Have the worker read, check and load ``model``; :class:`Refused` with its reason otherwise."""
        with self._lock:
            self.wait_ready()
            self._send({"op": "load", "path": model.path, "fmt": model.fmt, "memory": MEMORY_LIMIT,
                        "max_bytes": MAX_MODEL_BYTES, "root": self._root})
            header, _ = self._reply(model, cpu_s, what="loading and checking it")
            if header.get("ok") is not True:
                raise Refused(_text(header.get("error")) or "the model jail refused it")
            self.model, self.jail = model, _text(header.get("jail"))

    def call(self, header: dict[str, Any], tensors: list[np.ndarray], cpu_s: float,
             what: str) -> tuple[dict[str, Any], list[np.ndarray]]:
        """One request; the reply as sent (the caller checks it)."""
        with self._lock:
            if not self.alive:
                raise Refused(self._died())
            self._send(header, tensors)
            return self._reply(self.model, cpu_s, what=what)

    def close(self) -> None:
        """Kill the worker (once: its pid is never signalled after this)."""
        with self._lock:
            if self._closed:
                return
            if self.alive:
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                elif self._proc is not None:
                    self._proc.kill()
                else:
                    os.kill(self.pid, signal.SIGKILL)
            self._closed = True
            if self._proc is not None:
                self._proc.wait()
            if self._pidfd is not None:
                os.close(self._pidfd)
            self._sock.close()
            shutil.rmtree(self._root, ignore_errors=True)

    # -- talking to it ---------------------------------------------------------------------------
    def _send(self, header: dict[str, Any], tensors: list[np.ndarray] = ()) -> None:
        try:
            self._sock.sendall(wire.encode(header, tensors))
        except OSError:
            raise Refused(self._died()) from None

    def _reply(self, model: ModelFile | None, cpu_s: float, *, what: str,
               wall_only: bool = False) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Read one reply within ``cpu_s`` seconds of the worker's CPU time (and the wall backstop);
        kill the worker past either."""
        fd = self._sock.fileno()
        cpu0, t0 = _cpu_seconds(self.pid), time.monotonic()
        wall = cpu_s if wall_only else max(WALL_FLOOR_S, WALL_FACTOR * cpu_s)

        def read(n: int) -> bytes:
            chunks, left = [], n
            while left:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    chunk = os.read(fd, min(left, 1 << 20))
                    if not chunk:
                        raise Refused(self._died())
                    chunks.append(chunk)
                    left -= len(chunk)
                    continue
                used = _cpu_seconds(self.pid) - cpu0
                if not wall_only and used > cpu_s:
                    self.close()
                    raise ModelBudgetExceeded(f"{what} used more than {cpu_s:g} s of CPU time (does it loop "
                                              "forever?); it was stopped")
                if time.monotonic() - t0 > wall:
                    self.close()
                    raise ModelBudgetExceeded(f"{what} got no answer within {wall:g} s (the model's worker "
                                              "stalled); it was stopped")
            return b"".join(chunks)

        try:
            return wire.decode(read, MAX_REPLY_BYTES)
        except wire.WireError as err:
            self.close()
            raise Refused(f"its worker sent a malformed reply ({err})") from None

    def _died(self) -> str:
        self.close()
        return "the model crashed its jail (it may have exceeded its memory limit)"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")




def _text(value: Any) -> str:
    """A worker's string, as untrusted text: one printable line of at most 200 characters."""
    if not isinstance(value, str):
        return ""
    line = value.strip().splitlines()[0] if value.strip() else ""
    return "".join(c for c in line if c.isprintable())[:200]


# -- the pool of workers -------------------------------------------------------------------------
class _Pool:
    """Live workers by model file (LRU-bounded), shared by every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: OrderedDict[ModelFile, ModelWorker] = OrderedDict()

    def get(self, model: ModelFile, cpu_s: float) -> ModelWorker:
        """The live worker serving ``model``, started and loaded when there is none."""
        with self._lock:
            worker = self._workers.get(model)
            if worker is not None and worker.alive:
                self._workers.move_to_end(model)
                return worker
        worker = ModelWorker()
        try:
            worker.load(model, cpu_s)
        except BaseException:
            worker.close()
            raise
        with self._lock:
            old = self._workers.pop(model, None)
            self._workers[model] = worker
            evicted = [self._workers.popitem(last=False)[1] for _ in range(len(self._workers) - MAX_WORKERS)]
        for w in [old, *evicted]:
            if w is not None and w is not worker:
                w.close()
        return worker

    def discard(self, model: ModelFile) -> None:
        with self._lock:
            worker = self._workers.pop(model, None)
        if worker is not None:
            worker.close()

    def close_all(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), OrderedDict()
        for w in workers:
            w.close()


POOL = _Pool()
atexit.register(ZYGOTE.close)
atexit.register(POOL.close_all)
_tokens = itertools.count(1)


# -- the model the server sees -------------------------------------------------------------------
def remote_forward(model: ModelFile, x: torch.Tensor, *, keep: int | None = None,
                   cpu_s: float | None = None) -> torch.Tensor:
    """The user model's logits on ``x`` (any device; computed in the worker on the CPU), checked:
    float (B, classes), finite. ``keep``: a token under which the worker keeps the graph for a backward."""
    budget = PASS_CPU_S if cpu_s is None else cpu_s
    worker = POOL.get(model, LOAD_CPU_S)
    b = len(x)
    header, arrays = _checked(model, worker.call({"op": "forward", "token": keep}, [_numpy(x)], budget,
                                                 f"one pass over {b} image(s)"))
    shape = tuple(header.get("shape", ())) if isinstance(header.get("shape"), list) else ()
    dtype = _text(header.get("dtype")) or "?"
    if not arrays or tuple(arrays[0].shape) != (b, model.classes) or shape != (b, model.classes) \
            or not dtype.startswith(("float", "bfloat")):
        got = f"{shape} {dtype}" if shape else "something else"
        raise Refused(f"it returned {got} for {b} image(s); expected ({b}, {model.classes}) float logits")
    if not np.isfinite(arrays[0]).all():
        raise Refused(f"it returned NaN or infinite logits on {'these' if b > 1 else 'this'} image(s)")
    return torch.from_numpy(arrays[0]).to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)


def remote_vjp(model: ModelFile, x: torch.Tensor, grad: torch.Tensor, token: int | None,
               cpu_s: float | None = None) -> torch.Tensor:
    """∂(grad · logits)/∂x from the worker, checked: x's shape, finite."""
    budget = PASS_CPU_S if cpu_s is None else cpu_s
    worker = POOL.get(model, LOAD_CPU_S)
    _, arrays = _checked(model, worker.call({"op": "vjp", "token": token}, [_numpy(x), _numpy(grad)], budget,
                                            f"one backward pass over {len(x)} image(s)"))
    if not arrays or arrays[0].shape != tuple(x.shape):
        raise Refused("its gradient does not have the input's shape")
    if not np.isfinite(arrays[0]).all():
        raise Refused("it returned NaN or infinite gradients")
    return torch.from_numpy(arrays[0]).to(device=x.device, dtype=x.dtype)


def _checked(model: ModelFile, reply: tuple[dict[str, Any], list[np.ndarray]]):
    header, arrays = reply
    if header.get("ok") is not True:
        raise Refused(_text(header.get("error")) or "it failed in its jail")
    return header, arrays


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


class _RemoteCall(torch.autograd.Function):
    """Forward and backward through the worker (one graph kept there between the two)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, model: ModelFile) -> torch.Tensor:  # type: ignore[override]
        token = next(_tokens) if ctx.needs_input_grad[0] else None
        ctx.model, ctx.token = model, token
        ctx.save_for_backward(x)
        return _in_one_line(model, lambda: remote_forward(model, x, keep=token))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return _in_one_line(ctx.model, lambda: remote_vjp(ctx.model, x, grad, ctx.token)), None


def _in_one_line(model: ModelFile, call):
    try:
        return call()
    except ModelBudgetExceeded as err:
        raise ModelBudgetExceeded(f"{model.label}: {err}") from None
    except Refused as err:
        raise InvalidInputError(f"{model.label}: {err}") from None


class JailedNet(nn.Module):
    """A user's network as the server holds it: no weights here, every pass runs in its worker.
    Copies (per-call model views) share the worker: they hold only the :class:`ModelFile`."""

    def __init__(self, model: ModelFile) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RemoteCall.apply(x, self.model)

    def extra_repr(self) -> str:
        return f"{self.model.label!r} ({self.model.fmt}, in its jail)"


# -- checking and loading ------------------------------------------------------------------------
#: model files (with their validation images) accepted in this process: not re-validated
_validated: set[tuple[ModelFile, str]] = set()
_validated_lock = threading.Lock()


def prestart_worker() -> None:
    """Start the fork server now (it imports torch and warms up the loaders once, in the
    background), so the next model check forks a ready worker at once; the dashboard calls this
    when a user opens the model upload."""
    ZYGOTE.start()


def check_user_model(
    path: str | Path,
    info: DatasetInfo,
    images: torch.Tensor | None = None,
    *,
    name: str | None = None,
    normalized_input: bool = False,
    cpu_limit: float = LOAD_CPU_S,
) -> ModelFile:
    """Load the file in its jail and validate it on ``images`` (up to 4 real C×H×W samples of the
    dataset in [0, 1]; one is enough); the accepted :class:`ModelFile`. Its worker stays up for
    the explanations that follow. ``name`` is what messages call the file (default: its file
    name; server paths are never shown). Raises :class:`InvalidInputError` with one line."""
    model = ModelFile.of(path, info.num_classes, name)
    c, s = info.channels, info.image_size
    probe = _probe_images(info) if images is None else images.detach().float().cpu()[:4]
    if probe.ndim != 4 or probe.shape[1:] != (c, s, s) or len(probe) < 1:
        raise InvalidInputError(f"validation images must be B×{c}×{s}×{s} with B ≥ 1")
    if len(probe) == 1:  # a dataset with one test image: a batch of its copies still tests batching
        probe = probe.repeat(4, 1, 1, 1)
    if normalized_input:
        probe = (probe - torch.tensor(info.mean).view(1, -1, 1, 1)) / torch.tensor(info.std).view(1, -1, 1, 1)
    key = (model, _digest(probe))
    with _validated_lock:
        known = key in _validated
    if known:
        return model
    try:
        POOL.get(model, cpu_limit)
        _validate(model, probe, cpu_limit)
    except (Refused, ModelBudgetExceeded) as err:
        POOL.discard(model)
        raise InvalidInputError(f"{model.label} was refused: {err}") from None
    with _validated_lock:
        _validated.add(key)
    return model


def load_user_model(
    path: str | Path,
    info: DatasetInfo,
    images: torch.Tensor | None = None,
    *,
    name: str | None = None,
    normalized_input: bool = False,
    device: torch.device | str = "cpu",
    cpu_limit: float = LOAD_CPU_S,
) -> Normalized:
    """:func:`check_user_model`, then the server's handle on it: a :class:`JailedNet` wrapped in
    :class:`Normalized` (pixel-space input; with ``normalized_input`` the dataset's mean/std are
    applied first)."""
    model = check_user_model(path, info, images, name=name, normalized_input=normalized_input, cpu_limit=cpu_limit)
    c = info.channels
    mean, std = (info.mean, info.std) if normalized_input else ((0.0,) * c, (1.0,) * c)
    net = Normalized(JailedNet(model), mean, std, cam_layer=None, arch=f"user:{model.label}")
    return net.to(device).eval().requires_grad_(False)


def _validate(model: ModelFile, images: torch.Tensor, cpu_s: float) -> None:
    """This process's own verdict on the worker's answers: finite float (B, classes) logits at batch
    1 and 4 that agree, and a finite gradient with respect to the input."""
    size = "×".join(map(str, images.shape[1:]))
    try:
        one = remote_forward(model, images[:1], cpu_s=cpu_s)
    except Refused as err:
        raise Refused(f"on a 1×{size} image: {err}" if "returned" in str(err) else
                      f"it failed on a 1×{size} image: {err}") from None
    try:
        four = remote_forward(model, images, cpu_s=cpu_s)
    except Refused as err:
        raise Refused(f"it failed on a batch of {len(images)} images (export it with a dynamic batch "
                      f"dimension): {err}") from None
    if not torch.allclose(one[0], four[0], rtol=1e-3, atol=1e-4):
        raise Refused("the same image gives different logits alone and in a batch of 4")
    token = next(_tokens)
    remote_forward(model, images[:2], keep=token, cpu_s=cpu_s)
    grad = torch.zeros(2, model.classes)
    grad[:, 0] = 1.0
    try:
        remote_vjp(model, images[:2], grad, token, cpu_s=cpu_s)
    except Refused as err:
        raise Refused(f"it has no usable gradient with respect to its input: {err}") from None


def _digest(images: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(images.numpy().tobytes()).hexdigest()


def _probe_images(info: DatasetInfo) -> torch.Tensor:
    """Four seeded images when the caller has no dataset samples (a constant one, three random)."""
    gen = torch.Generator().manual_seed(0)
    shape = (3, info.channels, info.image_size, info.image_size)
    return torch.cat([torch.full(shape[1:], 0.5)[None], torch.rand(shape, generator=gen)])


def is_user_model(model: nn.Module) -> bool:
    """Whether ``model`` wraps a user's model (no hookable layer names)."""
    return str(getattr(model, "arch", "")).startswith("user:")
