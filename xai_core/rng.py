"""Random numbers that belong to a call, never to the process.

torch's global generator is shared by every thread of the server: a page building a model, or a
second fit, draws from it between two steps of a running fit, and ``fork_rng`` restores it on exit
under another thread's feet. So nothing here lets work draw from it unguarded:

- :func:`seeded` builds modules (whose initial weights come from the global generator) under one
  process-wide lock, with the generator forked and seeded, and hands back a generator that continues
  the same seeded stream where the building left it;
- :func:`drawing_from` runs a block (a training loop) with every random draw that names no generator
  — dropout, ``bernoulli_``, ``rand``, ``randn``, ``normal_`` … — taken from that call's own generator
  instead, through a thread-local ``TorchFunctionMode``. Dropout draws its mask exactly as ATen's CPU
  kernel does (``bernoulli_(1 − p) / (1 − p)``), so on the CPU a fit's numbers equal those of the
  global-generator code when nothing else runs — and now stay equal when something does.

Limit: a draw made *inside* another torch function that the mode hands on (e.g. a lazy module's
``reset_parameters`` at its first forward) runs with the mode off and still uses the global
generator; build such modules inside :func:`seeded`. ``tests/test_rng.py`` checks dropout fits.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

T = TypeVar("T")
_LOCK = threading.RLock()


def seeded(seed: int, build: Callable[[], T]) -> tuple[T, torch.Generator]:
    """``build()`` with torch's global generator seeded by ``seed`` (under the process-wide lock,
    restored afterwards), and a CPU generator that continues that stream after ``build``."""
    with _LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = build()
        rest = torch.Generator()
        rest.set_state(torch.get_rng_state())
    return built, rest


@contextmanager
def building() -> Iterator[None]:
    """Hold the lock while code draws from the global generator with no seed of its own (building a
    module whose weights are loaded next): it must not draw in the middle of a :func:`seeded` build."""
    with _LOCK:
        yield


#: random functions that take ``generator=``: a draw without one is given the call's generator
_TAKES_GENERATOR = {
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.bernoulli, torch.normal, torch.multinomial,
    torch.rand_like, torch.randn_like, torch.randint_like,
    torch.Tensor.bernoulli_, torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.random_,
    torch.Tensor.exponential_, torch.Tensor.geometric_, torch.Tensor.log_normal_, torch.Tensor.cauchy_,
    torch.Tensor.bernoulli, torch.Tensor.multinomial,
}
#: random functions that take no generator (re-implemented below)
_DROPOUTS = {F.dropout, torch.dropout}


class _CallGenerator(TorchFunctionMode):
    """Routes this thread's unseeded random draws to one generator (per device)."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.cpu = generator
        self.devices: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        if device.type == "cpu":
            return self.cpu
        if device not in self.devices:  # a stream for the device, seeded from the call's stream
            seed = int(torch.randint(0, 2**62, (1,), generator=self.cpu))
            self.devices[device] = torch.Generator(device=device).manual_seed(seed)
        return self.devices[device]

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in _DROPOUTS:
            return self._dropout(*args, **kwargs)
        if func in _TAKES_GENERATOR and kwargs.get("generator") is None:
            kwargs["generator"] = self.generator(_device_of(args, kwargs))
        return func(*args, **kwargs)

    def _dropout(self, x: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor:
        if not training or p == 0:
            return x
        if p == 1:
            return x.zero_() if inplace else x * 0
        noise = torch.empty_like(x).bernoulli_(1 - p, generator=self.generator(x.device))  # as ATen's CPU kernel
        noise.div_(1 - p)
        return x.mul_(noise) if inplace else x * noise


def _device_of(args: tuple, kwargs: dict) -> torch.device:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device
    device = kwargs.get("device")
    return torch.device(device) if device is not None else torch.device("cpu")


@contextmanager
def drawing_from(generator: torch.Generator) -> Iterator[None]:
    """In this block, on this thread, every random draw without an explicit generator uses
    ``generator`` (CPU tensors) or a stream seeded from it (other devices)."""
    with _CallGenerator(generator):
        yield
