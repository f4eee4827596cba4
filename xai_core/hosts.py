"""Which ``Host`` header values the dashboard's server answers (see ``serve.py``)."""
from __future__ import annotations

import os
import socket

LOOPBACK = ("localhost", "127.0.0.1", "[::1]")  # as Starlette parses Host (IPv6 in brackets)
WILDCARDS = ("", "0.0.0.0", "::")


def allowed_hosts(address: str, extra: str | None = None) -> list[str]:
    """Loopback names, the bound ``address`` and ``extra`` names (default: ``XAI_ALLOWED_HOSTS``,
    comma-separated). A wildcard bind with no extra names adds this machine's host names, so a
    network user reaching it by name still can."""
    extra = os.environ.get("XAI_ALLOWED_HOSTS", "") if extra is None else extra
    names = [*LOOPBACK, *(n.strip().lower() for n in extra.split(",") if n.strip())]
    if address not in WILDCARDS:
        address = address.lower().strip("[]")
        names.append(f"[{address}]" if ":" in address else address)
    elif not extra.strip():
        names += [socket.gethostname().lower(), socket.getfqdn().lower()]
    return list(dict.fromkeys(names))
