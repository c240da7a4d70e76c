"""``/healthz`` (the store answers) and ``/metrics`` (Prometheus text); both open, no key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from rca import __version__
from rca.api.deps import SessionDep, WorkerDep
from rca.api.schemas import ErrorBody
from rca.store import queries
from rca.store.db import STORE_AWAY

router = APIRouter(tags=["health"])

STORE_WAIT_MS = 2000


@router.head("/healthz", include_in_schema=False)  # uptime checkers that send HEAD got 405
@router.get("/healthz", responses={503: {"model": ErrorBody, "description": "the store could not be reached "
                                                   "(with Retry-After)"}})
def healthz(session: SessionDep, worker: WorkerDep) -> dict:
    """The store answers; with the analysis queue's depth and the package version (HEAD too, for uptime checkers
    that send it). (Not the ranker in use:
    reading it can load a model, and a damaged registry would fail the probe; ``GET /v1/rankers`` says.)"""
    session.exec(text("SELECT 1 FROM incident WHERE 1 = 0"))   # the store's table: a database recreated empty fails
    return {"status": "ok", "queue_depth": worker.depth, "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, session: SessionDep, worker: WorkerDep) -> PlainTextResponse:
    """The service's own counters always; the stored incidents by status when the store answers within
    2 s, ``STORE_WAIT_MS`` (``rca_store_up`` says whether it did). A scrape neither waits on a locked table nor fails
    with the store: an outage is when its counters are wanted."""
    gauges = {"rca_analysis_queue_depth": ("Incidents queued or being analyzed.", worker.depth)}
    try:
        counts = queries.incident_counts(session, timeout_ms=STORE_WAIT_MS)
    except (*STORE_AWAY, sa_exc.DBAPIError):   # away, or recreated without its tables (`not_migrated`)
        counts = {}
    gauges["rca_store_up"] = (f"1 if the store gave the incident counts within {STORE_WAIT_MS} ms, else 0 "
                              "(and the rca_incidents_* gauges are left out).", float(bool(counts)))
    for status, n in counts.items():
        gauges[f"rca_incidents_{status.value}"] = (f"Stored incidents with status {status.value}.", n)
    return PlainTextResponse(request.app.state.metrics.render(gauges),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
