"""A tiny name -> factory registry (timm-style) shared by datasets, models, methods and metrics."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects, keeps registration order and describes each entry in one line."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            self._help[name] = help or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove an entry (plugins and tests that register temporary entries)."""
        self.get(name)
        del self._items[name], self._help[name]

    def reorder(self, names: tuple[str, ...]) -> None:
        """List ``names`` first, in this order (entries registered by several modules, listed as one
        sequence); the others keep their order after them."""
        for name in names:
            self.get(name)
        self._items = {n: self._items[n] for n in (*names, *(n for n in self._items if n not in names))}

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; choose from: {', '.join(self._items)}"
            ) from None

    def describe(self, name: str) -> str:
        self.get(name)
        return self._help[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
