from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import rca
from rca.store.models import Role
from tests.service.bundles import bundle_dir, inline, tar_gz, zip_bytes
from tests.service.conftest import create_key


def post_json(client, headers, body):
    return client.post("/v1/incidents", content=json.dumps(body),
                       headers={**headers, "Content-Type": "application/json"})


def test_inline_json_is_analyzed_and_idempotent(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-a"))
    r = post_json(client, keys["trigger"], body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["id"] == "inc-a" and out["status"] == "done" and out["model"] == "fraud-scorer"
    assert [c["node"] for c in out["answer"]["causes"]] == ["feature:amount", "service:api",
                                                             "model:fraud-scorer@v1"]
    assert r.headers["Location"].endswith("/v1/incidents/inc-a")
    again = post_json(client, keys["trigger"], body)
    assert again.status_code == 200 and again.json()["created_at"] == out["created_at"]
    body["incident"]["model"] = "other-model"
    conflict = post_json(client, keys["trigger"], body)
    assert conflict.status_code == 409 and conflict.json()["error"]["field"] == "id"
    got = client.get("/v1/incidents/inc-a", headers=keys["reviewer"]).json()
    assert got["status"] == "done" and got["answer"]["causes"][0]["confidence"] == 0.5
    assert got["reviews"] == [] and got["reviewed"] is False


@pytest.mark.parametrize("given", [None, ""])
def test_an_incident_without_an_id_is_analyzed_under_the_id_it_is_given(client, keys, tmp_path, given):
    """Its analysis raised after ranking (the answer had no incident), and the incident stayed 'analyzing' for good:
    no delete, analyzed again and again at each start."""
    body = inline(bundle_dir(tmp_path, incident_id="unused"))
    if given is None:
        del body["incident"]["id"]
    else:
        body["incident"]["id"] = given
    r = post_json(client, keys["trigger"], body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert re.fullmatch(r"inc-[0-9a-f]{16}", out["id"]) and out["status"] == "done"
    assert out["answer"]["incident"] == out["id"]
    got = client.get(f"/v1/incidents/{out['id']}", headers=keys["reviewer"]).json()
    assert got["answer"]["incident"] == out["id"]
    assert client.delete(f"/v1/incidents/{out['id']}", headers=keys["admin"]).status_code == 204


def test_an_analysis_whose_answer_cannot_be_stored_fails_the_incident(client, keys, tmp_path, monkeypatch):
    """An error after the analysis, storing its answer, left the incident 'analyzing'. A store that cannot be reached
    still leaves it so, for the next start to analyze again."""
    import sqlalchemy.exc

    from rca.store import queries
    from rca.store.models import IncidentStatus

    raised = {}

    def breaks_storing(session, *, incident_id, settings, bundle=None):
        queries.set_incident_status(session, incident_id=incident_id, status=IncidentStatus.analyzing)
        session.commit()
        raise raised[incident_id]

    monkeypatch.setattr("rca.service.analyze_incident", breaks_storing)
    raised["inc-bad"] = ValueError("the store refused the answer")
    raised["inc-away"] = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    for incident_id in raised:
        assert post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id=incident_id))
                         ).status_code in (201, 202)
    assert client.app.state.worker.drain(30)
    bad = client.get("/v1/incidents/inc-bad", headers=keys["reviewer"]).json()
    assert bad["status"] == "failed" and bad["error"] == "internal error: ValueError: the store refused the answer"
    assert client.delete("/v1/incidents/inc-bad", headers=keys["admin"]).status_code == 204
    assert client.get("/v1/incidents/inc-away", headers=keys["reviewer"]).json()["status"] == "analyzing"


@pytest.mark.parametrize("form", ["tar.gz raw", "zip raw", "tar.gz multipart", "zip multipart"])
def test_archive_uploads(client, keys, tmp_path, form):
    path = bundle_dir(tmp_path, incident_id="inc-arch")
    data = tar_gz(path) if form.startswith("tar") else zip_bytes(path)
    if form.endswith("raw"):
        media = "application/gzip" if form.startswith("tar") else "application/zip"
        r = client.post("/v1/incidents", content=data, headers={**keys["trigger"], "Content-Type": media})
    else:
        name = "b.tar.gz" if form.startswith("tar") else "b.zip"
        r = client.post("/v1/incidents", files={"bundle": (name, data)}, headers=keys["trigger"])
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "inc-arch" and r.json()["status"] == "done"


def test_slow_analysis_answers_202_and_finishes_off_the_request_path(settings, stub_ranker, tmp_path):
    from fastapi.testclient import TestClient

    from rca.api import create_app

    settings = settings.model_copy(update={"analysis_budget": 0.0})
    app = create_app(settings)
    with TestClient(app) as client:
        headers = {"Authorization": "Bearer " + create_key(settings, "bot", Role.trigger)}
        r = post_json(client, headers, inline(bundle_dir(tmp_path, incident_id="inc-slow")))
        assert r.status_code in (201, 202)  # 0 s budget: 202 unless the worker already finished
        if r.status_code == 202:
            assert r.json()["status"] in ("queued", "analyzing")
        assert app.state.worker.drain(30)
        got = client.get(r.headers["Location"], headers=headers)
        assert got.status_code == 200 and got.json()["status"] == "done"


