"""The app a serverless container keeps between invocations.

The first invocation of a container builds the services and the app from the
environment's settings (``AILAYER_*``: the metadata database, artifacts and offline store
on S3 and PostgreSQL); later ones reuse them, so a model loaded once stays in the model
cache while the container lives. The platform freezes the process between invocations:
nothing may rely on a background task or a child process. So the prediction log runs in
the serving process (``log_process`` off), nothing listens for metrics, and what an
invocation logged is written before it returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI

from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from ailayer.core.settings import Settings, load_settings

SERVERLESS = {"log_process": False, "metrics_listen": ""}


class ServerlessApp:
    """Built on first use, then kept; ``settings``: where its settings come from."""

    def __init__(self, settings: Callable[[], Settings] = load_settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._services: Services | None = None
        self._app: FastAPI | None = None
        self.cold_start_seconds: float | None = None  # building it, on its first use

    @property
    def app(self) -> FastAPI:
        with self._lock:
            if self._app is None:
                started = time.perf_counter()
                settings = self._settings().model_copy(update=SERVERLESS)
                self._services = build(settings, migrate=False)  # migrations: a job of their own
                self._app = create_app(self._services)
                self.cold_start_seconds = time.perf_counter() - started
            return self._app

    def finish_invocation(self) -> None:
        """Write what the invocation logged, before the platform freezes the process."""
        services = self._services
        if services is not None and services.prediction_log.buffer.rows:
            services.prediction_log.flush()
