"""The server's Host-header check (serve.py): DNS rebinding cannot reach a loopback dashboard."""
from __future__ import annotations

import http.client
import os

import pytest

from xai_core.hosts import allowed_hosts

from tests.e2e.driver import free_port, start_server, stop_server, wait_healthy


def test_allowed_hosts():
    assert allowed_hosts("127.0.0.1", "") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("10.0.0.5", "Explorer.Lab, x.org") == ["localhost", "127.0.0.1", "[::1]", "explorer.lab",
                                                                 "x.org", "10.0.0.5"]
    assert "[fe80::1]" in allowed_hosts("fe80::1", "")
    assert "evil.example" not in allowed_hosts("0.0.0.0", "")


def _get(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host, **(headers or {})})
    return conn.getresponse()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    proc = start_server(port, dict(os.environ), log)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}", log, 300)
        yield port
    finally:
        stop_server(proc)


def test_a_foreign_host_is_refused_and_gets_no_cookie(server):
    ok = _get(server, "/_stcore/health", f"127.0.0.1:{server}")
    assert ok.status == 200 and "_streamlit_xsrf" in (ok.getheader("Set-Cookie") or "")
    assert _get(server, "/_stcore/health", f"localhost:{server}").status == 200
    for host in (f"evil.example:{server}", "evil.example", f"127.0.0.1.evil.example:{server}"):
        bad = _get(server, "/_stcore/health", host)
        assert bad.status == 400 and not bad.getheader("Set-Cookie")
        assert _get(server, "/", host).status == 400
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "streamlit",
               "Origin": "http://evil.example"}
    assert _get(server, "/_stcore/stream", "evil.example", upgrade).status == 400
    good = {**upgrade, "Origin": f"http://127.0.0.1:{server}"}
    assert _get(server, "/_stcore/stream", f"127.0.0.1:{server}", good).status == 101
