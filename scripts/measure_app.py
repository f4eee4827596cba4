"""Measure the dashboard as a user feels it, in a real browser (Debian's Chromium via Playwright):
time to first attribution on a cold start (empty cache, fresh server; every default method's map, the
five papers' from their shipped fits) and a warm one (new tab),
latency of changing the sample (new and revisited) and the methods, page-switch latency, and the
server's memory after exploring 50 samples. Writes JSON; prints a summary.

Usage: .venv/bin/python scripts/measure_app.py [--json artifacts/app_timings.json] [--samples 50]
"""
from __future__ import annotations

import argparse
import json
import re
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from xai_core.services.shipped import BESIDE_PAPERS, PAPER_METHODS  # noqa: E402
from tests.e2e.driver import (  # noqa: E402
    IMAGES, chromium_path, free_port, methods_box, start_server, stop_server, wait_healthy, wait_idle,
)

HEATMAP = '[data-testid="stImageCaption"]'
IDLE_JS = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state') === 'notRunning'"


# what shows that a page has finished drawing after a switch
READY = {
    "Evaluate": "!!document.querySelector('[data-testid=\"stFormSubmitButton\"]')",
    "Explore": "document.querySelectorAll('[data-testid=\"stImage\"]').length > 4",
}


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def first_src(page: Page) -> str:
    return page.locator(IMAGES).first.get_attribute("src") or ""


def until(page: Page, condition_js: str, arg=None, timeout_ms: int = 600_000) -> None:
    """Wait until ``condition_js`` holds and the script has finished its run."""
    page.wait_for_function(f"(arg) => ({condition_js}) && {IDLE_JS}", arg=arg, timeout=timeout_ms, polling=10)


#: Explore's first methods on a fresh clone (services.preselected: the five papers' methods ship fitted)
DEFAULT_METHODS = (*PAPER_METHODS, BESIDE_PAPERS)


def attributions_shown(page: Page) -> None:
    """Every default method's heatmap is on screen (its overlay caption)."""
    until(page, "arg.every(m => [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
                ".some(e => e.textContent.trim() === m + ' · overlay'))", list(DEFAULT_METHODS))


def methods_shown(page: Page) -> list[str]:
    """The methods whose overlays are on screen, in order."""
    return page.evaluate("[...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
                         ".map(e => e.textContent.trim()).filter(t => t.endsWith(' · overlay'))"
                         ".map(t => t.slice(0, -' · overlay'.length))")


def change_sample(page: Page) -> float:
    """Click Random; seconds until the new sample's maps are shown."""
    before = first_src(page)
    t = time.perf_counter()
    page.get_by_role("button", name="Random").click()
    until(page, "document.querySelector('[data-testid=\"stImage\"] img')?.getAttribute('src') !== arg", before)
    return time.perf_counter() - t


def sample_box(page: Page):
    return page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Test sample", exact=False))


def current_sample(page: Page) -> int:
    return int(re.search(r"#(\d+)", sample_box(page).get_by_role("combobox").input_value()).group(1))


def select_sample(page: Page, index: int) -> float:
    """Pick test sample ``index`` (not the current one) in the selector; seconds until its maps are shown."""
    before = first_src(page)
    box = sample_box(page)
    combo = box.get_by_role("combobox")
    combo.click()
    combo.fill(f"#{index} ")
    option = page.get_by_role("option").filter(has_text=re.compile(rf"^#{index} "))
    option.wait_for()
    t = time.perf_counter()
    option.click()
    until(page, "document.querySelector('[data-testid=\"stImage\"] img')?.getAttribute('src') !== arg", before)
    return time.perf_counter() - t


def toggle_method(page: Page, name: str) -> tuple[float, float]:
    """Remove method ``name`` and add it back: seconds until each change is drawn."""
    captions = f"[...document.querySelectorAll('{HEATMAP}')].filter(e => e.textContent.trim() === '{name}').length"
    t = time.perf_counter()
    methods_box(page).get_by_role("button", name=f"Remove {name}").click()
    until(page, f"{captions} === 0")
    removed = time.perf_counter() - t
    field = methods_box(page).get_by_role("combobox", name="Methods")
    field.click()
    field.fill(name)
    t = time.perf_counter()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} — ")).click()  # "name — description"
    until(page, f"{captions} === 1")
    added = time.perf_counter() - t
    field.press("Escape")
    return removed, added


def switch_page(page: Page, title: str, ready_js: str) -> float:
    t = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    until(page, f"document.querySelector('h1')?.textContent.includes('{title}') && ({ready_js})")
    return time.perf_counter() - t


def log(message: str) -> None:
    print(f"[measure] {message}", file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(ROOT / "artifacts" / "app_timings.json"))
    parser.add_argument("--samples", type=int, default=50, help="samples explored before measuring memory")
    args = parser.parse_args()
    chromium = chromium_path()
    if chromium is None:
        sys.exit("error: Chromium not found (apt install chromium)")

    cache = tempfile.mkdtemp(prefix="xai-measure-")  # cold: an empty artifact store
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(cache) / "server.log"
    env = {**os.environ, "XAI_CACHE_DIR": cache}
    env.pop("XAI_APP_PRESET", None)
    out: dict = {"cpu_threads": os.cpu_count(), "cache": "empty at start", "preset": "quick", "dataset": "hard_mnist"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        server = start_server(port, env, log_path)
        try:
            wait_healthy(server, url, log_path, 120)
            log("server healthy")
            out["server_ready_s"] = round(time.perf_counter() - t0, 2)
            page.goto(url)
            attributions_shown(page)
            log("first attribution (cold)")
            out["cold_first_attribution_s"] = round(time.perf_counter() - t0, 2)
            out["methods_shown"] = methods_shown(page)
            out["rss_after_first_mb"] = round(rss_mb(server.pid), 1)

            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            tab.goto(url)
            attributions_shown(tab)
            out["warm_first_attribution_new_tab_s"] = round(time.perf_counter() - t, 2)
            tab.close()

            log("warm tab done")
            new = [change_sample(page) for _ in range(10)]
            out["change_sample_new_s"] = summary(new)
            log("new samples done")
            seen = (0, current_sample(page))  # both explained already: cached
            revisit = [select_sample(page, seen[i % 2]) for i in range(4)]
            out["change_sample_revisit_s"] = summary(revisit)
            log("revisits done")
            removed, added = zip(*[toggle_method(page, "gradcam") for _ in range(3)])
            out["remove_method_s"], out["add_method_back_s"] = summary(list(removed)), summary(list(added))
            log("method toggles done")
            to_eval, to_explore = [], []
            for _ in range(3):
                to_eval.append(switch_page(page, "Evaluate", READY["Evaluate"]))
                to_explore.append(switch_page(page, "Explore", READY["Explore"]))
            out["switch_to_evaluate_s"], out["switch_to_explore_s"] = summary(to_eval), summary(to_explore)

            log("page switches done")
            out["rss_before_exploring_mb"] = round(rss_mb(server.pid), 1)
            for _ in range(args.samples):
                change_sample(page)
            wait_idle(page)
            out["samples_explored"] = args.samples + len(new)
            out["rss_after_exploring_mb"] = round(rss_mb(server.pid), 1)
        finally:
            stop_server(server)
            browser.close()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
