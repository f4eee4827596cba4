"""Driving the dashboard in a real browser: the Streamlit server, Debian's Chromium, and the waits
and widget handling Streamlit needs. Shared by the end-to-end test and scripts/measure_app.py."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# One script run. The first one loads the black box: seconds from the shipped weights, but minutes of
# training on 2 CPU cores if those are stale or missing (still inside pytest's --timeout 900).
RUN_TIMEOUT_MS = 600_000
UI_TIMEOUT_MS = 30_000  # a widget reacting
IMAGES = '[data-testid="stImage"] img'


def chromium_path() -> str | None:
    """Debian's Chromium (we never download Playwright's own browsers)."""
    for candidate in CHROMIUM_CANDIDATES:
        found = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def start_server(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`streamlit run serve.py` (app.py behind the Host check) in its own process group, logging to ``log_path``."""
    command = [
        sys.executable, "-m", "streamlit", "run", "serve.py",
        "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        # the source tree may change while the tests run: no file watching, no rerun on save
        "--server.fileWatcherType=none", "--server.runOnSave=false",
    ]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_healthy(server: subprocess.Popen, url: str, log_path: Path, timeout_s: float) -> None:
    """Until /_stcore/health says ok; RuntimeError with the log's tail if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while not healthy(url):
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log_path.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit not healthy after {timeout_s:.0f} s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if server.poll() is not None:
        return
    pgid = os.getpgid(server.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        server.wait(timeout=15)


def step(message: str) -> None:
    """Progress line (shown with -s, and in the captured output of a failure)."""
    print(f"[e2e] {message}", flush=True)


def wait_idle(page: Page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until Streamlit is connected and has finished its script run (no "Running…" widget)."""
    page.wait_for_timeout(300)  # a rerun triggered just now may not have been sent yet
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_be_hidden(timeout=timeout_ms)


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page PNG. Streamlit scrolls inside <main>, so the viewport is grown to its content first."""
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => Math.max(...['[data-testid=\"stMain\"]', '[data-testid=\"stSidebarContent\"]']"
        ".map(s => document.querySelector(s)?.scrollHeight ?? 0))"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], int(height)), 10_000)})
    try:
        page.wait_for_timeout(300)  # let the layout settle at the new height
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def assert_no_exception(page: Page, where: str) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{where}: Streamlit exception:\n{boxes.first.inner_text()}"


def methods_box(page: Page) -> Locator:
    return page.locator('[data-testid="stMultiSelect"]').filter(has=page.get_by_text("Methods", exact=True))


def chosen(box: Locator) -> list[str]:
    """The chosen methods' names (each tag reads "name — description")."""
    return [(tag.get_attribute("aria-label") or "").split(" — ")[0] for tag in box.locator("[data-tag]").all()]


def choose_methods(page: Page, names: list[str]) -> None:
    """Set the "Methods" multiselect to exactly ``names``: clear it, then pick each by typing its name.
    Typing opens a filtered list whose first entry is "Select N matches" (Enter would take all of them),
    so the exact option is clicked instead."""
    box = methods_box(page)
    clear = box.get_by_role("button", name="Clear all")
    if clear.count():
        clear.click()
        wait_idle(page)
    field = box.get_by_role("combobox", name="Methods")
    for name in names:
        field.click()
        field.fill(name)
        option = page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} — "))  # "name — description"
        expect(option).to_be_visible(timeout=UI_TIMEOUT_MS)
        option.click()
        wait_idle(page)
    field.press("Escape")  # close the dropdown so it does not cover the images
    assert chosen(methods_box(page)) == names


def assert_method_images(page: Page, names: list[str]) -> None:
    """The input image plus a heatmap and an overlay per method, each method's caption visible."""
    captions = page.locator('[data-testid="stImageCaption"]')
    for name in names:
        expect(captions.get_by_text(name, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert page.locator(IMAGES).count() >= 1 + 2 * len(names)


def nav_links(page: Page) -> dict[str, str]:
    """Page title → URL for every page in the sidebar navigation (icons stripped)."""
    links = {}
    for link in page.locator('[data-testid="stSidebarNav"] a').all():
        title = link.inner_text().strip().splitlines()[-1].strip()
        links[title] = link.get_attribute("href") or ""
    return links


def go_to(page: Page, title: str) -> None:
    """Follow the sidebar link ``title`` and wait for the page's script run to finish."""
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True)
    href = link.get_attribute("href") or ""
    link.click()
    path = href.split("?")[0]  # the page then writes its state into the query (shareable links)
    page.wait_for_url(lambda url: url.split("?")[0] == path, timeout=UI_TIMEOUT_MS)
    wait_idle(page)


