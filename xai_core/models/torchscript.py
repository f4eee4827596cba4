"""User classifiers given as TorchScript files (``torch.jit.save`` of a scripted or traced model).

Input convention: by default a user model takes **pixel space** images, B×C×H×W float in
[0, 1] — the same as every zoo model — and returns B×num_classes logits. A model trained on
normalised inputs can be loaded with ``normalized_input=True``: it is then wrapped in
:class:`~.normalize.Normalized` with the dataset's mean/std, so callers still pass pixels.

Safety: only TorchScript archives are accepted. The file is checked to be a zip archive with
a ``code/`` folder (what ``torch.jit.save`` writes) *before* anything is loaded, so plain
pickles, ``torch.save``'d state dicts or whole pickled modules are refused without being
unpickled; ``torch.jit.load`` itself only restores TorchScript types, never arbitrary Python.

TorchScript submodules cannot be hooked from Python, so user models have ``cam_layer = None``
(Grad-CAM/FullGrad are unavailable; gradient-based methods work).
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..data.base import DatasetInfo
from ..errors import InvalidInputError
from .normalize import Normalized


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _is_torchscript_archive(path: Path) -> bool:
    """A zip whose entries include ``<archive>/code/…`` (``torch.save`` archives have none)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_user_model(
    path: str | Path,
    info: DatasetInfo,
    *,
    normalized_input: bool = False,
    device: torch.device | str = "cpu",
) -> Normalized:
    """Load and validate a TorchScript classifier for ``info``'s images.

    Returns a :class:`Normalized` wrapper in eval mode on ``device`` (identity normalisation
    when ``normalized_input`` is False) whose ``.net`` is the loaded script module.
    Raises :class:`InvalidInputError` with a one-line message when the file is missing, is not
    a TorchScript archive, fails on a 1×C×H×W input or does not return 1×num_classes logits.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"model file not found: {path}")
    if not _is_torchscript_archive(path):
        raise InvalidInputError(
            f"{path.name} is not a TorchScript model (save it with torch.jit.save(torch.jit.script(model), path); "
            "plain pickles and state dicts are not loaded)"
        )
    try:
        with warnings.catch_warnings():  # torch ≥ 2.10 flags TorchScript as deprecated; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise InvalidInputError(f"{path.name} could not be loaded as TorchScript: {_first_line(err)}") from None
    net.eval()

    c, s, k = info.channels, info.image_size, info.num_classes
    probe = torch.full((1, c, s, s), 0.5)
    if normalized_input:
        mean, std = info.mean, info.std
    else:
        mean, std = (0.0,) * c, (1.0,) * c
    model = Normalized(net, mean, std, cam_layer=None, arch=f"torchscript:{path.name}")
    try:
        with torch.no_grad():
            out = model(probe)
    except Exception as err:
        raise InvalidInputError(
            f"{path.name} failed on a 1×{c}×{s}×{s} input for dataset {info.name}: {_first_line(err)}"
        ) from None
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or tuple(out.shape) != (1, k):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidInputError(
            f"{path.name} returned {got} for a 1×{c}×{s}×{s} input; expected (1, {k}) float logits "
            f"for the {k} classes of {info.name}"
        )
    return model.to(device).eval()


def is_user_model(model: nn.Module) -> bool:
    """Whether ``model`` wraps a TorchScript user model (no hookable layers)."""
    return isinstance(getattr(model, "net", None), torch.jit.ScriptModule)
