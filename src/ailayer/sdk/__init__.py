"""The Python SDK: ``Client`` and ``AsyncClient`` over the HTTP API."""

from ailayer.sdk.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client"]