def test_auth_roles(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-auth"))
    assert post_json(client, {}, body).status_code == 401
    assert post_json(client, {"Authorization": "Bearer rca_abc_nope"}, body).status_code == 401
    assert post_json(client, {"Authorization": "Basic Zm9vOmJhcg=="}, body).status_code == 401
    assert post_json(client, keys["reviewer"], body).status_code == 403
    assert post_json(client, {"X-API-Key": keys["trigger"]["Authorization"][7:]}, body).status_code == 201
    assert client.get("/v1/incidents", headers=keys["trigger"]).status_code == 403
    assert client.get("/v1/incidents/inc-auth", headers=keys["trigger"]).status_code == 200
    assert client.get("/v1/rankers", headers=keys["reviewer"]).status_code == 403
    r = client.get("/v1/rankers", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["in_use"] == "stub"
    for name in ("carol\nadmin-1", "carol\t"):   # a newline split its line of `rca keys list`
        r = client.post("/v1/keys", json={"name": name, "role": "reviewer"}, headers=keys["admin"])
        assert r.status_code == 422 and "without control characters" in r.json()["error"]["message"]
    new = client.post("/v1/keys", json={"name": "carol", "role": "reviewer"}, headers=keys["admin"])
    assert new.status_code == 201 and re.fullmatch(r"rca_[0-9a-f]{12}_\S+", new.json()["key"])
    carol = {"Authorization": "Bearer " + new.json()["key"]}
    assert client.get("/v1/review-queue", headers=carol).status_code == 200
    assert client.delete(f"/v1/keys/{new.json()['id']}", headers=keys["admin"]).status_code == 204
    assert client.get("/v1/review-queue", headers=carol).status_code == 401
    (admin,) = [k["id"] for k in client.get("/v1/keys", headers=keys["admin"]).json() if k["role"] == "admin"]
    r = client.delete(f"/v1/keys/{admin}", headers=keys["admin"])     # it was revoked, locking the admins out
    assert r.status_code == 409 and "last admin key in use" in r.json()["error"]["message"]
    second = client.post("/v1/keys", json={"name": "ops-2", "role": "admin"}, headers=keys["admin"]).json()
    assert client.delete(f"/v1/keys/{admin}", headers=keys["admin"]).status_code == 204
    assert client.delete(f"/v1/keys/{second['id']}", headers={"Authorization": "Bearer " + second["key"]}
                         ).status_code == 409
    err = client.get("/v1/review-queue").json()["error"]
    assert err["field"] == "Authorization" and "API key" in err["message"]


def test_a_reviewer_s_name_is_one_spelling(client, keys):
    """'ann ', 'Ann' and 'ann' + a zero-width space were three more keys beside 'ann': rotating a key with a stray
    space doubled that reviewer's vote on every cause, and the console showed two names that look alike."""
    def create(name):
        return client.post("/v1/keys", json={"name": name, "role": "reviewer"}, headers=keys["admin"])

    first = create(" ann ")
    assert first.status_code == 201 and first.json()["name"] == "ann"      # stored without the blanks around it
    assert create("ann").status_code == 201                                 # the same reviewer, a second key
    assert create("\uff41nn").json()["name"] == "ann"                       # NFKC: a full-width a is an a
    for name, said in (("Ann", "differs from the name of an existing key, 'ann', only by case"),
                       ("ann\u200b", "holds invisible characters (U+200B)")):
        r = create(name)
        assert r.status_code == 422 and said in r.json()["error"]["message"], r.text
    client.delete(f"/v1/keys/{first.json()['id']}", headers=keys["admin"])
    assert create("ANN").status_code == 422      # a revoked key's name still names that reviewer's reviews
    long = create("\ufdfa" * 12)                  # 12 characters, 216 in NFKC: the stored form is what is checked
    assert long.status_code == 422 and long.json()["error"]["field"] == "name"


def test_a_submission_without_a_key_is_refused_before_its_body_is_read(client, keys, settings):
    """Was 415, 413 or 400 (the body was read and checked first, up to max_upload_bytes, for anyone)."""
    too_large = {"Content-Type": "application/gzip", "Content-Length": str(settings.max_upload_bytes + 1)}
    for headers, body in (({}, b"x"), (too_large, b"x"), ({"Content-Type": "multipart/form-data"}, b"--x")):
        for key, status in (({}, 401), ({"Authorization": "Bearer rca_abc_nope"}, 401), (keys["reviewer"], 403)):
            r = client.post("/v1/incidents", content=body, headers={**headers, **key})
            assert r.status_code == status and r.json()["error"]["field"] == "Authorization", r.text


def test_revoking_a_key_again_keeps_the_time_it_was_revoked(client, keys, settings):
    from rca.store.db import session_scope
    from rca.store.models import ApiKeyRecord

    key_id = client.post("/v1/keys", json={"name": "dave", "role": "reviewer"}, headers=keys["admin"]).json()["id"]

    def revoked_at():
        with session_scope(settings.resolved_database_url) as s:
            return s.get(ApiKeyRecord, key_id).revoked_at

    assert client.delete(f"/v1/keys/{key_id}", headers=keys["admin"]).status_code == 204
    first = revoked_at()
    assert first is not None
    assert client.delete(f"/v1/keys/{key_id}", headers=keys["admin"]).status_code == 204
    assert revoked_at() == first


def test_reviews_are_append_only_and_latest_verdict_counts(client, keys, tmp_path):
    assert post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-r"))).status_code == 201
    url = "/v1/incidents/inc-r/reviews"
    r1 = client.post(url, json={"verdict": "confirm", "rank": 2, "comment": "api was slow"},
                     headers=keys["reviewer"])
    assert r1.status_code == 201, r1.text
    assert (r1.json()["node"], r1.json()["kind"], r1.json()["reviewer"]) == ("service:api", "dependency_latency",
                                                                             "reviewer-1")
    # the same reviewer changes their mind about that cause; a second reviewer names a missing cause
    assert client.post(url, json={"verdict": "reject", "node": "service:api", "kind": "dependency_latency"},
                       headers=keys["reviewer"]).status_code == 201
    assert client.post(url, json={"verdict": "name_cause", "node": "feature:country", "kind": "schema_change",
                                  "comment": "new category"}, headers=keys["reviewer2"]).status_code == 201
    got = client.get("/v1/incidents/inc-r", headers=keys["reviewer"]).json()
    assert [r["verdict"] for r in got["reviews"]] == ["confirm", "reject", "name_cause"]
    assert sorted((v["reviewer"], v["verdict"]) for v in got["verdicts"]) == [("reviewer-1", "reject"),
                                                                             ("reviewer-2", "name_cause")]
    assert got["confirmed"] == [{"node": "feature:country", "kind": "schema_change"}]
    assert got["reviewed"] is True
    history = client.get(url, headers=keys["reviewer"]).json()
    assert len(history) == 3


def test_incident_read_is_the_models_rendering_byte_for_byte(client, keys, tmp_path, settings, stub_ranker,
                                                            monkeypatch):
    """The read serves the stored answer_json; the bytes are what validating and serializing the whole
    IncidentDetail gives, for a fresh row and for one stored before answer_json existed."""
    from rca.api.schemas import IncidentDetail, IncidentOut
    from rca.contract import Cause, Evidence
    from rca.store import queries
    from rca.store.db import session_scope
    from rca.store.models import ReviewPublic

    plain_rank = stub_ranker.rank

    def rank_with_evidence(bundle, candidates, *, top=10):
        answer = plain_rank(bundle, candidates, top=top)
        answer.causes[0].evidence = [Evidence(signal="histograms", test="psi", value=0.58, baseline=0.002,
                                              onset="2026-02-20T01:00:00Z", detail="amount: PSI vs training"),
                                     Evidence(signal="events", test="time_to_onset", value=-1e-05)]
        answer.causes[0].explanation = "caf\u00e9 \"quoted\" <b>"
        return answer

    monkeypatch.setattr(stub_ranker, "rank", rank_with_evidence)
    assert post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-bytes"))).status_code == 201
    for review in ({"verdict": "confirm", "rank": 1}, {"verdict": "name_cause", "node": "feature:country",
                                                       "kind": "schema_change", "comment": "new"}):
        assert client.post("/v1/incidents/inc-bytes/reviews", json=review,
                           headers=keys["reviewer"]).status_code == 201

    def expected() -> bytes:
        with session_scope(settings.resolved_database_url) as s:
            record = queries.get_incident(s, incident_id="inc-bytes")
            reviews = queries.list_reviews(s, incident_id="inc-bytes")
            out = IncidentOut.model_validate(record, update={"reviewed": True,
                                                             "url": "http://testserver/v1/incidents/inc-bytes"})
            detail = IncidentDetail(**out.model_dump(), reviews=[ReviewPublic.model_validate(r) for r in reviews],
                                    verdicts=[ReviewPublic.model_validate(r) for r in queries.latest_verdicts(reviews)],
                                    confirmed=[Cause(node=n, kind=k) for n, k in queries.confirmed_causes(reviews)])
            return detail.model_dump_json().encode()

    fresh = client.get("/v1/incidents/inc-bytes", headers=keys["reviewer"])
    assert fresh.status_code == 200 and fresh.headers["content-type"] == "application/json"
    assert fresh.content == expected()
    assert fresh.json()["answer"]["causes"][0]["evidence"][1]["p_value"] is None
    with session_scope(settings.resolved_database_url) as s:
        record = queries.get_incident(s, incident_id="inc-bytes")
        assert record.answer_json is not None
        record.answer_json = None  # as stored by a service older than answer_json
        s.add(record)
        s.commit()
    assert client.get("/v1/incidents/inc-bytes", headers=keys["reviewer"]).content == fresh.content


@pytest.mark.parametrize("review, field", [
    ({"verdict": "confirm", "rank": 9}, "rank"),
    ({"verdict": "confirm"}, "rank"),
    ({"verdict": "reject", "node": "feature:zzz", "kind": "data_drift"}, "node"),
    ({"verdict": "name_cause", "node": "service:api", "kind": "data_drift"}, "node"),
    ({"verdict": "name_cause", "kind": "data_drift"}, "node"),
    ({"verdict": "name_cause", "node": "feature:", "kind": "data_drift"}, "node"),
    ({"verdict": "maybe", "rank": 1}, "verdict"),
    ({"verdict": "confirm", "node": "feature:amount", "kind": "no_such_kind"}, "kind"),
    ({"verdict": "confirm", "rank": 0}, "rank"),
])
def test_bad_reviews_name_the_field(client, keys, tmp_path, review, field):
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-bad")))
    r = client.post("/v1/incidents/inc-bad/reviews", json=review, headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


def test_a_rank_that_is_a_boolean_is_refused_and_nothing_stored(client, keys, tmp_path):
    """{"rank": true} was taken as rank 1: a verdict stored on the first cause, which the reviewer never named."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-bool")))
    for rank in (True, False):
        r = client.post("/v1/incidents/inc-bool/reviews", json={"verdict": "reject", "rank": rank},
                        headers=keys["reviewer"])
        message = f"expected an integer from 1, got {str(rank).lower()}"
        assert r.status_code == 422 and r.json()["error"] == {
            "message": message, "field": "rank", "errors": [{"field": "rank", "message": message}]}
    assert client.get("/v1/incidents/inc-bool/reviews", headers=keys["reviewer"]).json() == []


def test_a_node_of_the_wrong_length_is_told_in_characters(client, keys, tmp_path):
    """It was 'Value should have at most 300 items after validation, not 400' (pydantic's words for a list)."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-len")))
    for node, message in (("feature:" + "x" * 400, "String should have at most 300 characters"),
                          ("x", "String should have at least 3 characters")):
        r = client.post("/v1/incidents/inc-len/reviews", json={"verdict": "name_cause", "node": node,
                                                                "kind": "data_drift"}, headers=keys["reviewer"])
        assert r.status_code == 422 and r.json()["error"]["message"] == message and r.json()["error"]["field"] == "node"


def test_a_rank_and_a_cause_that_disagree_are_refused_and_nothing_stored(client, keys, tmp_path):
    """A verdict with rank 3 and the node and kind of another cause was stored on rank 3's cause, silently."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-two")))
    for named in ({"node": "feature:amount", "kind": "data_drift"}, {"node": "feature:amount"},
                  {"kind": "data_drift"}):
        r = client.post("/v1/incidents/inc-two/reviews", json={"verdict": "reject", "rank": 3, **named},
                        headers=keys["reviewer"])
        assert r.status_code == 422 and r.json()["error"]["field"] == "rank", r.text
        assert r.json()["error"]["message"].startswith("rank 3 is (model:fraud-scorer@v1, model_regression), not ")
    assert client.get("/v1/incidents/inc-two/reviews", headers=keys["reviewer"]).json() == []
    agreeing = {"verdict": "reject", "rank": 3, "node": "model:fraud-scorer@v1", "kind": "model_regression"}
    r = client.post("/v1/incidents/inc-two/reviews", json=agreeing, headers=keys["reviewer"])
    assert r.status_code == 201 and (r.json()["node"], r.json()["kind"]) == (agreeing["node"], agreeing["kind"])


def test_review_of_unknown_incident_is_404(client, keys):
    r = client.post("/v1/incidents/nope/reviews", json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"])
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]


def test_list_filters_and_cursor_pagination(client, keys, tmp_path):
    ids = [f"inc-{i:02d}" for i in range(7)]
    for i, incident_id in enumerate(ids):
        body = inline(bundle_dir(tmp_path, incident_id=incident_id))
        if i % 2:
            body["incident"]["model"] = "churn"
        body["incident"]["detected_at"] = f"2026-11-2{i}T14:05:00Z"
        assert post_json(client, keys["trigger"], body).status_code == 201
    client.post("/v1/incidents/inc-03/reviews", json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"])
    seen, cursor = [], None
    while True:
        page = client.get("/v1/incidents", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                          headers=keys["reviewer"]).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]  # newest first, each once
    def listed(**params):
        return [x["id"] for x in client.get("/v1/incidents", params=params, headers=keys["reviewer"]).json()["items"]]
    assert listed(model="churn") == ["inc-05", "inc-03", "inc-01"]
    assert listed(reviewed="true") == ["inc-03"]
    assert listed(reviewed="false", model="churn") == ["inc-05", "inc-01"]
    assert listed(since="2026-11-22T00:00:00Z", until="2026-11-24T00:00:00Z") == ["inc-03", "inc-02"]
    # the other forms docs/service.md names: a date alone, no offset (UTC), another offset, Unix s and ms
    assert listed(since="2026-11-22", until="2026-11-24T00:00:00") == ["inc-03", "inc-02"]
    assert listed(since="2026-11-22T02:00:00+02:00", until=1795478400) == ["inc-03", "inc-02"]
    assert listed(since=1795305600000, until="2026-11-24") == ["inc-03", "inc-02"]
    assert listed(status="failed") == []
    assert client.get("/v1/incidents", params={"cursor": "garbage!"},
                      headers=keys["reviewer"]).json()["error"]["field"] == "cursor"


def test_review_queue_is_least_certain_first(client, keys, tmp_path):
    for incident_id, top in [("inc-q1", 0.9), ("inc-q2", 0.3), ("inc-q3", 0.6)]:
        body = inline(bundle_dir(tmp_path, incident_id=incident_id, symptom=f"kpi:{top}"))
        assert post_json(client, keys["trigger"], body).status_code == 201
    def queue():
        return [x["id"] for x in client.get("/v1/review-queue", headers=keys["reviewer"]).json()]
    assert queue() == ["inc-q2", "inc-q3", "inc-q1"]
    client.post("/v1/incidents/inc-q2/reviews", json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"])
    assert queue() == ["inc-q3", "inc-q1"]


def test_metrics_and_health(client, keys, tmp_path):
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-m")))
    for _ in range(3):
        client.get("/v1/incidents/inc-m", headers=keys["reviewer"])
    assert client.get("/healthz").json() == {"status": "ok", "queue_depth": 0, "version": rca.__version__}
    head = client.head("/healthz")    # uptime checkers send HEAD: it was 405
    assert head.status_code == 200 and head.content == b""
    text = client.get("/metrics").text
    line = 'rca_http_requests_total{method="GET",route="/v1/incidents/{incident_id}",status="200"} 3'
    assert line in text
    assert 'rca_http_request_duration_seconds_count{method="POST",route="/v1/incidents"} 1' in text
    assert 'rca_analysis_duration_seconds_count{status="done"} 1' in text
    assert "rca_analysis_queue_depth 0.0" in text and "rca_incidents_done 1.0" in text
    assert "rca_incidents_failed 0.0" in text and "rca_store_up 1.0" in text


def test_metrics_are_served_without_the_store_and_without_waiting_on_a_locked_table(client, keys, settings,
                                                                                       tmp_path, monkeypatch):
    """/metrics waited on the store (24 s under a PostgreSQL table lock) and was a 503 without it: the service's
    own counters are what an operator wants during an outage. On SQLite (WAL) a writer does not block a reader."""
    import threading

    import sqlalchemy.exc
    from sqlalchemy import text as sql

    from rca.store.db import get_engine

    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-m")))
    engine = get_engine(settings.resolved_database_url)
    postgres = engine.dialect.name == "postgresql"
    locked, release = threading.Event(), threading.Event()

    def hold():
        with engine.connect() as conn:
            if postgres:
                conn.execute(sql("LOCK TABLE incident IN ACCESS EXCLUSIVE MODE"))
            else:
                conn.execute(sql("UPDATE incident SET model = model"))  # a write transaction in progress
            locked.set()
            release.wait(60)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        text = client.get("/metrics").text
    finally:
        release.set()
        holder.join()
    assert 'rca_http_request_duration_seconds_count{method="POST",route="/v1/incidents"} 1' in text
    if postgres:
        assert "rca_store_up 0.0" in text and "\nrca_incidents_" not in text
    else:
        assert "rca_store_up 1.0" in text and "rca_incidents_done 1.0" in text

    def away(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("SELECT ...", {}, Exception("connection refused"))

    monkeypatch.setattr("rca.store.queries.incident_counts", away)
    r = client.get("/metrics")
    assert r.status_code == 200 and "rca_store_up 0.0" in r.text and "\nrca_incidents_" not in r.text
    assert "rca_analysis_queue_depth 0.0" in r.text


def test_admins_roll_the_champion_back_and_promote_by_hand(client, keys, settings):
    from rca.ranking.registry import RankerRegistry
    from rca.ranking.train import train_ranker
    from tests.rank_builders import synthetic_table

    rollback = "/v1/rankers/rollback"
    assert client.post(rollback, json={"reason": "x"}, headers=keys["reviewer"]).status_code == 403
    nothing = client.post(rollback, json={"reason": "bad week"}, headers=keys["admin"])
    assert nothing.status_code == 409 and "nothing to roll back" in nothing.json()["error"]["message"]
    assert client.post(rollback, json={"reason": ""}, headers=keys["admin"]).json()["error"]["field"] == "reason"
    missing = client.post("/v1/rankers/lgbm-nope/promote", json={"reason": "x"}, headers=keys["admin"])
    assert missing.status_code == 404 and "lgbm-nope" in missing.json()["error"]["message"]

    registry = RankerRegistry(settings.resolved_rankers_dir)
    v1 = registry.save(train_ranker(synthetic_table(30)))
    registry.promote(v1, "weekly gate")
    v2 = registry.save(train_ranker(synthetic_table(30, seed=5)))
    promoted = client.post(f"/v1/rankers/{v2}/promote", json={"reason": "hand-picked"}, headers=keys["admin"])
    assert promoted.status_code == 200 and promoted.json() == {"promoted": v2, "previous": v1, "in_use": "stub"}
    back = client.post(rollback, json={"reason": "v2 ranks a cascade first"}, headers=keys["admin"])
    assert back.status_code == 200 and back.json()["restored"] == v1 and back.json()["previous"] == v2
    listing = client.get("/v1/rankers", headers=keys["admin"]).json()
    assert listing["champion"] == v1 and [v["champion"] for v in listing["versions"]].count(True) == 1
    assert all(0 <= v["metrics"]["overall"]["AC@1"] <= 1 and v["n_validation_incidents"] == 6
               and sum(v["family_mix"].values()) == v["n_training_incidents"] + v["n_reduced_copies"]
               for v in listing["versions"])  # the validation figures the gate compared, what it trained on
    assert [(e["action"], e["version"], e.get("by")) for e in listing["history"]] == [
        ("promote", v1, None), ("promote", v2, "admin-1"), ("rollback", v1, "admin-1")]
    assert listing["history"][-1]["reason"] == "v2 ranks a cascade first"


@pytest.mark.parametrize("freeze", [False, True])
def test_rca_serve_freezes_the_start_up_heap(settings, stub_ranker, monkeypatch, freeze):
    """`rca serve` (freeze_heap=True) loads the ranker and freezes the heap before serving; tests do not."""
    from fastapi.testclient import TestClient

    from rca.api import app as app_module

    calls = []
    monkeypatch.setattr(app_module.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: calls.append("ranker") or stub_ranker)
    with TestClient(app_module.create_app(settings, freeze_heap=freeze)) as client:
        assert client.get("/healthz").status_code == 200
    assert calls == (["ranker", "freeze"] if freeze else [])


def test_one_serve_process_of_several_resumes_pending_incidents(tmp_path, monkeypatch):
    """`rca serve --processes N`: the first process takes the resume lock; it is free again when it exits."""
    from rca.api.app import serve_process
    from rca.config import get_settings

    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        first, second = serve_process(), serve_process()
        assert first.state.resume_lock is not None and second.state.resume_lock is None
        first.state.resume_lock.close()  # what the process's exit does
        third = serve_process()
        assert third.state.resume_lock is not None
        third.state.resume_lock.close()
    finally:
        get_settings.cache_clear()


def test_an_incident_keeps_which_signal_families_its_bundle_had(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-fam"))
    del body["metrics"], body["events"]           # a source that sends no service metrics and no change feed
    r = post_json(client, keys["trigger"], body)
    assert r.status_code == 201, r.text
    want = ["predictions", "histograms", "traces", "kpis", "graph"]
    assert r.json()["families"] == want
    assert client.get("/v1/incidents/inc-fam", headers=keys["reviewer"]).json()["families"] == want
    listed = client.get("/v1/incidents", headers=keys["reviewer"]).json()["items"]
    assert [i["families"] for i in listed if i["id"] == "inc-fam"] == [want]


@pytest.mark.parametrize("node", ["feature:", "feature:  "])
def test_a_named_cause_needs_a_name_after_the_colon(client, keys, tmp_path, node):
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-noname")))
    r = client.post("/v1/incidents/inc-noname/reviews", json={"verdict": "name_cause", "node": node,
                                                              "kind": "data_drift"}, headers=keys["reviewer"])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "node" and "expected a name after the colon" in error["message"]
    assert client.get("/v1/incidents/inc-noname/reviews", headers=keys["reviewer"]).json() == []


def test_a_named_cause_must_be_a_node_of_the_incidents_bundle(client, keys, tmp_path):
    """A typo ('feature:amout') or another incident's node was stored, exported as the label, and trained on as an
    incident whose true cause no hypothesis can name."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-typo")))
    url = "/v1/incidents/inc-typo/reviews"
    for node, kind, said in (("feature:amout", "data_drift", "did you mean feature:amount"),
                             ("service:ghost", "dependency_errors", "its service nodes are service:api, service:model-server."),
                             ("segment:device=ios", "segment_shift", "its segment nodes are segment:country=BR, segment:country=US."),
                             ("pipeline:etl", "missing_values", "expected a node 'feature:<name>'")):
        r = client.post(url, json={"verdict": "name_cause", "node": node, "kind": kind}, headers=keys["reviewer"])
        assert r.status_code == 422 and r.json()["error"]["field"] == "node", r.text
        assert said in r.json()["error"]["message"]
    assert client.get(url, headers=keys["reviewer"]).json() == []
    r = client.post(url, json={"verdict": "name_cause", "node": "feature:country", "kind": "schema_change"},
                    headers=keys["reviewer"])
    assert r.status_code == 201, r.text


def test_a_named_cause_can_be_confirmed_by_another_reviewer_and_withdrawn(client, keys, tmp_path):
    """A cause named with the wrong kind could not be rejected ('not among the ranked causes'): it stayed
    confirmed, and the next retrain trained on it."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-oops")))
    url = "/v1/incidents/inc-oops/reviews"
    named = {"node": "feature:country", "kind": "schema_change"}
    assert client.post(url, json={"verdict": "name_cause", **named}, headers=keys["reviewer"]).status_code == 201
    assert client.post(url, json={"verdict": "confirm", **named}, headers=keys["reviewer2"]).status_code == 201
    assert client.post(url, json={"verdict": "reject", **named}, headers=keys["reviewer"]).status_code == 201
    got = client.get("/v1/incidents/inc-oops", headers=keys["reviewer"]).json()
    assert got["confirmed"] == []            # one confirm against one reject: not confirmed
    r = client.post(url, json={"verdict": "reject", "node": "feature:country", "kind": "data_drift"},
                    headers=keys["reviewer"])
    assert r.status_code == 422 and "nor named by a reviewer" in r.json()["error"]["message"]


@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999999999"])
def test_a_unix_time_past_the_year_9999_in_a_filter_says_so(client, keys, value):
    # pydantic's message was 'invalid date separator, expected `-`'
    r = client.get("/v1/incidents", params={"since": value}, headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "since"
    assert r.json()["error"]["message"].startswith(f"{value} is past the year 9999 as a Unix time; expected an ISO")


def test_a_verdict_withdrawn_counts_neither_way(client, keys, tmp_path):
    """To take back a confirm, a reviewer could only reject, which counts against the cause and cancelled another
    reviewer's confirm: ann's change of mind unconfirmed what bob confirmed."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-undo")))
    url = "/v1/incidents/inc-undo/reviews"
    for who in ("reviewer", "reviewer2"):
        assert client.post(url, json={"verdict": "confirm", "rank": 1}, headers=keys[who]).status_code == 201
    assert client.post(url, json={"verdict": "withdraw", "rank": 1}, headers=keys["reviewer"]).status_code == 201
    got = client.get("/v1/incidents/inc-undo", headers=keys["reviewer"]).json()
    assert got["confirmed"] == [{"node": "feature:amount", "kind": "data_drift"}]     # bob's confirm stands alone
    again = client.post(url, json={"verdict": "withdraw", "rank": 1}, headers=keys["reviewer"])
    assert again.status_code == 409 and again.json()["error"]["message"] == (
        "reviewer-1 has no verdict on (feature:amount, data_drift) to withdraw")
    other = client.post(url, json={"verdict": "withdraw", "rank": 2}, headers=keys["reviewer"])
    assert other.status_code == 409                                                   # never gave one on #2
    assert client.post(url, json={"verdict": "withdraw", "rank": 1}, headers=keys["reviewer2"]).status_code == 201
    got = client.get("/v1/incidents/inc-undo", headers=keys["reviewer"]).json()
    assert got["confirmed"] == [] and got["reviewed"] is False
    # every verdict withdrawn: nothing of it counts, so it is unreviewed again, back in the queue
    assert [i["id"] for i in client.get("/v1/review-queue", headers=keys["reviewer"]).json()] == ["inc-undo"]
    unreviewed = client.get("/v1/incidents", params={"reviewed": "false"}, headers=keys["reviewer"]).json()
    assert [i["id"] for i in unreviewed["items"]] == ["inc-undo"]
    assert client.post(url, json={"verdict": "confirm", "rank": 2}, headers=keys["reviewer"]).status_code == 201
    assert client.get("/v1/review-queue", headers=keys["reviewer"]).json() == []   # a verdict stands again


