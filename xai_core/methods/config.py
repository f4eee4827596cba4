"""Typed method settings: one frozen dataclass per method, with per-preset defaults.

A method's config is built once, from the dataclass defaults (the ``quick`` preset's values),
then the preset's overrides (``PRESETS``), then the caller's overrides; an unknown key is one
line naming the settings there are. Fields marked :func:`test_time` change only how a trained
method explains, not what it trains, so they stay out of :meth:`MethodConfig.cache_key`; fields
declared with :func:`setting` carry the label and help the dashboard offers them with
(:meth:`MethodConfig.offered`).
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


def setting(default: Any, label: str, help: str, *, test_time: bool = False) -> Any:  # noqa: A002 - Streamlit's name
    """A field the dashboard offers (Explore's "Method settings"), with its widget's label and help."""
    return dataclasses.field(default=default, metadata={"label": label, "help": help, "test_time": test_time})


@dataclass(frozen=True)
class Offered:
    """A setting the dashboard offers: the field's name, its label and its help line."""

    name: str
    label: str
    help: str


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

    @classmethod
    def offered(cls) -> tuple[Offered, ...]:
        """The fields declared with :func:`setting`, in declaration order."""
        return tuple(Offered(f.name, f.metadata["label"], f.metadata["help"])
                     for f in dataclasses.fields(cls) if "label" in f.metadata)

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
