"""The dashboard in a real browser: a Streamlit server + Debian's Chromium driven by Playwright.

One test walks through the app in order (a → d) so that the whole thing runs in one pytest(-xdist)
worker against one server. Screenshots go to $XAI_SCREENSHOT_DIR or artifacts/screenshots/.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from playwright.sync_api import Page, expect

from .conftest import PRESET
from .driver import (
    IMAGES, RUN_TIMEOUT_MS, assert_method_images, assert_no_exception, choose_methods, chosen, go_to,
    methods_box, nav_links, screenshot, step, wait_idle,
)

pytestmark = pytest.mark.e2e
METHODS = ["gradient", "gradcam", "smoothgrad"]
PAPERS = ["diet", "dorar", "comet", "meed", "input_iba"]  # the five papers' methods: fits ship for the default
RUN_BUTTONS = {"Ablations": "Run ablation", "Signal vs Distractor": "Compare"}


def png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_dashboard_in_browser(page: Page, app_url: str, screenshot_dir: Path, tmp_path: Path) -> None:
    step("a. Explore (home page): the five papers' methods without training, then three methods → their maps")
    page.goto(app_url)
    expect(page.locator(IMAGES).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page, "Explore (start)")
    if not PRESET:  # the default dataset and preset: their fits ship in assets/fits/
        assert chosen(methods_box(page)) == [*PAPERS, "gradcam"]
        assert_method_images(page, [*PAPERS, "gradcam"])
        screenshot(page, screenshot_dir, "explore_papers")
    choose_methods(page, METHODS)
    assert_method_images(page, METHODS)
    assert_no_exception(page, "Explore (methods)")
    screenshot(page, screenshot_dir, "explore")

    step("a2. a second tab at the same time gets its own session with attributions")
    other = page.context.new_page()
    other.goto(app_url)
    expect(other.locator('[data-testid="stImageCaption"]').get_by_text("gradcam · overlay", exact=True)).to_be_visible(
        timeout=RUN_TIMEOUT_MS)
    wait_idle(other)
    assert_no_exception(other, "second tab")
    other.close()
    assert chosen(methods_box(page)) == METHODS  # the first tab kept its own choice

    step("a3. IBA and InputIBA: the final map beside IBA's capacity map and the prior λ_G")
    choose_methods(page, ["iba", "input_iba"])
    captions = page.locator('[data-testid="stImageCaption"]')
    for caption in ("iba", "input_iba", "input_iba · feature capacity (IBA, bits)", "input_iba · input prior λ_G"):
        expect(captions.get_by_text(caption, exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page, "Explore (IBA, InputIBA)")
    screenshot(page, screenshot_dir, "explore_iba")
    choose_methods(page, METHODS)
    assert_method_images(page, METHODS)

    step("b. Evaluate: run the default evaluation → curves as plotly charts")
    links = nav_links(page)
    assert {"Explore", "Evaluate"} <= links.keys(), f"navigation: {list(links)}"
    go_to(page, "Evaluate")
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.locator('[data-testid="stPlotlyChart"], .js-plotly-plot').first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page, "Evaluate")
    screenshot(page, screenshot_dir, "evaluate")

    step("c. Explore again: a good upload is explained (no label), a broken one gives an error")
    go_to(page, "Explore")
    expect(page.locator(IMAGES).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    good, broken = tmp_path / "photo.png", tmp_path / "broken.png"
    good.write_bytes(png_bytes())
    broken.write_bytes(b"not an image")
    uploader = page.locator('[data-testid="stFileUploader"] input[type=file]')
    uploader.set_input_files(str(good))
    expect(page.locator('[data-testid="stMain"]')).to_contain_text("Label: unknown", timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page, "Explore (upload)")
    upload_error = page.locator('[data-testid="stAlert"]').filter(has_text="Could not use this upload")
    expect(upload_error).to_have_count(0)
    assert chosen(methods_box(page)) == METHODS  # the choice survived the visit to Evaluate
    assert_method_images(page, METHODS)
    screenshot(page, screenshot_dir, "upload")

    uploader.set_input_files(str(broken))
    expect(upload_error).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page, "Explore (broken upload)")
    expect(page.locator(IMAGES).first).to_be_visible()  # the dataset sample is shown instead
    assert page.locator(IMAGES).count() >= 2
    screenshot(page, screenshot_dir, "upload_error")

    step(f"d. the other pages render without an exception: {[t for t in links if t not in ('Explore', 'Evaluate')]}")
    for title in links:
        if title in ("Explore", "Evaluate"):
            continue
        step(f"   {title}")
        go_to(page, title)
        if title in RUN_BUTTONS:  # pages with a form: run it and see a chart
            page.get_by_role("button", name=RUN_BUTTONS[title]).click()
            expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(timeout=RUN_TIMEOUT_MS)
            wait_idle(page)
        assert_no_exception(page, title)
        screenshot(page, screenshot_dir, title.lower().replace(" ", "_"))
    step("e. a background fit shows its progress and a Cancel button; Cancel stops it cleanly")
    go_to(page, "Train")
    anyway = page.get_by_text("Start it anyway", exact=False)
    if anyway.count():  # a fit estimated above 2 minutes waits for this confirmation
        anyway.first.click()
        wait_idle(page)
    page.get_by_role("button", name="Fit", exact=True).first.click()
    cancel = page.get_by_role("button", name="Cancel", exact=True).first
    expect(cancel).to_be_visible(timeout=RUN_TIMEOUT_MS)
    screenshot(page, screenshot_dir, "train_job")
    cancel.click()
    expect(page.get_by_text("cancelled", exact=False).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    assert_no_exception(page, "Train (cancelled fit)")
