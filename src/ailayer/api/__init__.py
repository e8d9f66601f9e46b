"""The HTTP API: predictions and the control plane in one ASGI app."""

from ailayer.api.app import create_app

__all__ = ["create_app"]
