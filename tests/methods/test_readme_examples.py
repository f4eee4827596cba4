"""The "Adding a method" examples of docs/development.md are real: each registers and passes the method contract."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from .test_contract import check_contract, check_declarations, check_refusals
from xai_core.methods import METHODS

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "development.md"


def examples() -> list[str]:
    section = GUIDE.read_text(encoding="utf-8").split("## Adding a method", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_has_a_post_hoc_and_a_trained_example():
    blocks = examples()
    assert len(blocks) == 2 and "CaptumExplainer" in blocks[0] and "TrainedExplainer" in blocks[1]


@pytest.mark.parametrize("index", [0, 1])
def test_example_registers_and_meets_the_contract(index, tiny_net, tiny_info, images, store):
    before = set(METHODS.names())
    module = types.ModuleType(f"docs_example_{index}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(examples()[index], f"docs/development.md example {index + 1}", "exec"), module.__dict__)
    added = set(METHODS.names()) - before
    try:
        assert len(added) == 1
        name = added.pop()
        check_declarations(name)
        check_contract(name, tiny_net, tiny_info, images, store)
        check_refusals(name, tiny_net, tiny_info, images, store)
    finally:
        for name in set(METHODS.names()) - before:
            METHODS.unregister(name)
        del sys.modules[module.__name__]
