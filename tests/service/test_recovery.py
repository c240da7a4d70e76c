"""Incidents are never lost in a running service, nor analyzed back from done: a process that claims an incident
claims it only while it is pending, and the process that resumed pending incidents at its start queues again, while
it runs, those no process has touched for `STALE_SECONDS` (a process of the service died with them in its queue, or
the store failed under their analysis). On SQLite and, with RCA_TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import update

from rca import service
from rca.api.worker import STALE_SECONDS, AnalysisWorker
from rca.store import queries
from rca.store.db import session_scope
from rca.store.models import IncidentRecord, IncidentStatus, utcnow
from tests.service.bundles import bundle_dir, inline


def _submit(session, settings, tmp_path, incident_id):
    body = json.dumps(inline(bundle_dir(tmp_path, incident_id=incident_id))).encode()
    return service.submit_incident(session, body=body, fmt="json", settings=settings)


def _age(session, incident_id, status, seconds):
    session.exec(update(IncidentRecord).where(IncidentRecord.id == incident_id)
                 .values(status=status, updated_at=utcnow() - timedelta(seconds=seconds)))
    session.commit()


def test_a_finished_analysis_is_not_claimed_again(session, migrated, stub_ranker, tmp_path):
    """A second process holding the incident turned 'done' back into 'analyzing' (reviews and deletes were then
    refused, and stuck for good if that process died)."""
    sub = _submit(session, migrated, tmp_path, "inc-once")
    done = service.analyze_incident(session, incident_id="inc-once", settings=migrated, bundle=sub.bundle)
    assert done.status is IncidentStatus.done
    stored = done.answer_json
    assert service.analyze_incident(session, incident_id="inc-once", settings=migrated) is None
    again = queries.get_incident(session, incident_id="inc-once")
    session.refresh(again)
    assert again.status is IncidentStatus.done and again.answer_json == stored
    queries.delete_incident(session, incident_id="inc-once")
    assert service.analyze_incident(session, incident_id="inc-once", settings=migrated) is None


def test_lost_incidents_are_queued_again_and_analyzed(session, migrated, stub_ranker, tmp_path):
    """After a store outage or a process's death they stayed queued or analyzing until a restart."""
    for incident_id in ("inc-lost-q", "inc-lost-a", "inc-fresh", "inc-held"):
        _submit(session, migrated, tmp_path, incident_id)
    _age(session, "inc-lost-q", IncidentStatus.queued, STALE_SECONDS + 5)
    _age(session, "inc-lost-a", IncidentStatus.analyzing, STALE_SECONDS + 5)
    _age(session, "inc-held", IncidentStatus.queued, STALE_SECONDS + 5)
    _age(session, "inc-fresh", IncidentStatus.analyzing, 10)   # another process is analyzing it now
    worker = AnalysisWorker(migrated)
    worker.submit("inc-held")                                   # in this process's queue: not lost
    assert worker.recover() == ["inc-lost-q", "inc-lost-a"]
    worker.start(resume=False)
    try:
        assert worker.drain(30)
    finally:
        worker.stop()
    with session_scope(migrated.resolved_database_url) as fresh:
        status = {i: queries.incident_status(fresh, incident_id=i)
                  for i in ("inc-lost-q", "inc-lost-a", "inc-held", "inc-fresh")}
    assert status == {"inc-lost-q": IncidentStatus.done, "inc-lost-a": IncidentStatus.done,
                      "inc-held": IncidentStatus.done, "inc-fresh": IncidentStatus.analyzing}
