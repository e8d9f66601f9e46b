"""``POST /v1/events`` on the real app: a valid CloudEvent body and the app that takes it."""

from __future__ import annotations

from fastapi import FastAPI

from ailayer.api import create_app
from ailayer.bootstrap import Services

VALID = {"specversion": "1.0", "id": "e1", "source": "/billing", "type": "payment.created"}


def app_with_events(services: Services) -> FastAPI:
    """The real app (its composition root includes the events router)."""
    return create_app(services)