def test_incidents_reviewers_disagree_on_are_listed_as_disputed(client, keys, settings, tmp_path):
    """ann confirmed and bob rejected: the incident left the queue as reviewed, no label came of it, and nothing
    listed it for a third reviewer."""
    from rca.store.models import Role
    from tests.service.conftest import create_key

    carol = {"Authorization": "Bearer " + create_key(settings, "carol", Role.reviewer)}
    for incident_id in ("inc-split", "inc-agreed"):
        post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id=incident_id)))
        url = f"/v1/incidents/{incident_id}/reviews"
        assert client.post(url, json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"]).status_code == 201
        second = "reject" if incident_id == "inc-split" else "confirm"
        assert client.post(url, json={"verdict": second, "rank": 1}, headers=keys["reviewer2"]).status_code == 201

    def disputed(**params):
        r = client.get("/v1/review-queue", params={"disputed": "true", **params}, headers=keys["reviewer"])
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()]

    assert disputed() == ["inc-split"] and disputed(model="no-such-model") == []
    assert client.get("/v1/review-queue", headers=keys["reviewer"]).json() == []   # both reviewed: not queued
    url = "/v1/incidents/inc-split/reviews"
    assert client.post(url, json={"verdict": "confirm", "rank": 1}, headers=carol).status_code == 201   # settled
    assert disputed() == []


