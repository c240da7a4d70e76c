"""``GET /v1/incidents/{id}?wait=S``: a trigger that got a 202 waits for the analysis in one request instead of
polling. Woken by this process's worker, or by the store when another process of the service analyzes the
incident. On SQLite and, with RCA_TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlmodel import update

from rca.api import worker as worker_module
from rca.api.worker import AnalysisWorker
from rca.store.db import session_scope
from rca.store.models import IncidentRecord, IncidentStatus
from tests.service.bundles import bundle_dir, inline


class GatedRanker:
    """The stub ranker's answer, once the test opens the gate."""

    name = "gated"

    def __init__(self, inner) -> None:
        self.inner, self.gate = inner, threading.Event()

    def rank(self, bundle, candidates, *, top: int = 10):
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.rank(bundle, candidates, top=top)


@pytest.fixture
def gated(stub_ranker, monkeypatch) -> GatedRanker:
    ranker = GatedRanker(stub_ranker)
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: ranker)
    return ranker


@pytest.fixture
def slow_client(settings, gated):
    """The service with no analysis budget: every POST answers 202 while the gate is shut."""
    from fastapi.testclient import TestClient

    from rca.api import create_app

    app = create_app(settings.model_copy(update={"analysis_budget": 0.0}))
    with TestClient(app) as client:
        yield client
    gated.gate.set()


def _post(client, keys, tmp_path, incident_id: str):
    return client.post("/v1/incidents", content=json.dumps(inline(bundle_dir(tmp_path, incident_id=incident_id))),
                       headers={**keys["trigger"], "Content-Type": "application/json"})


def _timed_get(client, headers, path: str):
    started = time.monotonic()
    r = client.get(path, headers=headers)
    return r, time.monotonic() - started


def test_a_wait_answers_when_this_process_finishes_the_analysis(slow_client, keys, gated, tmp_path):
    r = _post(slow_client, keys, tmp_path, "inc-wait")
    assert r.status_code == 202 and r.headers["Retry-After"] == "1", r.text
    url = r.headers["Location"]
    got, seconds = _timed_get(slow_client, keys["trigger"], f"{url}?wait=0.4")   # the gate is shut: the wait ends
    assert got.status_code == 200 and got.json()["status"] in ("queued", "analyzing") and seconds >= 0.4
    threading.Timer(0.3, gated.gate.set).start()
    got, seconds = _timed_get(slow_client, keys["trigger"], f"{url}?wait=20")
    assert got.status_code == 200 and got.json()["status"] == "done" and seconds < 10
    assert [c["node"] for c in got.json()["answer"]["causes"]][0] == "feature:amount"


def test_a_wait_sees_the_analysis_another_process_finishes(client, keys, settings):
    """No worker of this process has the incident: the wait reads its status from the store until it is done."""
    now = datetime.now(UTC)
    with session_scope(settings.resolved_database_url) as s:
        s.add(IncidentRecord(id="elsewhere", model="m", status=IncidentStatus.analyzing, detected_at=now,
                             created_at=now, updated_at=now, body_sha256="0" * 64, bundle_file="x.json"))
        s.commit()

    def other_process_finishes():
        with session_scope(settings.resolved_database_url) as s:
            s.exec(update(IncidentRecord).where(IncidentRecord.id == "elsewhere")
                   .values(status=IncidentStatus.failed, error="boom"))
            s.commit()

    threading.Timer(0.5, other_process_finishes).start()
    got, seconds = _timed_get(client, keys["reviewer"], "/v1/incidents/elsewhere?wait=20")
    assert got.status_code == 200 and (got.json()["status"], got.json()["error"]) == ("failed", "boom")
    assert 0.5 <= seconds < 10


def test_a_done_incident_answers_at_once_and_a_wait_too_long_is_refused(client, keys, tmp_path):
    r = _post(client, keys, tmp_path, "inc-quick")
    assert r.status_code == 201 and "Retry-After" not in r.headers
    got, seconds = _timed_get(client, keys["trigger"], "/v1/incidents/inc-quick?wait=30")
    assert got.json()["status"] == "done" and seconds < 5
    too_long = client.get("/v1/incidents/inc-quick?wait=61", headers=keys["trigger"])
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "wait"
    for odd in ("nan", "inf"):  # nan was refused as 'less than or equal to 60'
        r = client.get(f"/v1/incidents/inc-quick?wait={odd}", headers=keys["trigger"])
        assert r.status_code == 422 and r.json()["error"]["message"] == "Input should be a finite number"
    assert client.get("/v1/incidents/nope?wait=1", headers=keys["trigger"]).status_code == 404


def test_waits_beyond_the_limit_do_not_wait(settings, monkeypatch):
    """Each wait holds a request thread: past `WAITERS` at a time, a request is answered as the store has it."""
    monkeypatch.setattr(worker_module, "WAITERS", 1)
    worker = AnalysisWorker(settings)
    looks = []
    held = threading.Event()
    release = threading.Event()

    def first_settled():
        held.set()
        return release.wait(10)

    first = threading.Thread(target=worker.wait_until, args=("a", 10, first_settled))
    first.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        assert worker.wait_until("b", 10, lambda: looks.append(1) or False) is False
        assert time.monotonic() - started < 1 and looks == [1]
    finally:
        release.set()
        first.join(10)
    assert worker.wait_until("b", 0.3, lambda: looks.append(1) or False) is False and len(looks) > 2


def test_the_console_offers_to_wait_for_a_pending_analysis(slow_client, keys, gated, tmp_path):
    r = _post(slow_client, keys, tmp_path, "inc-page")
    assert r.status_code == 202
    signin = slow_client.post("/signin", data={"key": keys["reviewer"]["Authorization"].split(" ", 1)[1]},
                              follow_redirects=False)
    assert signin.status_code == 303
    page = slow_client.get("/incidents/inc-page")
    assert 'id="wait-link" href="/incidents/inc-page?wait=30"' in page.text and "No ranked causes yet" in page.text
    for odd in ("nan", "-5", "soon"):   # no number of seconds: the page at once
        page, seconds = _timed_get(slow_client, {}, f"/incidents/inc-page?wait={odd}")
        assert page.status_code == 200 and 'id="wait-link"' in page.text and seconds < 2
    threading.Timer(0.3, gated.gate.set).start()
    page, seconds = _timed_get(slow_client, {}, "/incidents/inc-page?wait=30")
    assert page.status_code == 200 and 'id="wait-link"' not in page.text and seconds < 10
    assert 'class="status done"' in page.text and "feature:amount" in page.text
    assert slow_client.get("/incidents/nope?wait=1").status_code == 404
