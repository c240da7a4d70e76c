"""Text the store cannot hold (NUL, which PostgreSQL text refuses; a model name past its column) is a 4xx
naming the field on both backends, never a database error (a 500), and leaves what is stored as it was."""

from __future__ import annotations

import base64
import json

import pytest

from tests.service.bundles import bundle_dir, inline


@pytest.fixture
def stored(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-1"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    assert client.post("/v1/incidents/inc-1/reviews", json={"verdict": "confirm", "rank": 1},
                       headers=keys["reviewer"]).status_code == 201
    return body


def _state(client, keys):
    return (client.get("/v1/incidents", headers=keys["reviewer"]).json(),
            client.get("/v1/incidents/inc-1/reviews", headers=keys["reviewer"]).json(),
            client.get("/v1/keys", headers=keys["admin"]).json())


@pytest.mark.parametrize("method, path, body, status, field", [
    ("post", "/v1/incidents/inc-1/reviews", {"verdict": "confirm", "rank": 1, "comment": "a\x00b"}, 422, "comment"),
    ("post", "/v1/incidents/inc-1/reviews", {"verdict": "name_cause", "node": "feature:a\x00b",
                                             "kind": "data_drift"}, 422, "node"),
    ("post", "/v1/keys", {"name": "a\x00b", "role": "trigger"}, 422, "name"),
    ("get", "/v1/incidents/a%00b", None, 404, None),
    ("get", "/v1/incidents/a%00b/reviews", None, 404, None),
    ("post", "/v1/incidents/a%00b/reviews", {"verdict": "confirm", "rank": 1}, 404, None),
    ("delete", "/v1/keys/a%00b", None, 404, None),
])
def test_nul_in_a_request(client, keys, stored, method, path, body, status, field):
    before = _state(client, keys)
    r = getattr(client, method)(path, headers=keys["admin"], **({"json": body} if body else {}))
    assert r.status_code == status, r.text
    assert field is None or r.json()["error"]["field"] == field
    assert _state(client, keys) == before


@pytest.mark.parametrize("query", ["/v1/incidents?model=a%00b", "/v1/review-queue?model=a%00b"])
def test_nul_in_a_filter_matches_nothing(client, keys, stored, query):
    r = client.get(query, headers=keys["reviewer"])
    assert r.status_code == 200 and not (r.json()["items"] if "items" in r.json() else r.json())


def test_nul_in_a_cursor(client, keys, stored):
    cursor = base64.urlsafe_b64encode(json.dumps(["2026-11-20T00:00:00+00:00", "a\x00b"]).encode()).decode()
    r = client.get(f"/v1/incidents?cursor={cursor}", headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("model", ["fraud\x00scorer", "m" * 201, "", "  "])
def test_a_model_name_the_store_cannot_hold(client, keys, stored, model):
    body = json.loads(json.dumps(stored))
    body["incident"].update(id="inc-2", model=model)
    before = _state(client, keys)
    r = client.post("/v1/incidents", json=body, headers=keys["trigger"])
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["file"], r.json()["error"]["field"]) == ("incident (inline)", "model")
    assert _state(client, keys) == before


def test_nul_in_a_console_key(client, keys, stored):
    from rca.console.routes import COOKIE

    r = client.post("/signin", data={"key": "rca_a\x00b_secret"}, follow_redirects=False)
    assert r.status_code == 401 and "unknown or revoked API key" in r.text
    # a quoted cookie value may spell NUL as an octal escape
    r = client.get("/", headers={"Cookie": f'{COOKIE}="rca_a\\000b_secret"'}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?error=revoked"


def test_lone_surrogates_in_a_request(client, keys, stored, settings):
    """JSON's "\\ud800" decodes to a lone surrogate, which has no UTF-8: neither backend can store or look it up."""
    from rca.config import bundles_dir

    files = sorted(bundles_dir(settings).iterdir())
    before = _state(client, keys)
    review = '{"verdict": "name_cause", "node": "service:a\\ud800", "kind": "dependency_latency"}'
    r = client.post("/v1/incidents/inc-1/reviews", content=review,
                    headers={**keys["reviewer"], "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "node", r.text
    body = json.loads(json.dumps(stored))
    body["incident"].update(id="inc-2", model="fraud\ud800")
    r = client.post("/v1/incidents", content=json.dumps(body),
                    headers={**keys["trigger"], "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["file"], r.json()["error"]["field"]) == ("incident (inline)", "model")
    cursor = base64.urlsafe_b64encode(b'["2026-11-20T00:00:00+00:00", "a\\ud800"]').decode()
    r = client.get(f"/v1/incidents?cursor={cursor}", headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"
    assert _state(client, keys) == before and sorted(bundles_dir(settings).iterdir()) == files
