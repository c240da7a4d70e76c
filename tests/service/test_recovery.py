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


def test_a_stop_finishes_the_analysis_in_hand_and_says_what_it_leaves(session, migrated, stub_ranker, tmp_path,
                                                                      monkeypatch, caplog):
    """A SIGTERM with more than 30 s of queued work exited after 30 s and did not log what it left; queued incidents
    now stay queued for the next start instead of being analyzed during the stop."""
    import threading

    started, release = threading.Event(), threading.Event()
    rank = stub_ranker.rank

    def slow(bundle, *args, **kwargs):
        started.set()
        release.wait(30)
        return rank(bundle, *args, **kwargs)

    monkeypatch.setattr(stub_ranker, "rank", slow)
    ids = ["inc-stop-1", "inc-stop-2", "inc-stop-3"]
    for incident_id in ids:
        _submit(session, migrated, tmp_path, incident_id)
    worker = AnalysisWorker(migrated).start(resume=True)
    assert started.wait(30)
    threading.Timer(0.5, release.set).start()
    with caplog.at_level("WARNING", logger="rca.api.worker"):
        assert worker.stop(timeout=20) == ids[1:]
    assert "stopped with 2 incident(s) not analyzed (2 queued, 0 still analyzing" in caplog.text
    assert worker.depth == 0

    release.clear()
    started.clear()
    worker = AnalysisWorker(migrated).start(resume=True)   # the next start resumes the two
    assert started.wait(30)
    threads = list(worker._threads)
    assert worker.stop(timeout=0.2) == ["inc-stop-3", "inc-stop-2"]  # one queued, one cut off in its analysis
    release.set()  # (a process exits here; the test lets the analysis end)
    for thread in threads:
        thread.join(30)
    with session_scope(migrated.resolved_database_url) as fresh:
        assert queries.incident_status(fresh, incident_id="inc-stop-1") is IncidentStatus.done
        assert queries.pending_incident_ids(fresh) == ["inc-stop-3"]


def test_a_fault_of_the_server_leaves_the_incident_queued_and_a_retry_analyzes_it(client, keys, stub_ranker,
                                                                                   monkeypatch, tmp_path):
    """A damaged ranker failed the incident for good: posting the same body again after the fix answered 200 with
    the stored 'failed' record, and nothing analyzed it again."""
    from rca.errors import ConfigError

    def damaged(settings=None):
        raise ConfigError("/data/rankers/v7", "model-2.txt is not the file that was saved", "the model files")

    monkeypatch.setattr("rca.service.get_ranker", damaged)
    body = json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-wait"))).encode()
    headers = {**keys["trigger"], "Content-Type": "application/json"}
    first = client.post("/v1/incidents", content=body, headers=headers)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert first.json()["error"] == ("waiting: the service's ranker or its registry could not be read (see the "
                                     "service log); it is analyzed once the server is fixed")   # no server path
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: stub_ranker)   # the ranker is fixed
    again = client.post("/v1/incidents", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "done"      # analyzed within the retry's budget
    done = client.get("/v1/incidents/inc-wait", headers=keys["reviewer"]).json()
    assert done["status"] == "done" and done["error"] is None
    assert done["answer"]["causes"][0]["node"] == "feature:amount"


def test_a_bundle_that_does_not_load_fails_for_good(session, migrated, stub_ranker, tmp_path):
    submission = _submit(session, migrated, tmp_path, "inc-bad")
    stored = service.bundles_dir(migrated) / submission.record.bundle_file
    stored.write_text('{"incident": {"id": "inc-bad"}}')   # a stored bundle the loader now refuses
    record = service.analyze_incident(session, incident_id="inc-bad", settings=migrated)
    assert record.status is IncidentStatus.failed and "no longer loads" in record.error
