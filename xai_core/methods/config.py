"""Typed method settings: one frozen dataclass per method, with per-preset defaults.

A method's config is built once, from the dataclass defaults (the ``quick`` preset's values),
then the preset's overrides (``PRESETS``), then the caller's overrides; an unknown key is one
line naming the settings there are. Fields marked :func:`test_time` change only how a trained
method explains, not what it trains, so they stay out of :meth:`MethodConfig.cache_key`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import XAIError

C = TypeVar("C", bound="MethodConfig")


def test_time(default: Any) -> Any:
    """A field that changes only explaining (not training): left out of the cache key."""
    return dataclasses.field(default=default, metadata={"test_time": True})


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's settings (a method without settings uses it as is)."""

    #: preset -> the fields that differ from the dataclass defaults in that preset
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_preset(cls: type[C], preset: str, method: str = "method", **overrides: Any) -> C:
        """The preset's settings with ``overrides`` applied; unknown keys are a one-line error."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise XAIError(f"{method} has no setting {', '.join(map(repr, unknown))}; "
                           f"its settings: {', '.join(names) or 'none'}")
        values = {**cls.PRESETS.get(preset, {}), **overrides}
        return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (printed beside every result)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def cache_key(self) -> dict[str, Any]:
        """The settings that change what a trained method trains (its store key)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("test_time")}

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Integers given for float fields become floats (``u=4`` and ``u=4.0`` are one cache entry)."""
    kind = next(f.type for f in dataclasses.fields(cls) if f.name == name)
    if kind in ("float", "float | None") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
