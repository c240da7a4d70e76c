"""No malformed body, header or archive gives a 500: each gets a JSON error with a message and a field."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest

from tests.service.bundles import bundle_dir, inline, tar_gz


def _tar_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _traversal() -> bytes:
    return _tar_with({"../evil.json": b"{}"})


def _symlink() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("incident.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    return buf.getvalue()


def cases(tmp_path):
    good = inline(bundle_dir(tmp_path, incident_id="inc-x"))
    no_model = json.loads(json.dumps(good))
    del no_model["incident"]["model"]
    bad_window = json.loads(json.dumps(good))
    bad_window["incident"]["current"] = {"start": "2026-11-20T14:00:00Z", "end": "2026-11-20T08:00:00Z"}
    bad_hist = json.loads(json.dumps(good))
    bad_hist["histograms"][1]["counts"] = [1, 2]
    bad_id = json.loads(json.dumps(good))
    bad_id["incident"]["id"] = "../../etc"
    late = json.loads(json.dumps(good))
    late["incident"]["detected_at"] = "9999-12-31T23:00:00-05:00"  # past year 9999 once in UTC
    early_window = json.loads(json.dumps(good))
    early_window["incident"]["baseline"]["start"] = "0001-01-01T00:00:00+01:00"
    bare_symptom = json.loads(json.dumps(good))
    bare_symptom["incident"]["symptom"] = {"node": "approval_rate", "direction": "down"}
    late_window = json.loads(json.dumps(good))
    late_window["incident"]["current"]["end"] = "2300-01-01T00:00:00Z"  # was a failed analysis (OutOfBoundsDatetime)
    array_name = json.loads(json.dumps(good))
    array_name["kpis"][1]["name"] = ["approval_rate"]  # was a 500 (unhashable type: 'list')
    archive = tar_gz(bundle_dir(tmp_path / "a", incident_id="inc-y"))
    J = "application/json"
    return [
        # (description, content type, body, expected status, expected field)
        ("malformed JSON", J, b'{"incident": {', 422, None),
        ("deeply nested JSON", J, b'{"incident": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 422, None),
        ("not UTF-8", J, b"\xff\xfe{}", 422, None),
        ("JSON array", J, b"[1, 2]", 422, None),
        ("no incident", J, b'{"predictions": []}', 422, None),
        ("missing model", J, json.dumps(no_model).encode(), 422, "model"),
        ("window end before start", J, json.dumps(bad_window).encode(), 422, "current"),
        ("bad histogram row", J, json.dumps(bad_hist).encode(), 422, None),
        ("unsafe incident id", J, json.dumps(bad_id).encode(), 422, "id"),
        ("symptom not a node id", J, json.dumps(bare_symptom).encode(), 422, "symptom.node"),
        ("detected_at past year 9999 in UTC", J, json.dumps(late).encode(), 422, "detected_at"),
        ("window before year 1 in UTC", J, json.dumps(early_window).encode(), 422, "baseline.start"),
        ("a KPI name that is an array", J, json.dumps(array_name).encode(), 422, "name"),
        ("a window past what the tables hold", J, json.dumps(late_window).encode(), 422, "current.end"),
        ("empty body", J, b"", 422, "body"),
        ("wrong content type", "text/plain", b"hello", 415, "Content-Type"),
        ("no content type", None, b"hello", 415, "Content-Type"),
        ("not a gzip", "application/gzip", b"this is not gzip", 422, None),
        ("truncated gzip", "application/gzip", archive[: len(archive) // 2], 422, None),
        ("not a zip", "application/zip", b"PK\x03\x04garbage", 422, None),
        ("path traversal", "application/gzip", _traversal(), 422, None),
        ("symlink member", "application/gzip", _symlink(), 422, None),
        ("archive without incident.json", "application/gzip", _tar_with({"x.txt": b"x"}), 422, None),
        ("multipart without boundary", "multipart/form-data", b"--x\r\n", 400, "body"),
        ("multipart missing part", "multipart/form-data; boundary=b",
         b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n--b--\r\n', 422, "bundle"),
        ("multipart wrong file type", "multipart/form-data; boundary=b",
         b'--b\r\nContent-Disposition: form-data; name="bundle"; filename="x.rar"\r\n\r\nv\r\n--b--\r\n', 415,
         "bundle"),
    ]


def test_malformed_submissions_get_json_errors(client, keys, tmp_path):
    failures = []
    for description, media, body, status, field in cases(tmp_path):
        headers = dict(keys["trigger"])
        if media:
            headers["Content-Type"] = media
        r = client.post("/v1/incidents", content=body, headers=headers)
        error = r.json().get("error", {}) if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != status or not error.get("message") or (field and error.get("field") != field):
            failures.append((description, r.status_code, r.text[:200]))
    assert failures == []


def test_bundle_errors_name_file_row_and_field(client, keys, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-h"))
    body["histograms"][2]["counts"] = [1, 2]
    r = client.post("/v1/incidents", content=json.dumps(body),
                    headers={**keys["trigger"], "Content-Type": "application/json"})
    error = r.json()["error"]
    assert r.status_code == 422 and error["file"] == "histograms (inline)" and error["row"] == 3


def test_upload_above_the_limit_is_413(settings, stub_ranker, tmp_path):
    from fastapi.testclient import TestClient

    from rca.api import create_app
    from rca.store.models import Role
    from tests.service.conftest import create_key

    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(small)) as client:
        headers = {"Authorization": "Bearer " + create_key(small, "bot", Role.trigger)}
        data = tar_gz(bundle_dir(tmp_path, incident_id="inc-big"))
        assert len(data) > 1000
        r = client.post("/v1/incidents", content=data, headers={**headers, "Content-Type": "application/gzip"})
        assert r.status_code == 413 and r.json()["error"] == {   # the operator's setting named: it was not
            "field": "body", "message": f"body of {len(data)} bytes exceeds the limit of 1000 bytes for a bundle (the "
                                        "service's RCA_MAX_UPLOAD_BYTES)"}

        def chunks():  # no Content-Length: the limit holds while streaming
            yield data[:600]
            yield data[600:]
        r = client.post("/v1/incidents", content=chunks(), headers={**headers, "Content-Type": "application/gzip"})
        assert r.status_code == 413 and "RCA_MAX_UPLOAD_BYTES" in r.json()["error"]["message"]
        r = client.post("/v1/incidents", files={"bundle": ("b.tar.gz", data)}, headers=headers)
        assert r.status_code == 413


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("method, path, kwargs, status, field", [
    ("get", "/v1/incidents?limit=0", {}, 422, "limit"),
    ("get", "/v1/incidents?since=yesterday", {}, 422, "since"),
    ("get", "/v1/incidents?since=0001-01-01T00:00:00%2B01:00", {}, 422, "since"),  # before year 1 in UTC
    ("get", "/v1/incidents?until=9999-12-31T23:00:00-05:00", {}, 422, "until"),    # past year 9999 in UTC
    ("get", "/v1/incidents?cursor=" + _cursor(["9999-12-31T23:00:00-05:00", "inc-x"]), {}, 422, "cursor"),
    ("get", "/v1/incidents?status=weird", {}, 422, "status"),
    ("get", "/v1/incidents?reviewed=perhaps", {}, 422, "reviewed"),
    ("get", "/v1/incidents/none-such", {}, 404, None),
    ("post", "/v1/incidents/x/reviews", {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
     422, "body"),
    ("post", "/v1/incidents/x/reviews", {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}},
     400, "body"),
    ("post", "/v1/keys", {"json": {"name": "x", "role": "god"}}, 422, "role"),
    ("post", "/signin", {"content": b"--x", "headers": {"Content-Type": "multipart/form-data"}}, 400, "body"),
    ("get", "/v1/nowhere", {}, 404, None),
    ("put", "/v1/incidents", {}, 405, None),
])
def test_other_bad_requests(client, keys, method, path, kwargs, status, field):
    kwargs = dict(kwargs)  # a copy: the parameters are shared by both backends' runs
    headers = {**keys["admin"], **kwargs.pop("headers", {})}
    r = getattr(client, method)(path, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
    if field:
        assert r.json()["error"]["field"] == field


def test_a_time_whose_plus_was_read_as_a_space_says_so(client, keys):
    """pydantic said only 'unexpected extra characters at the end of the input'."""
    r = client.get("/v1/incidents?since=2026-12-01T10:00:00+02:00", headers=keys["reviewer"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "since"
    assert r.json()["error"]["message"].endswith("; a '+' in a URL's query reads as a space: send the offset's '+' "
                                                 "as %2B (or use Z)")
    for other in ("yesterday", "2026-13-01 10:00"):   # no offset read as a space in these
        r = client.get(f"/v1/incidents?since={other}", headers=keys["reviewer"])
        assert r.status_code == 422 and "%2B" not in r.json()["error"]["message"]


def test_a_refused_submission_keeps_no_bundle_file(client, keys, settings, tmp_path):
    from rca.config import bundles_dir

    body = inline(bundle_dir(tmp_path, incident_id="inc-k"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    kept = sorted(p.name for p in bundles_dir(settings).iterdir())
    other = json.loads(json.dumps(body))
    other["incident"]["symptom"]["direction"] = "up"
    bad_id = json.loads(json.dumps(body))
    bad_id["incident"]["id"] = "inc k"
    for refused, status in ((other, 409), (bad_id, 422)):
        r = client.post("/v1/incidents", json=refused, headers=keys["trigger"])
        assert r.status_code == status, r.text
        r = client.post("/v1/incidents", content=tar_gz_of(refused, tmp_path),
                        headers={**keys["trigger"], "Content-Type": "application/gzip"})
        assert r.status_code == status, r.text
    assert sorted(p.name for p in bundles_dir(settings).iterdir()) == kept


def tar_gz_of(body: dict, tmp_path) -> bytes:
    path = tmp_path / "as-archive" / body["incident"]["id"].replace(" ", "_")
    path.mkdir(parents=True, exist_ok=True)
    (path / "incident.json").write_text(json.dumps(body["incident"]))
    return tar_gz(path)


@pytest.mark.parametrize("method, path, allow", [
    ("options", "/v1/incidents", "GET, POST"),              # was 'POST': the first route at the path
    ("put", "/v1/incidents/inc-x", "DELETE, GET"),
    ("patch", "/v1/incidents/inc-x/reviews", "GET, POST"),
    ("delete", "/v1/keys", "GET, POST"),
])
def test_a_405_allows_every_method_of_the_path(client, keys, method, path, allow):
    r = client.request(method.upper(), path, headers=keys["admin"])
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert r.json()["error"]["message"] == f"{method.upper()} is not allowed on {path}; it takes {allow}"


UNPARSABLE = [
    (b'{"name": "\xff"}', "body is not UTF-8 at byte 10; expected a UTF-8 JSON object"),
    (b"[" * 100_000, "body is JSON nested too deeply to read; expected a JSON object a few levels deep"),
]


JSON_BODIES = [  # (a path of each operation taking a JSON body, the operation)
    ("/v1/incidents/inc-x/reviews", "/v1/incidents/{incident_id}/reviews"),
    ("/v1/keys", "/v1/keys"),
    ("/v1/rankers/rollback", "/v1/rankers/rollback"),
    ("/v1/rankers/lgbm-x/promote", "/v1/rankers/{version}/promote"),
]


@pytest.mark.parametrize("path, operation", JSON_BODIES)
def test_a_json_body_that_does_not_decode_is_a_documented_400_saying_why(client, keys, path, operation):
    """Was 'There was an error parsing the body', with a 400 the OpenAPI document did not list."""
    for body, message in UNPARSABLE:
        r = client.post(path, content=body, headers={**keys["admin"], "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json() == {"error": {"message": message, "field": "body"}}
    assert "400" in client.app.openapi()["paths"][operation]["post"]["responses"]


@pytest.mark.parametrize("path, operation", JSON_BODIES)
def test_a_body_that_is_not_json_names_the_body_and_where_it_stops(client, keys, path, operation):
    """Was field '23' (the offset FastAPI's decoder stopped at) and the message 'JSON decode error'."""
    r = client.post(path, content=b'{"name": "x",\n "role": }',
                    headers={**keys["admin"], "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json() == {"error": {
        "message": "body is not valid JSON (Expecting value at line 2, column 10)", "field": "body"}}


@pytest.mark.parametrize("path, operation", JSON_BODIES)
def test_a_json_body_sent_as_another_media_type_is_a_415_saying_which(client, keys, path, operation):
    """Was a 422 'Input should be a valid dictionary or object to extract fields from' for a body that is one
    (FastAPI validated the undecoded bytes): `curl -d` sends application/x-www-form-urlencoded."""
    body = b'{"reason": "r", "name": "n", "role": "trigger", "verdict": "confirm", "rank": 1}'
    for media in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {**keys["admin"], **({"Content-Type": media} if media else {})}
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == 415 and r.json() == {"error": {
            "message": f"content type '{media or '(none)'}' is not accepted; send application/json",
            "field": "Content-Type"}}


def _chunked(data: bytes, size: int = 64 * 1024):
    """``data`` as a body of undeclared length (httpx sends a generator with Transfer-Encoding: chunked)."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_body_past_the_limit_is_413_before_anything_reads_it(client, keys, tmp_path):
    """Reviews, keys, rollbacks and the console's forms were read whole, however large, before the key check."""
    from rca.api.limits import MAX_BODY_BYTES

    body = inline(bundle_dir(tmp_path, incident_id="inc-l"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    review = json.dumps({"verdict": "confirm", "rank": 1, "comment": " " * MAX_BODY_BYTES}).encode()
    path = "/v1/incidents/inc-l/reviews"
    for key in (keys["reviewer"], {}):  # with or without a key: refused for its size, unread
        headers = {**key, "Content-Type": "application/json"}
        r = client.post(path, content=review, headers=headers)
        assert r.status_code == 413 and r.json()["error"] == {
            "message": f"body of {len(review)} bytes exceeds the limit of {MAX_BODY_BYTES} bytes "
                       "for this request (bundles go to POST /v1/incidents)", "field": "body"}
        r = client.post(path, content=_chunked(review), headers=headers)
        assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    r = client.post("/signin", content=_chunked(b"key=" + b"k" * MAX_BODY_BYTES),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert client.get(path, headers=keys["reviewer"]).json() == []  # nothing was stored
    counted = client.get("/metrics").text   # under the route, as any other answer of it: it said route="unmatched"
    assert 'rca_http_requests_total{method="POST",route="/v1/incidents/{incident_id}/reviews",status="413"} 4' in counted
    assert 'route="unmatched",status="413"' not in counted

    # under the bound, a chunked body reaches the route as sent
    small = json.dumps({"verdict": "confirm", "rank": 1, "comment": "x" * 10_000}).encode()
    r = client.post(path, content=_chunked(small, 1000), headers={**keys["reviewer"],
                                                                   "Content-Type": "application/json"})
    assert r.status_code == 201 and r.json()["comment"] == "x" * 10_000


def test_a_bundle_past_the_request_limit_is_still_taken(client, keys, tmp_path):
    """The bound is not the upload's: a bundle is bounded by RCA_MAX_UPLOAD_BYTES (100 MiB by default)."""
    from rca.api.limits import MAX_BODY_BYTES

    body = json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-m"))).encode()
    padded = body[:-1] + b" " * MAX_BODY_BYTES + b"}"
    for content in (padded, _chunked(padded)):
        r = client.post("/v1/incidents", content=content,
                        headers={**keys["trigger"], "Content-Type": "application/json"})
        assert r.status_code in (200, 201), r.text


def test_a_store_that_cannot_be_reached_or_written_is_a_503_to_retry(client, keys, tmp_path, monkeypatch):
    """It was a 500, 'internal error (OperationalError)': a read-only or locked SQLite file, a database restarting."""
    import sqlalchemy.exc

    def away(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("INSERT ...", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr("rca.store.queries.add_review", away)
    monkeypatch.setattr("rca.store.queries.list_incidents", away)
    assert client.post("/v1/incidents", json=inline(bundle_dir(tmp_path, incident_id="inc-ro")),
                       headers=keys["trigger"]).status_code == 201
    for r in (client.post("/v1/incidents/inc-ro/reviews", json={"verdict": "confirm", "rank": 1},
                          headers=keys["reviewer"]),
              client.get("/v1/incidents", headers=keys["reviewer"])):
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["error"] == {"message": "the review store could not be reached or written (OperationalError); "
                                                "try again in a moment (see the service log if it lasts)",
                                     "field": None}


def test_a_bundles_directory_that_cannot_be_written_is_a_503_naming_the_data_directory(client, keys, settings,
                                                                                      tmp_path):
    """It was a 500, 'internal error (PermissionError)', for every submission."""
    import shutil

    from rca.config import bundles_dir

    shutil.rmtree(bundles_dir(settings), ignore_errors=True)
    bundles_dir(settings).parent.mkdir(parents=True, exist_ok=True)
    bundles_dir(settings).write_text("not a directory")  # what a read-only or full disk is to mkdir and open
    body = inline(bundle_dir(tmp_path, incident_id="inc-disk"))
    for r in (client.post("/v1/incidents", json=body, headers=keys["trigger"]),
              client.post("/v1/incidents", content=tar_gz(bundle_dir(tmp_path / "t", incident_id="inc-disk2")),
                          headers={**keys["trigger"], "Content-Type": "application/gzip"})):
        assert r.status_code == 503, r.text
        assert r.json()["error"]["field"] == "RCA_DATA_DIR"
        assert r.json()["error"]["message"].endswith("expected a directory the service can keep bundles in "
                                                     "(File exists)")
    assert client.get("/v1/incidents/inc-disk", headers=keys["reviewer"]).status_code == 404


def test_a_retry_is_answered_though_the_bundles_directory_became_read_only(client, keys, tmp_path, monkeypatch):
    """A retry of a stored JSON body answered 503 'RCA_DATA_DIR' on a read-only store: only because the server
    touches the stored file (for the orphan sweep), which a stored incident does not need."""
    body = json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-ro")))
    headers = {**keys["trigger"], "Content-Type": "application/json"}
    assert client.post("/v1/incidents", content=body, headers=headers).status_code in (201, 202)

    def read_only(path, *args, **kwargs):
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr("rca.service.os.utime", read_only)
    again = client.post("/v1/incidents", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == "inc-ro"
