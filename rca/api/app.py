"""The FastAPI application factory. Nothing happens at import: `create_app` builds, the lifespan starts."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from rca.api.errors import install_error_handlers
from rca.api.metrics import Metrics, MetricsMiddleware
from rca.api.worker import AnalysisWorker
from rca.config import Settings, get_settings
from rca.store.keys import VerifiedKeys


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """The review service. On start it upgrades the database (unless ``migrate=False``) and starts the
    analysis worker; on stop it lets the worker finish the incident in hand."""
    from rca.api.routers import ROUTERS
    from rca.console import install as install_console

    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if migrate:
            from rca.store.db import upgrade

            upgrade(settings.resolved_database_url)
        app.state.worker.start()
        try:
            yield
        finally:
            app.state.worker.stop()

    app = FastAPI(title="rca review service", version="1", lifespan=lifespan,
                  summary="Submit incident bundles, read ranked root causes, review them, retrain the ranker.")
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.worker = AnalysisWorker(settings, threads=settings.workers, metrics=metrics)
    app.state.verified_keys = VerifiedKeys(settings.key_cache_seconds)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
