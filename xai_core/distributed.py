"""One command as several processes ("ranks") started by ``torchrun``, on PyTorch's own stack
(:mod:`torch.distributed`: gloo on CPUs, NCCL on GPUs). Without torchrun every helper here is the
identity (one rank, rank 0), so callers need no second code path.

- :func:`start` joins the process group from torchrun's environment (one line when it is incomplete),
  gives each rank its own device (``cuda:LOCAL_RANK``) and checks that every rank runs the same code
  (a hash of the package's sources, exchanged at start-up).
- Collectives the trainer and the evaluation use: :func:`broadcast`, :func:`gather`, :func:`barrier`,
  :func:`average_gradients`, :func:`merge_rows`, :func:`mean_over_ranks`, and a job-wide
  :class:`Counter` rank 0 reads for one progress bar over the whole job.
- :class:`AgreedError`: bad input every rank finds alike; rank 0 alone reports it.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .device import resolve_device
from .errors import XAIError

T = TypeVar("T")
#: how long a rank waits in a collective (e.g. for rank 0 training a black box) before giving up
TIMEOUT_S = float(os.environ.get("XAI_DIST_TIMEOUT_S", 4 * 3600))
_ENDPOINT = ("MASTER_ADDR", "MASTER_PORT")


class AgreedError(XAIError):
    """Bad input every rank detects alike (the same check on the same arguments): rank 0 reports it."""


def launched() -> bool:
    """Whether this process was started as one of several ranks (torchrun, or RANK/WORLD_SIZE set)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group of more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


def env_rank() -> int:
    """This process's rank from torchrun's environment (before :func:`start`)."""
    return int(os.environ.get("RANK", "0"))


_started = False


def started() -> bool:
    """Whether this process has begun joining a job (:func:`start`): errors before that come from
    checking arguments every rank shares, so every rank finds them alike."""
    return _started


def start(device: str = "auto") -> torch.device:
    """Join the job's process group and return this rank's device. One line (before any work) when
    the rendezvous endpoint is missing or the ranks run different code."""
    global _started
    _started = True
    missing = [name for name in _ENDPOINT if not os.environ.get(name)]
    if missing or "RANK" not in os.environ:
        raise AgreedError(
            f"a distributed run (WORLD_SIZE={os.environ.get('WORLD_SIZE')}) without a rendezvous endpoint "
            f"({', '.join(missing) or 'RANK'} not set): launch with torchrun, and on several machines pass "
            "--rdzv-endpoint HOST:PORT (or set MASTER_ADDR and MASTER_PORT)")
    dev = resolve_device(device)
    if dev.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise XAIError(f"LOCAL_RANK {local} but this machine has {torch.cuda.device_count()} GPU(s): "
                           "start at most one process per GPU (torchrun --nproc_per_node)")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(seconds=TIMEOUT_S),
                            device_id=dev if dev.type == "cuda" else None)
    check_same_code()
    return dev


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@lru_cache(maxsize=1)
def source_hash() -> str:
    """A hash of every ``.py`` file of the package (names and contents)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def check_same_code(own: str | None = None) -> None:
    """Every rank's :func:`source_hash`, exchanged: ranks running different code would compute
    different things, so the job stops before any work."""
    hashes = [None] * world_size()
    dist.all_gather_object(hashes, own or source_hash())
    if len(set(hashes)) > 1:
        ranks = ", ".join(f"rank {r}: {h}" for r, h in enumerate(hashes))
        raise AgreedError(f"the ranks run different versions of xai_core ({ranks}): install the same code on "
                          "every machine")


def barrier() -> None:
    if active():
        dist.barrier()


def main_first(work: Callable[[], T]) -> T:
    """``work`` on rank 0, then on the other ranks (e.g. loading a context: rank 0 trains and caches a
    missing black box under the store's lock; the others then find it)."""
    if not is_main():
        barrier()
    out = work()
    if is_main():
        barrier()
    return out


def broadcast(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (pickled)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather(obj: T) -> list[T] | None:
    """Every rank's ``obj`` on rank 0 (in rank order); None on the others."""
    if not active():
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Average the gradients of ``params`` over the ranks, in place (what DistributedDataParallel's
    all-reduce computes). A parameter no rank has a gradient for keeps None; one only some ranks have
    counts zero on the others."""
    params = [p for p in params if p.requires_grad]
    if not active() or not params:
        return
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(present)
    used = [p for p, n in zip(params, present.tolist()) if n > 0]
    if not used:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in used])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p in used:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def _comm_device() -> torch.device:
    """Where the backend takes tensors: this rank's GPU under NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def merge_rows(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Combine a per-image state tensor (e.g. DiET's training masks) that every rank updated on its own
    images: each row that some rank changed takes that rank's value (the mean where several changed
    it); rows no rank changed keep ``before``."""
    if not active():
        return after
    rows = (-1, *[1] * (after.ndim - 1))
    changed = (after != before).reshape(len(after), -1).any(1)
    total = torch.where(changed.view(rows), after, torch.zeros_like(after)).double().to(_comm_device())
    count = changed.double().to(_comm_device())
    dist.all_reduce(total)
    dist.all_reduce(count)
    total, count = total.to(after.device), count.to(after.device)
    mean = (total / count.clamp_min(1).view(rows)).to(after.dtype)
    return torch.where((count > 0).view(rows), mean, before)


def mean_over_ranks(values: Mapping[str, float], weight: float) -> dict[str, float]:
    """Each value averaged over the ranks, weighted by ``weight`` (e.g. the images a rank trained on)."""
    if not active():
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) * weight for k in keys] + [float(weight)], dtype=torch.float64,
                     device=_comm_device())
    dist.all_reduce(t)
    merged = {k: float(t[i] / t[-1]) for i, k in enumerate(keys)}
    return {k: merged[k] for k in values}


class Counter:
    """A job-wide count every rank adds to and rank 0 reads (in the process group's key-value store),
    so rank 0 can draw one progress bar over the whole job."""

    def __init__(self, name: str) -> None:
        self.key = f"xai_core/{name}"
        self.store = dist.distributed_c10d._get_default_store() if active() else None
        self.local = 0

    def add(self, n: int = 1) -> int:
        self.local += n
        return self.local if self.store is None else int(self.store.add(self.key, n))

    def value(self) -> int:
        return self.local if self.store is None else int(self.store.add(self.key, 0))

    def wait_for(self, total: int, report: Callable[[int], None], poll_s: float = 0.5) -> None:
        """Report the count until it reaches ``total``. A rank that dies ends the job through torchrun;
        without torchrun, a count that stands still for :data:`TIMEOUT_S` is an error."""
        done, moved = self.value(), time.monotonic()
        while done < total:
            time.sleep(poll_s)
            now = self.value()
            if now != done:
                done, moved = now, time.monotonic()
                report(done)
            elif time.monotonic() - moved > TIMEOUT_S:
                raise XAIError(f"no rank finished any work for {TIMEOUT_S:.0f} s ({done} of {total} done): "
                               "another rank has stopped")
