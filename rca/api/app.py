"""The FastAPI application factory. Nothing happens at import: `create_app` builds, the lifespan starts."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rca.api.errors import install_error_handlers
from rca.api.limits import BodyLimitMiddleware
from rca.api.metrics import Metrics, MetricsMiddleware
from rca.api.openapi import document_auth
from rca.api.retrainer import Retrainer
from rca.api.worker import AnalysisWorker
from rca.config import Settings, get_settings
from rca.locks import acquire
from rca.store.keys import VerifiedKeys


def create_app(settings: Settings | None = None, *, migrate: bool = True, freeze_heap: bool = False,
               resume_pending: bool = True) -> FastAPI:
    """The review service. On start it upgrades the database (unless ``migrate=False``), with ``freeze_heap``
    (what `rca serve` does) calls `freeze_startup_heap`, and starts the analysis worker (which first queues
    incidents left pending, unless ``resume_pending=False``); on stop it lets the worker finish the incident
    in hand, and does not wait for a retrain running (`Retrainer.stop`)."""
    from rca.api.routers import ROUTERS
    from rca.console import install as install_console

    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if migrate:
            from rca.store.db import upgrade

            upgrade(settings.resolved_database_url)
        if freeze_heap:
            freeze_startup_heap(settings)
        app.state.worker.start(resume=resume_pending)
        try:
            yield
        finally:
            app.state.worker.stop()
            app.state.retrainer.stop()

    app = FastAPI(title="rca review service", version="1", lifespan=lifespan,
                  summary="Submit incident bundles, read ranked root causes, review them, retrain the ranker.")
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.worker = AnalysisWorker(settings, threads=settings.workers, metrics=metrics)
    app.state.retrainer = Retrainer(settings)
    app.state.verified_keys = VerifiedKeys(settings.key_cache_seconds)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    document_auth(app, ROUTERS)
    app.add_middleware(BodyLimitMiddleware)
    from rca.console.routes import router as console_router

    app.add_middleware(MetricsMiddleware, metrics=metrics,
                       templates=[r.path for router in (*ROUTERS, console_router) for r in router.routes])
    return app


def freeze_startup_heap(settings: Settings) -> None:
    """Load the ranker now, then move every object alive into the garbage collector's permanent generation.

    A full (generation 2) collection walks every tracked object, ~240,000 once pandas, scipy, LightGBM and the
    ranker are loaded: ~120 ms on a 2-core machine, during which no request is served. Under load there were
    3-4 of them every 8 s, and they made the p99 of the reads. Frozen objects are still freed when their last
    reference goes; only garbage cycles among them would never be collected, and what is alive after
    start-up (modules, the ranker, caches) lives as long as the process. Not for tests: it is process-wide.
    """
    from rca.service import get_ranker

    get_ranker(settings)  # the first analysis would load it (and its imports) anyway
    gc.collect()
    gc.freeze()


def serve_process() -> FastAPI:
    """The app of one process of ``rca serve --processes N`` (a uvicorn factory; settings from the
    environment). The parent has migrated the store. Only the process that takes the data directory's
    resume lock queues the incidents a previous run left pending, so N processes do not analyze them N
    times, and queues again, while it runs, those lost by another process (`AnalysisWorker.recover`). A
    process restarted after a crash may take the lock and queue one that another process has in hand: it skips
    it once the other has stored its answer (`rca.store.queries.claim_incident`), and while both hold it both
    analyze it, storing the same answer twice."""
    settings = get_settings()
    lock = acquire(settings.data_dir / "resume.lock", wait=False)
    app = create_app(settings, migrate=False, freeze_heap=True, resume_pending=lock is not None)
    app.state.resume_lock = lock  # held open, so locked, for the life of the process
    return app


