"""The registered claims, one module per paper (importing registers; the order is the listing order)."""
# isort: off
from . import diet, inputiba, dorar, comet, meed  # noqa: F401
