"""The ASGI app factory: predictions, control plane and health in one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import ailayer
from ailayer import dashboard as console
from ailayer.api import docs_ui, errors
from ailayer.api.early import EarlyRefusal
from ailayer.api.fastpath import PredictFastPath, refusals_of
from ailayer.api.limits import BodyLimitMiddleware
from ailayer.api.metrics import AppMetrics, MetricsMiddleware, open_metrics
from ailayer.api.metrics import router as metrics_router
from ailayer.api.origin import OriginMiddleware
from ailayer.api.routes import (
    alerts,
    audit,
    cards,
    cost,
    deployments,
    drift,
    endpoints,
    events,
    experiments,
    fairness,
    features,
    health,
    keys,
    models,
    monitoring,
    oip,
    pipelines,
    predict,
    privacy,
    ranking,
    teams,
)
from ailayer.api.tracing import TracingMiddleware
from ailayer.bootstrap import Services, build
from ailayer.core.process import enter_scratch_directory, freeze_startup_objects
from ailayer.core.public import path_scrubber
from ailayer.core.settings import load_settings
from ailayer.core.tracing import Tracing

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def create_app(services: Services, tracing: Tracing | None = None) -> FastAPI:
    """The app over ``services``; ``tracing`` defaults to the services' own (what the
    settings ask for, opened by ``build``)."""
    tracing = tracing if tracing is not None else services.tracing

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.log_writer.start()
        usage = services.usage_writer
        if usage is not None:
            await usage.start()
        try:
            with open_metrics(app.state.metrics.registry, services.settings.metrics_listen):
                yield
        finally:
            await services.predictor.shadows.stop()
            await services.log_writer.stop()
            if usage is not None:
                await usage.stop()  # what this process measured since its last write
            await services.aclose()
            tracing.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="ailayer",
        version=ailayer.__version__,
        description="Predictions (native at /v1/predict, the Open Inference Protocol v2 at "
        "/v2) and the control plane. Every route but health needs "
        "`Authorization: Bearer <API key>`; the tenant comes from the key.",
        strict_content_type=False,  # no Content-Type: read as JSON, like the raw routes
        docs_url=None,  # /docs and /redoc come from docs_ui: assets from the package
        redoc_url=None,
    )
    app.state.services = services
    app.state.metrics = AppMetrics(services)
    app.state.tracing = services.tracing = services.predictor.tracing = tracing
    app.state.scrub_paths = path_scrubber(services.settings)  # error messages: no server paths
    errors.install(app)
    app.include_router(features.online_router)  # first: the hot path skips other matches
    app.include_router(metrics_router)
    for module in (
        health,
        predict,
        oip,
        models,
        endpoints,
        features,
        events,
        keys,
        audit,
        monitoring,
        drift,
    ):
        app.include_router(module.router)
    app.include_router(alerts.router)
    app.include_router(fairness.router)
    app.include_router(deployments.router)
    app.include_router(experiments.router)
    app.include_router(ranking.router)
    app.include_router(pipelines.router)
    app.include_router(pipelines.lineage_router)
    app.include_router(cost.router)
    app.include_router(privacy.router)
    app.include_router(teams.router)
    app.include_router(cards.router)
    app.mount(console.PREFIX, console.create_console(services))  # the web console
    docs_ui.install(app)  # last: never in front of the API's routes
    app.state.refusals = refusals = refusals_of(app)
    app.state.early_refusal = (
        None if refusals is None else EarlyRefusal(refusals, app.state.metrics)
    )
    if app.state.early_refusal is not None:
        app.state.metrics.turns = app.state.early_refusal.turns
    app.add_middleware(OriginMiddleware)  # behind the fast path: predictions skip it
    app.add_middleware(PredictFastPath, api=app)  # in front of the origin, behind the rest
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=services.settings.max_body_bytes,
        max_upload_bytes=MAX_UPLOAD_BYTES,
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # sees 413s
    if tracing.enabled:  # off: not installed at all
        app.add_middleware(TracingMiddleware, tracing=tracing)  # outermost
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker serving (a dedicated process
    per worker): settings from env/yaml."""
    app = create_app(build(load_settings()))
    enter_scratch_directory()
    freeze_startup_objects()
    return app
