"""Users' own classifiers, loaded safely: ONNX (``.onnx``) and ``torch.export`` (``.pt2``) archives,
and TorchScript (``.pt``) from the command line.

A model file is a program, so it goes through three gates before the server runs it:

1. :func:`.user_formats.precheck` in this process, where nothing of the file runs: ONNX operators on an
   allow-list, no pickles in ``.pt2`` archives, no load-time code in TorchScript archives;
2. a **sandbox child process** (:func:`sandbox_check`) loads it, checks its graph against the operator
   allow-lists and runs the validation forward passes on real images of the dataset, under a wall-clock
   limit (:data:`TIME_LIMIT_S`), an address-space limit (:data:`MEMORY_LIMIT`) and a seccomp filter that
   makes opening files, starting programs and network calls fail;
3. only then is it loaded here, wrapped in :class:`~.normalize.Normalized`.

Input convention: pixel-space images B×C×H×W in [0, 1] (or, with ``normalized_input=True``, the
dataset's normalised input); output B×num_classes float logits. User models have no hookable
layer names (``cam_layer = None``): Grad-CAM, FullGrad, IBA and InputIBA refuse them with a clear
message; gradient methods work.
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.base import DatasetInfo
from ..errors import InvalidInputError
from . import user_formats
from .normalize import Normalized
from .user_formats import FORMATS, Refused

# torch flags TorchScript as deprecated; it still loads (filtered once: catch_warnings per call races
# between the server's threads)
warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)

#: wall-clock seconds the sandbox may spend loading and validating a model (after its own start-up)
TIME_LIMIT_S = 10.0
#: bytes of address space the sandbox may add while loading and validating a model
MEMORY_LIMIT = 4 * 2**30
#: seconds allowed for the sandbox's own start-up (importing torch; slow on a busy machine)
STARTUP_LIMIT_S = 120.0
#: the largest model file accepted
MAX_MODEL_BYTES = 512 * 2**20
#: formats the dashboard accepts (TorchScript is for the command line only)
UPLOAD_FORMATS = (".onnx", ".pt2")
#: the store kind of uploaded model files
USER_MODELS = "user_models"

#: (file digest, format, validation set) that passed the sandbox in this process: loading the same
#: file again for the same images skips the child (the checks before it still run)
_validated: set[tuple[str, ...]] = set()
_validated_lock = threading.Lock()


def model_format(name: str) -> str:
    """The format of a model file by its suffix; one line naming the accepted ones otherwise."""
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"{Path(name).name}: unknown model format; use .onnx (recommended), .pt2 "
                                "(torch.export.save) or .pt (TorchScript, command line only)")
    return fmt


def load_user_model(
    path: str | Path,
    info: DatasetInfo,
    images: torch.Tensor | None = None,
    *,
    name: str | None = None,
    normalized_input: bool = False,
    device: torch.device | str = "cpu",
    time_limit: float = TIME_LIMIT_S,
) -> Normalized:
    """Check, sandbox-validate (:func:`check_user_model`) and load a user's classifier for
    ``info``'s images, wrapped in :class:`Normalized` without gradients on its parameters."""
    label = name or Path(path).name
    data, fmt = check_user_model(path, info, images, name=name, normalized_input=normalized_input,
                                 time_limit=time_limit)
    try:
        net = user_formats.build(data, fmt)
    except Refused as err:
        raise InvalidInputError(f"{label} was refused: {err}") from None
    c = info.channels
    mean, std = (info.mean, info.std) if normalized_input else ((0.0,) * c, (1.0,) * c)
    model = Normalized(net, mean, std, cam_layer=None, arch=f"user:{label}")
    return model.to(device).eval().requires_grad_(False)


