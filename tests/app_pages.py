"""Driving the dashboard's pages with Streamlit's AppTest at the smoke preset (shared by the app tests)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def app_test(monkeypatch) -> AppTest:
    """The whole app (not run yet)."""
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)


def page(name: str, monkeypatch) -> AppTest:
    """One page of ``pages/``, run once without an exception."""
    monkeypatch.setenv("XAI_APP_PRESET", "smoke")
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def settle(at: AppTest, timeout: float = 600) -> AppTest:
    """After a click that starts a page's run (Evaluate, Ablations, Signal vs Distractor: background jobs in the
    short lane, never the page's own run): the job is drawn with its progress and Cancel; wait for every page
    job of this process to end, then run the page again, which shows the result."""
    from xai_core.jobs import MANAGER

    assert any(p.proto.text for p in at.get("progress")) or not [j for j in MANAGER.jobs() if j.active]
    for job in MANAGER.jobs():
        if job.key.startswith("page/") and job.active:
            MANAGER.wait(job.key, timeout)
    return at.run()


def evaluated(monkeypatch, methods: list[str], metrics: list[str], n: int = 4) -> AppTest:
    """The Evaluate page after running ``methods`` × ``metrics`` on ``n`` images, without an error."""
    at = page("evaluate.py", monkeypatch)
    next(m for m in at.multiselect if m.label == "Methods").set_value(methods)
    next(m for m in at.multiselect if m.label == "Metrics").set_value(metrics)
    at.slider[0].set_value(n)
    settle(at.button[0].click().run())
    assert not at.exception and not at.error, at.exception
    return at
