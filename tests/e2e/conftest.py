"""Fixtures for the real-browser tests: one Streamlit server per session, Debian's Chromium via Playwright."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .driver import ROOT, chromium_path, free_port, start_server, stop_server, wait_healthy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The app starts on its defaults (hard_mnist, "quick": a shipped black box, no training). XAI_E2E_PRESET=smoke
# (or paper) starts it on another preset instead (passed on as XAI_APP_PRESET).
PRESET = os.environ.get("XAI_E2E_PRESET", "")
STARTUP_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium not found (apt install chromium): real-browser tests need it")
    return path


@pytest.fixture(scope="session")
def app_url(chromium_executable: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run serve.py` (XAI_CACHE_DIR comes from tests/conftest.py) and yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **({"XAI_APP_PRESET": PRESET} if PRESET else {})}
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    server = start_server(port, env, log_path)
    try:
        try:
            wait_healthy(server, url, log_path, STARTUP_TIMEOUT_S)
        except RuntimeError as err:
            pytest.fail(str(err))
        print(f"streamlit at {url} (preset {PRESET or 'default'}), log: {log_path}", flush=True)
        yield url
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root; Chromium refuses its sandbox there
        browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, screenshot_dir: Path) -> Iterator[Page]:
    """A fresh 1400×1000 tab; on failure its last state is saved as failure-<test>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(screenshot_dir / f"failure-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """$XAI_SCREENSHOT_DIR, else artifacts/screenshots/ under the repo root."""
    path = Path(os.environ.get("XAI_SCREENSHOT_DIR") or ROOT / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
