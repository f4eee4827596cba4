"""Device choice: CUDA when present (``auto``), with a clear error when CUDA is asked for and absent."""
from __future__ import annotations

import torch

from .errors import XAIError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda`` into a torch device."""
    if name not in DEVICES:
        raise XAIError(f"unknown device {name!r}; choose from: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise XAIError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
