"""The framing the server and a user model's jailed worker speak over a pipe: plain float32
tensors and a small JSON header, nothing that deserialises objects.

A message is ``b"XAIW"``, the header's length (4 bytes, big-endian), the header (UTF-8 JSON, an
object) and then the raw bytes of the tensors it lists (``{"tensors": [[d0, d1, ...], ...]}``,
C-contiguous little-endian float32). The server reads every reply as untrusted data: the magic,
lengths, shapes and sizes are checked against limits before a byte of payload is read, and a
reply that breaks any rule is an error, never a partial result.

This module imports nothing from ``xai_core``: the worker (``jail.py``) imports it as a sibling
script module.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

MAGIC = b"XAIW"
#: the longest header either side accepts
MAX_HEADER = 64 * 1024
#: the most dimensions a tensor may have, and the most tensors a message may carry
MAX_DIMS, MAX_TENSORS = 8, 4


class WireError(Exception):
    """A message that breaks the framing rules (one line)."""


def encode(header: dict[str, Any], tensors: Sequence[np.ndarray] = ()) -> bytes:
    """One message: ``header`` plus ``tensors`` (converted to little-endian float32)."""
    arrays = [np.ascontiguousarray(t, dtype="<f4") for t in tensors]
    head = json.dumps({**header, "tensors": [list(a.shape) for a in arrays]}).encode()
    return b"".join([MAGIC, len(head).to_bytes(4, "big"), head, *(a.tobytes() for a in arrays)])


def decode(read: Callable[[int], bytes], max_bytes: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One message from ``read(n)`` (which returns exactly ``n`` bytes or raises). The payload may
    hold at most ``max_bytes``; raises :class:`WireError` on anything malformed."""
    if read(4) != MAGIC:
        raise WireError("the reply does not start with the protocol's magic bytes")
    size = int.from_bytes(read(4), "big")
    if not 2 <= size <= MAX_HEADER:
        raise WireError(f"the reply's header is {size} bytes (at most {MAX_HEADER})")
    try:
        header = json.loads(read(size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("the reply's header is not JSON") from None
    if not isinstance(header, dict):
        raise WireError("the reply's header is not a JSON object")
    shapes = header.get("tensors", [])
    if not isinstance(shapes, list) or len(shapes) > MAX_TENSORS:
        raise WireError("the reply lists its tensors wrongly")
    total, checked = 0, []
    for shape in shapes:
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(d) is int and 0 <= d <= max_bytes for d in shape)):
            raise WireError("the reply has a malformed tensor shape")
        total += 4 * math.prod(shape)
        if total > max_bytes:
            raise WireError(f"the reply's tensors exceed {max_bytes} bytes")
        checked.append(tuple(shape))
    arrays = [np.frombuffer(read(4 * math.prod(s)), dtype="<f4").reshape(s).astype(np.float32) for s in checked]
    return header, arrays
