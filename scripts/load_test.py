"""Bounded load test of the dashboard on loopback: N concurrent sessions on the Explore page while
``/_stcore/health`` is polled every 0.2 s from a separate thread.

It starts ``streamlit run serve.py`` on 127.0.0.1 (a free port, an empty temporary ``XAI_CACHE_DIR``: the
shipped ``hard_mnist`` quick black box means no training), then opens ``--sessions`` sessions at once.
Each speaks Streamlit's own websocket protocol (what the browser's JavaScript sends, without a browser's
CPU cost on the same machine): it runs the app (the Explore page, default methods), waits for the
first maps, fetches the images as a browser would, then presses *Random* ``--changes`` times, waiting for
each new sample's maps. Everything stops after ``--duration`` seconds; the server is always killed.

Prints the health latency (p50 / p99 / max; a poll slower than 10 s counts as failed), each session's
time to first maps (from opening the session, cold cache included) and per-change latency, sessions that
never saw maps (starved), errors the pages showed, the server's RSS, its CPU use while idle afterwards and
its log's "Inotify queue overflowed" lines. At most about 3 minutes: 60 s for the server to come up,
``--duration`` for the sessions, ``--idle`` at the end.

Usage: .venv/bin/python scripts/load_test.py [--sessions 10] [--duration 120] [--changes 5] [--json out.json]
(extra server settings through the environment, e.g. ``XAI_WORK_SLOTS=2``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.driver import free_port, start_server, stop_server, wait_healthy  # noqa: E402

FIRST_MAP = "gradient · overlay"  # the caption of the Explore page's first default map
RANDOM = "Random"  # the label of the Explore page's random-sample button (after its emoji)
HEALTH_EVERY_S = 0.2


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds used, RSS in MB) of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


class HealthPoller(threading.Thread):
    """Polls ``/_stcore/health`` every 0.2 s (after the previous answer) and records each latency;
    a poll that fails or times out counts with the time it took."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        super().__init__(daemon=True, name="health")
        self.url, self.timeout_s = f"{url}/_stcore/health", timeout_s
        self.latencies: list[float] = []
        self.failures = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                    ok = response.read().decode().strip() == "ok"
            except OSError:
                ok = False
            self.latencies.append(time.perf_counter() - t)
            self.failures += not ok
            self._stop_event.wait(HEALTH_EVERY_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.timeout_s + 1)


@dataclass
class SessionResult:
    index: int
    first_maps_s: float | None = None
    changes_s: list[float] = field(default_factory=list)
    media_fetched: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Run:
    """What one script run drew: image captions and URLs, button ids by label, error texts."""

    captions: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)
    buttons: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def rerun_message(widget_states: list[WidgetState]) -> bytes:
    """The BackMsg a browser sends to run the app (default page) with these widget values."""
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_script_hash = ""
    msg.rerun_script.widget_states.widgets.extend(widget_states)
    return msg.SerializeToString()


async def read_run(ws, deadline: float) -> Run:
    """Read forward messages until a script run finishes (a run cut short for a rerun is continued)."""
    run = Run()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline reached")
        msg = ForwardMsg()
        msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=remaining))
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            what = element.WhichOneof("type")
            if what == "imgs":
                for image in element.imgs.imgs:
                    run.captions.add(image.caption)
                    run.urls.append(image.url)
            elif what == "button":
                run.buttons[element.button.label] = element.button.id
            elif what == "exception":
                run.errors.append(f"exception: {element.exception.type} {element.exception.message}"[:300])
            elif what == "alert" and element.alert.format == 1:  # ERROR
                run.errors.append(f"error: {element.alert.body}"[:300])
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                continue
            return run


def fetch_media(base_url: str, urls: list[str]) -> int:
    """GET the run's images the way a browser would; returns how many arrived."""
    got = 0
    for url in urls:
        full = url if url.startswith("http") else f"{base_url}/{url.lstrip('/')}"
        try:
            with urllib.request.urlopen(full, timeout=30) as response:
                response.read()
                got += 1
        except OSError:
            pass
    return got


async def session(index: int, base_url: str, changes: int, deadline: float, media: bool) -> SessionResult:
    """One user: open the Explore page, wait for the first maps, then press Random ``changes`` times."""
    result = SessionResult(index)
    ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                      open_timeout=max(1.0, deadline - time.monotonic())) as ws:
            await ws.send(rerun_message([]))
            run = await read_run(ws, deadline)
            result.errors += run.errors
            if FIRST_MAP not in run.captions:
                result.errors.append(f"no maps on the first run (captions: {sorted(run.captions)[:5]})")
                return result
            result.first_maps_s = time.perf_counter() - t0
            if media:
                result.media_fetched += await loop.run_in_executor(None, fetch_media, base_url, run.urls)
            for _ in range(changes):
                button = next((i for label, i in run.buttons.items() if label.endswith(RANDOM)), None)
                if button is None:
                    result.errors.append("no Random button")
                    break
                before = set(run.urls)
                t = time.perf_counter()
                await ws.send(rerun_message([WidgetState(id=button, trigger_value=True)]))
                run = await read_run(ws, deadline)
                result.errors += run.errors
                if FIRST_MAP not in run.captions:
                    result.errors.append("a change drew no maps")
                    break
                result.changes_s.append(time.perf_counter() - t)
                if media:
                    new = [u for u in run.urls if u not in before]
                    result.media_fetched += await loop.run_in_executor(None, fetch_media, base_url, new)
    except (TimeoutError, asyncio.TimeoutError):
        result.errors.append("stopped at the deadline")
    except (OSError, websockets.WebSocketException) as err:
        result.errors.append(f"connection: {type(err).__name__}: {err}"[:300])
    return result


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or value != value else round(value, digits)