def test_a_misnamed_inline_key_or_file_is_named_in_the_answer(client, keys, tmp_path):
    """An inline 'predictionz' or an archive's traces.json was taken without a word (201, families []): a trigger
    never learned that a family was left out."""
    body = inline(bundle_dir(tmp_path, incident_id="inc-typo-key"))
    body["predictionz"] = body.pop("predictions")
    r = post_json(client, keys["trigger"], body)
    assert r.status_code == 201 and "predictions" not in r.json()["families"]
    assert r.json()["answer"]["unread"] == [{"name": "predictionz", "meant": "predictions"}]
    source = bundle_dir(tmp_path / "b", incident_id="inc-typo-file")
    (source / "traces.jsonl").rename(source / "traces.json")
    r = client.post("/v1/incidents", content=tar_gz(source), headers={**keys["trigger"],
                                                                      "Content-Type": "application/gzip"})
    assert r.status_code == 201 and r.json()["answer"]["unread"] == [{"name": "traces.json", "meant": "traces.jsonl"}]
    body = inline(bundle_dir(tmp_path / "c", incident_id="inc-extra"))
    body["notes"] = "an extra key far from any file: kept, as the contract allows, and not named"
    assert post_json(client, keys["trigger"], body).json()["answer"]["unread"] == []


@pytest.mark.parametrize("fmt", ["json", "tar.gz"])
def test_a_stored_bundle_lost_on_disk_is_a_conflict_without_the_servers_path(client, keys, settings, tmp_path, fmt):
    """It was a 422 (the caller's fault) naming the server's path, or a 500 for an inline body's file."""
    source = bundle_dir(tmp_path, incident_id="inc-gone")
    if fmt == "json":
        post_json(client, keys["trigger"], inline(source))
    else:
        client.post("/v1/incidents", content=tar_gz(source), headers={**keys["trigger"],
                                                                      "Content-Type": "application/gzip"})
    next((settings.data_dir / "bundles").iterdir()).unlink()
    r = client.get("/v1/incidents/inc-gone/why", params={"node": "service:api"}, headers=keys["reviewer"])
    assert r.status_code == 409 and str(settings.data_dir) not in r.text
    assert r.json()["error"]["message"] == ("incident 'inc-gone': its stored bundle is missing on the server (deleted "
                                            "or lost); post the incident's body again to store it anew")


