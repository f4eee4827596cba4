"""The Evaluate page's *Class explained*: the papers' top-1 by default, the label on request; the choice
reaches the evaluation, its caption and the command printed under the result."""
from __future__ import annotations

import shlex

from tests.app_pages import page, settle


def test_evaluate_page_passes_the_class_explained_to_the_service_and_the_command(monkeypatch):
    from xai_core import cli, services

    calls = []
    real = services.evaluate

    def spy(ctx, methods, metrics, n, **options):
        calls.append(options.get("target"))
        return real(ctx, methods, metrics, n, **options)

    at = page("evaluate.py", monkeypatch)
    monkeypatch.setattr(services, "evaluate", spy)
    box = next(b for b in at.selectbox if b.label == "Class explained")
    assert box.value == "top1" and box.options == ["the black box's top-1 (the papers)", "the label"]
    next(m for m in at.multiselect if m.label == "Methods").set_value(["gradient"])
    next(m for m in at.multiselect if m.label == "Metrics").set_value(["deletion"])
    at.slider[0].set_value(4)
    for choice in ("top1", "label"):
        next(b for b in at.selectbox if b.label == "Class explained").set_value(choice)
        settle(at.button[0].click().run())
        assert not at.exception and not at.error, at.exception
        assert calls[-1] == choice
        assert any(f"target: {choice}" in c.value for c in at.caption)
        command = at.code[0].value
        assert ("--target label" in command) == (choice == "label")
        assert cli.build_parser().parse_args(shlex.split(command)[3:]).target == choice
