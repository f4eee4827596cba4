"""The name registry shared by datasets, models, methods and metrics."""
from __future__ import annotations

import pytest

from xai_core.errors import UnknownNameError
from xai_core.registry import Registry


def test_registration_order_help_lines_and_reordering():
    reg: Registry[int] = Registry("thing")
    for name, value in (("a", 1), ("b", 2), ("c", 3)):
        reg.register(name, f"the {name}")(value)
    assert reg.names() == ["a", "b", "c"] and reg.describe("b") == "the b" and "c" in reg
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(9)
    reg.reorder(("c", "a"))
    assert reg.names() == ["c", "a", "b"] and reg.get("a") == 1 and reg.describe("c") == "the c"
    with pytest.raises(UnknownNameError, match="unknown thing 'z'; choose from: c, a, b"):
        reg.reorder(("z",))
    reg.unregister("a")
    assert reg.names() == ["c", "b"]
