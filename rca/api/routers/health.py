"""``/healthz`` (the store answers) and ``/metrics`` (Prometheus text); both open, no key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from rca import __version__
from rca.api.deps import SessionDep, WorkerDep
from rca.store import queries
from rca.store.models import IncidentStatus

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep, worker: WorkerDep) -> dict:
    """The store answers; with the analysis queue's depth and the package version. (Not the ranker in use:
    reading it can load a model, and a damaged registry would fail the probe; ``GET /v1/rankers`` says.)"""
    session.exec(text("SELECT 1"))
    return {"status": "ok", "queue_depth": worker.depth, "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, session: SessionDep, worker: WorkerDep) -> PlainTextResponse:
    gauges = {"rca_analysis_queue_depth": ("Incidents queued or being analyzed.", worker.depth)}
    for status in IncidentStatus:
        gauges[f"rca_incidents_{status.value}"] = (f"Stored incidents with status {status.value}.",
                                                    queries.count_incidents(session, status=status))
    return PlainTextResponse(request.app.state.metrics.render(gauges),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
