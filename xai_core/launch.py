"""``python -m xai_core.launch [torchrun options] -m xai_core evaluate|train ...``: torchrun itself
(:mod:`torch.distributed.run`, same options), after the one check torchrun does not make before it
blocks: a job over several machines needs a rendezvous endpoint. Without ``--rdzv-endpoint`` (or
``--master-addr``) every machine would wait for the others at its own 127.0.0.1 until torchrun's
rendezvous timeout; here that is one line and exit status 2."""
from __future__ import annotations

import sys

from torch.distributed import run as torchrun

LOOPBACK = ("127.0.0.1", "localhost", "")


def missing_endpoint(argv: list[str]) -> str | None:
    """Why torchrun's arguments ``argv`` cannot start a job across machines, or None."""
    args = torchrun.parse_args(argv)
    _, max_nodes = torchrun.parse_min_max_nnodes(args.nnodes)
    if max_nodes > 1 and not args.standalone and not args.rdzv_endpoint and args.master_addr in LOOPBACK:
        return (f"--nnodes {args.nnodes} needs a rendezvous endpoint every machine can reach: pass "
                "--rdzv-backend c10d --rdzv-endpoint HOST:PORT (HOST: one of the machines)")
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problem = missing_endpoint(argv)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    torchrun.run(torchrun.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