def test_a_named_cause_of_a_bundle_that_does_not_load_is_taken_as_named(client, keys, settings, tmp_path):
    """A stored bundle lost or damaged on disk names no nodes to check against: the reviewer's word stands."""
    post_json(client, keys["trigger"], inline(bundle_dir(tmp_path, incident_id="inc-lost")))
    stored = next((settings.data_dir / "bundles").iterdir())
    stored.write_text("[]")
    r = client.post("/v1/incidents/inc-lost/reviews", json={"verdict": "name_cause", "node": "service:ghost",
                                                             "kind": "dependency_errors"}, headers=keys["reviewer"])
    assert r.status_code == 201, r.text


def test_why_splits_a_nodes_score_gap_or_says_why_it_cannot(client, keys, monkeypatch):
    from rca.contract import load_bundle
    from rca.ranking.registry import packaged_champion
    from rca.service import analyze

    example = Path(__file__).resolve().parents[2] / "examples" / "feature-store-outage"
    r = client.post("/v1/incidents", content=tar_gz(example),
                    headers={**keys["trigger"], "Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text
    url = f"/v1/incidents/{r.json()['id']}/why"
    stub = client.get(url, params={"node": "service:api"}, headers=keys["trigger"])
    assert stub.status_code == 422 and stub.json()["error"]["field"] == "ranker"
    champion = packaged_champion()
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: champion)
    second = analyze(load_bundle(example), ranker=champion).causes[1]
    r = client.get(url, params={"node": second.node, "kind": second.kind.value, "features": 3},
                   headers=keys["reviewer"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ranker"] == champion.name and out["asked"]["rank"] == 2 and out["other"]["rank"] == 1
    assert len(out["parts"]) == 3
    assert sum(p["contribution"] for p in out["parts"]) + out["rest"] == pytest.approx(out["gap"], abs=1e-6)
    missing = client.get(url, params={"node": "service:nowhere"}, headers=keys["reviewer"])
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "node"
    wrong_kind = client.get(url, params={"node": second.node, "kind": "nonsense"}, headers=keys["reviewer"])
    assert wrong_kind.status_code == 422 and wrong_kind.json()["error"]["field"] == "kind"   # it said 'node'
    wrong_kind = client.get(url, params={"node": second.node, "versus": second.node, "versus_kind": "nonsense"},
                            headers=keys["reviewer"])
    assert wrong_kind.status_code == 422 and wrong_kind.json()["error"]["field"] == "versus_kind"
    assert client.get("/v1/incidents/inc-none/why", params={"node": "service:api"},
                      headers=keys["reviewer"]).status_code == 404


def test_a_store_recreated_empty_under_the_service_is_a_503_that_says_to_migrate(client, keys, settings):
    """The database dropped and created again while the service ran: /healthz said ok, every other request was a
    500 'internal error (ProgrammingError)', and /metrics failed, which its docs say a store outage never does."""
    from sqlmodel import SQLModel

    from rca.store.db import NOT_MIGRATED, get_engine

    signed_in = client.post("/signin", data={"key": keys["reviewer"]["Authorization"][7:]}, follow_redirects=False)
    assert signed_in.status_code == 303
    engine = get_engine(settings.resolved_database_url)
    SQLModel.metadata.drop_all(engine)
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})   # the console: a page, not JSON
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "The review store has none of its tables" in page.text and "rca db upgrade" in page.text
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["error"]["message"] == NOT_MIGRATED
    r = client.get("/v1/incidents/inc-1", headers=keys["reviewer"])
    assert r.status_code == 503 and r.json()["error"]["message"] == NOT_MIGRATED and r.headers["Retry-After"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "rca_store_up 0.0" in metrics.text