def check_user_model(
    path: str | Path,
    info: DatasetInfo,
    images: torch.Tensor | None = None,
    *,
    name: str | None = None,
    normalized_input: bool = False,
    time_limit: float = TIME_LIMIT_S,
) -> tuple[bytes, str]:
    """The file's (bytes, format) once it passed the checks before anything runs and the sandbox's
    validation; the sandbox runs once per (file, images) in a process. Nothing is loaded here.

    ``images``: real samples of the dataset (4×C×H×W in [0, 1]) the model must handle; ``name`` is
    what messages call the file (defaults to its file name: server paths are never shown).
    Raises :class:`InvalidInputError` with one line naming the cause."""
    path = Path(path)
    label = name or path.name
    fmt = model_format(label)
    if not path.is_file():
        raise InvalidInputError(f"model file not found: {label}")
    data = path.read_bytes()
    if not data or len(data) > MAX_MODEL_BYTES:
        raise InvalidInputError(f"{label} is {'empty' if not data else f'over {MAX_MODEL_BYTES >> 20} MB'}")
    c, s = info.channels, info.image_size
    probe = _probe_images(info) if images is None else images.detach().float().cpu()[:4]
    if probe.shape[1:] != (c, s, s) or len(probe) < 2:
        raise ValueError(f"validation images must be B×{c}×{s}×{s} with B ≥ 2")
    if normalized_input:
        probe = (probe - torch.tensor(info.mean).view(1, -1, 1, 1)) / torch.tensor(info.std).view(1, -1, 1, 1)
    key = (hashlib.sha256(data).hexdigest(), fmt, hashlib.sha256(probe.numpy().tobytes()).hexdigest(),
           str(info.num_classes))
    try:
        user_formats.precheck(data, fmt)
        with _validated_lock:
            known = key in _validated
        if not known:
            sandbox_check(data, fmt, probe, info.num_classes, time_limit=time_limit)
            with _validated_lock:
                _validated.add(key)
    except Refused as err:
        raise InvalidInputError(f"{label} was refused: {err}") from None
    return data, fmt


def _probe_images(info: DatasetInfo) -> torch.Tensor:
    """Four seeded images when the caller has no dataset samples (a constant one, three random)."""
    gen = torch.Generator().manual_seed(0)
    shape = (3, info.channels, info.image_size, info.image_size)
    return torch.cat([torch.full(shape[1:], 0.5)[None], torch.rand(shape, generator=gen)])


def sandbox_check(data: bytes, fmt: str, images: torch.Tensor, num_classes: int, *,
                  time_limit: float = TIME_LIMIT_S, memory: int = MEMORY_LIMIT) -> None:
    """Load and validate the model in a child process (see the module docstring); raises
    :class:`Refused` with the child's one-line reason, or when it exceeds its limits."""
    buf = io.BytesIO()
    np.save(buf, images.numpy().astype(np.float32), allow_pickle=False)
    header = {"fmt": fmt, "classes": int(num_classes), "memory": int(memory),
              "model_bytes": len(data), "image_bytes": buf.tell()}
    proc = subprocess.Popen([sys.executable, "-I", user_formats.__file__], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if _read_line(proc, STARTUP_LIMIT_S) != "ready":
            raise Refused("the model sandbox did not start")
        proc.stdin.write(json.dumps(header).encode() + b"\n" + data + buf.getvalue())
        proc.stdin.close()
        line = _read_line(proc, time_limit)
        if line is None:
            raise Refused(f"loading and checking it took longer than {time_limit:g} s (does it loop forever?)")
        if not line:
            raise Refused(_died(proc))
        result = json.loads(line)
        if not result.get("ok"):
            raise Refused(result.get("reason", "validation failed"))
    except BrokenPipeError:
        raise Refused(_died(proc)) from None
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream and not stream.closed:
                stream.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """One line from the child within ``timeout`` seconds ("" if it died, None on time-out)."""
    import selectors

    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                return proc.stdout.readline().decode(errors="replace").strip()
        return None


def _died(proc: subprocess.Popen) -> str:
    code = proc.wait()
    if code < 0:
        return f"the model crashed its sandbox (signal {-code}; it may have exceeded the memory limit)"
    return f"the model crashed its sandbox (exit status {code})"


def is_user_model(model: nn.Module) -> bool:
    """Whether ``model`` wraps a user's model (no hookable layer names)."""
    return str(getattr(model, "arch", "")).startswith("user:")
