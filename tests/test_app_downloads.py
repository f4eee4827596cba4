"""Downloads never rerun the page: a rerun of Evaluate takes tens of seconds, and a second download
clicked during it is cancelled by the browser (issue 29). Every ``download_button`` in the dashboard
passes ``on_click="ignore"``."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _download_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "download_button":
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_download_button_ignores_the_click():
    calls = _download_calls()
    assert len(calls) >= 9  # Explore, Evaluate and Ablations offer downloads
    rerunning = [where for where, call in calls
                 if not any(k.arg == "on_click" and isinstance(k.value, ast.Constant) and k.value.value == "ignore"
                            for k in call.keywords)]
    assert rerunning == []
