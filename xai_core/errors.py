"""User-facing errors: one clear line, no traceback (the CLI and the pages print ``str(err)``)."""
from __future__ import annotations


class XAIError(Exception):
    """Any error caused by user input or missing optional data."""


class UnknownNameError(XAIError, KeyError):
    """A dataset, method, metric, model or preset name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown name"


class MissingDataError(XAIError):
    """Optional data (a Debian package, a download) is not present on this machine."""


class InvalidInputError(XAIError, ValueError):
    """A file, image or argument that cannot be used as given."""


class StoreError(XAIError, OSError):
    """The on-disk cache cannot be used: its root is a file, it is read-only, or the disk is full.

    Also an ``OSError``, so callers that already catch write errors keep working."""

    def __str__(self) -> str:  # OSError would prefix "[Errno n]" when given two arguments
        return str(self.args[0]) if self.args else "the cache cannot be written"