async def run_sessions(url: str, n: int, changes: int, deadline: float, media: bool) -> list[SessionResult]:
    return list(await asyncio.gather(*(session(i, url, changes, deadline, media) for i in range(n))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions (default 10)")
    parser.add_argument("--duration", type=float, default=120.0,
                        help="seconds the sessions may take in all, after the server is up (default 120)")
    parser.add_argument("--changes", type=int, default=5, help="Random presses per session (default 5)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured afterwards")
    parser.add_argument("--no-media", action="store_true", help="do not fetch the images")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep-log", help="copy the server log here")
    args = parser.parse_args()

    cache = tempfile.mkdtemp(prefix="xai-load-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(cache) / "server.log"
    out: dict = {"sessions": args.sessions, "duration_limit_s": args.duration, "changes": args.changes,
                 "cpu_count": len(os.sched_getaffinity(0)), "work_slots_env": os.environ.get("XAI_WORK_SLOTS")}
    env = {**os.environ, "XAI_CACHE_DIR": cache}
    env.pop("XAI_APP_PRESET", None)
    server = start_server(port, env, log_path)
    poller = HealthPoller(url)
    try:
        t = time.perf_counter()
        wait_healthy(server, url, log_path, 60)
        out["server_ready_s"] = round(time.perf_counter() - t, 2)
        log(f"server healthy at {url}; {args.sessions} sessions for at most {args.duration:.0f} s")
        poller.start()
        cpu0, _ = proc_stat(server.pid)
        t = time.perf_counter()
        results = asyncio.run(run_sessions(url, args.sessions, args.changes,
                                           time.monotonic() + args.duration, not args.no_media))
        out["sessions_wall_s"] = round(time.perf_counter() - t, 2)
        cpu1, rss = proc_stat(server.pid)
        out["server_cpu_s_under_load"] = round(cpu1 - cpu0, 1)
        out["server_rss_mb"] = round(rss, 1)
        poller.stop()
        time.sleep(1.0)  # let the last runs' threads settle
        cpu_a, _ = proc_stat(server.pid)
        time.sleep(args.idle)
        cpu_b, _ = proc_stat(server.pid)
        out["idle_cpu_fraction"] = round((cpu_b - cpu_a) / args.idle, 3)
    finally:
        poller.stop()
        stop_server(server)
        if args.keep_log:
            Path(args.keep_log).write_text(log_path.read_text(errors="replace"))
    lat = poller.latencies
    out["health"] = {"polls": len(lat), "failures": poller.failures, "p50_s": rounded(percentile(lat, 0.5)),
                     "p99_s": rounded(percentile(lat, 0.99)), "max_s": rounded(max(lat, default=float("nan")))}
    firsts = [r.first_maps_s for r in results if r.first_maps_s is not None]
    changes = [c for r in results for c in r.changes_s]
    out["first_maps_s"] = {"per_session": [rounded(r.first_maps_s, 2) for r in results],
                           "median": rounded(statistics.median(firsts) if firsts else None, 2),
                           "max": rounded(max(firsts, default=None), 2)}
    out["change_s"] = {"n": len(changes), "median": rounded(statistics.median(changes) if changes else None, 2),
                       "p90": rounded(percentile(changes, 0.9), 2), "max": rounded(max(changes, default=None), 2)}
    out["starved_sessions"] = sum(r.first_maps_s is None for r in results)
    out["sessions_done"] = sum(len(r.changes_s) == args.changes for r in results)
    out["media_fetched"] = sum(r.media_fetched for r in results)
    out["errors"] = {r.index: r.errors for r in results if r.errors}
    server_log = log_path.read_text(errors="replace")
    out["server_log_lines"] = server_log.count("\n")
    out["inotify_overflow_lines"] = server_log.count("Inotify queue overflowed")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    h = out["health"]
    print(f"sessions {args.sessions} · health p50 {h['p50_s']} s · p99 {h['p99_s']} s · max {h['max_s']} s "
          f"({h['polls']} polls, {h['failures']} failed) · first maps median {out['first_maps_s']['median']} s, "
          f"max {out['first_maps_s']['max']} s · change median {out['change_s']['median']} s, "
          f"max {out['change_s']['max']} s · starved {out['starved_sessions']} · "
          f"idle CPU {out['idle_cpu_fraction']} · RSS {out['server_rss_mb']} MB")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
