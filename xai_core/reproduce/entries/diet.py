"""diet claims: filled by the reproduction entries work."""
from __future__ import annotations
