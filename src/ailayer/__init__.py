"""ailayer: the AI layer of a SaaS product.

The public API is exactly ``__all__``; everything else is an implementation module.
``ailayer.simulate`` is imported on first use (it brings pandas).
"""

from __future__ import annotations

from typing import Any

from ailayer import errors as _errors
from ailayer.errors import *  # noqa: F403 - the public exception classes
from ailayer.sdk import AsyncClient, Client

__version__ = "0.1.0"

__all__ = [*_errors.__all__, "AsyncClient", "Client", "__version__", "simulate"]  # noqa: F405


def __getattr__(name: str) -> Any:
    if name == "simulate":
        import importlib

        return importlib.import_module("ailayer.simulate")
    raise AttributeError(f"module 'ailayer' has no attribute {name!r}")
