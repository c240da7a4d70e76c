"""traces.jsonl: the columnar reader gives parse_otlp's table, and leaves every unusual shape to it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rca.contract import load_bundle
from rca.contract.hosts import service_of, spelled_services
from rca.contract.otlp import parse_otlp, read_otlp_columnar
from rca.errors import BundleError
from tests.builders import otlp_request, span

T = 1_783_382_410_384_000_000


def _jsonl(requests: list) -> bytes:
    return ("\n".join(json.dumps(r) for r in requests) + "\n").encode()


def _python(data: bytes) -> pd.DataFrame:
    lines = [(i, json.loads(line)) for i, line in enumerate(data.decode().splitlines(), 1) if line.strip()]
    return parse_otlp(lines)


def _both(data: bytes) -> pd.DataFrame:
    """The span table of ``data`` as the columnar reader reads it, checked equal to `parse_otlp`'s."""
    columnar = read_otlp_columnar(data)
    assert columnar is not None
    pd.testing.assert_frame_equal(columnar, _python(data), check_exact=True)
    return columnar


def _varied(numbers: bool = False) -> list[dict]:
    """Several resources per line and spans per scope, spans out of time order, absent and null optional
    fields, and status codes and kinds in the spellings OTLP/JSON writers use: names and digit strings, or
    (``numbers``) integers, times too. One spelling per field and file (pyarrow infers one type per field)."""
    a = span("t1", "s1", "", "GET /score", T + 5_000, 20, error=True)
    b = span("t1", "s2", "s1", "predict", T + 6_000, 15)
    c = span("t2", "s3", "", "GET /score", T, 7)
    d = span("t2", "s4", "s3", "predict", T + 1_000, 3)
    e = span("t3", "s5", "", "GET /score", T + 9_000, 1)
    del c["parentSpanId"], c["status"]
    e["status"], e["parentSpanId"] = {}, None
    if numbers:
        for s in (a, b, c, d, e):
            s["startTimeUnixNano"], s["endTimeUnixNano"] = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
        a["kind"], b["kind"], c["kind"] = 2, 3, 1
        b["status"] = {"code": 2}
    else:
        a["kind"], b["kind"], c["kind"] = "SPAN_KIND_SERVER", "3", "1"
        a["status"], b["status"], d["status"] = {"code": "STATUS_CODE_ERROR"}, {"code": "2"}, {"code": "0"}
    two = otlp_request("api", [a, c])
    two["resourceSpans"].append(otlp_request("model-server", [b, d])["resourceSpans"][0])
    return [two, otlp_request("api", [e])]


@pytest.mark.parametrize("numbers", [False, True])
def test_columnar_equals_python_reader(numbers):
    data = _jsonl(_varied(numbers))
    columnar = _both(data)
    assert columnar["span_id"].tolist() == ["s3", "s4", "s1", "s2", "s5"]
    assert columnar["error"].tolist() == [False, False, True, True, False]
    assert columnar["kind"].tolist() == [1, 0, 2, 3, 0]
    assert columnar["parent_span_id"].tolist() == ["", "s3", "", "s1", ""]


def _attr(key: str, **value) -> dict:
    return {"key": key, "value": value}


def _with(s: dict, kind, code, *attributes) -> dict:
    s["kind"], s["attributes"] = kind, list(attributes)
    if code is None:
        del s["status"]
    else:
        s["status"] = {"code": code}
    return s


def _calls(numbers: bool) -> list[dict]:
    """A checkout-api request calling a session-store that exports no spans (peer.service), an instrumented
    model-server (server.address) and a queue through a producer span that has a child (net.peer.name), with
    failures said by status codes only; kinds, status codes and intValues in both OTLP/JSON spellings."""
    def k(name: str, number: int):
        return number if numbers else name

    def i(value: int) -> dict:
        return {"intValue": value if numbers else str(value)}

    unset, ok = k("STATUS_CODE_UNSET", 0), k("STATUS_CODE_OK", 1)
    client, server, internal = k("SPAN_KIND_CLIENT", 3), k("SPAN_KIND_SERVER", 2), k("SPAN_KIND_INTERNAL", 1)
    api = [_with(span("t1", "a", "", "POST /checkout", T, 50), server, unset,
                 _attr("http.response.status_code", **i(503)), _attr("peer.service", stringValue="not-a-caller")),
           _with(span("t1", "b", "a", "GET session", T + 1_000, 5), client, None,
                 _attr("peer.service", stringValue="session-store"), _attr("server.address", stringValue="10.0.0.7"),
                 _attr("rpc.grpc.status_code", **i(14))),
           _with(span("t1", "c", "a", "predict", T + 2_000, 30), client, unset,
                 _attr("server.address", stringValue="model-server"), _attr("rpc.grpc.status_code", **i(5))),
           _with(span("t2", "e", "", "publish", T + 3_000, 9), k("SPAN_KIND_PRODUCER", 4), unset,
                 _attr("net.peer.name", stringValue="orders-queue"), _attr("http.status_code", **i(404))),
           _with(span("t2", "f", "e", "retry", T + 4_000, 2), internal, unset,
                 _attr("http.status_code", **i(503)), _attr("http.status_code", **i(200)),
                 _attr("sampled", boolValue=True), _attr("ratio", doubleValue=0.5),
                 _attr("tags", arrayValue={"values": [{"stringValue": "x"}]})),
           _with(span("t2", "g", "e", "GET cache", T + 5_000, 1), client, unset,
                 _attr("peer.service", **i(7)), _attr("net.peer.name", stringValue="cache"),
                 _attr("http.status_code", doubleValue=502.0))]
    model = [_with(span("t1", "d", "c", "predict", T + 2_100, 28), server, ok, _attr("http.status_code", **i(500)))]
    return [otlp_request("checkout-api", api), otlp_request("model-server", model)]


@pytest.mark.parametrize("numbers", [False, True])
def test_both_readers_read_peers_and_status_code_failures_alike(numbers):
    """A CLIENT or PRODUCER span's peer is its first of peer.service, server.address, net.peer.name that is text;
    a span that set no status failed when its HTTP status is 5xx or its gRPC code a server failure (never when
    its status is OK). A childless call to a peer that exported nothing is the peer's span, its caller kept as
    its peer; a call to an instrumented service, or with a child, stays the caller's."""
    data = _jsonl(_calls(numbers))
    columnar = _both(data)
    got = columnar.set_index("span_id")
    assert got["error"].to_dict() == {"a": True, "b": True, "c": False, "d": False, "e": False, "f": False,
                                      "g": True}
    assert got["service"].astype(str).to_dict() == {
        "a": "checkout-api", "b": "session-store", "c": "checkout-api", "d": "model-server", "e": "checkout-api",
        "f": "checkout-api", "g": "cache"}
    assert got["peer"].astype(str).to_dict() == {"a": "", "b": "checkout-api", "c": "model-server", "d": "",
                                                 "e": "orders-queue", "f": "", "g": "checkout-api"}


def _tagged(bools: bool) -> list[dict]:
    """Spans converted from Jaeger or Zipkin: no kind and no status, both said by tags only (``error`` as a bool,
    its text, or Zipkin's message; ``otel.status_code``; ``span.kind``); one spelling of ``error`` per file
    (``bools``), as one exporter writes it."""
    true, false = ({"boolValue": True}, {"boolValue": False}) if bools else ({"stringValue": "true"},
                                                                             {"stringValue": "False"})
    return [otlp_request("reservation", [
        _with(span("t1", "a", "", "GET /reserve", T, 50), 0, None, _attr("span.kind", stringValue="server"),
              _attr("error", **true)),
        _with(span("t1", "b", "a", "find", T + 1_000, 5), 0, None, _attr("span.kind", stringValue="CLIENT"),
              _attr("peer.service", stringValue="mongodb-rsv"), _attr("error", **false)),
        _with(span("t2", "c", "", "GET /reserve", T + 2_000, 9), 0, None, _attr("span.kind", stringValue="producer"),
              _attr("otel.status_code", stringValue="ERROR"), _attr("peer.service", stringValue="queue")),
        _with(span("t2", "d", "c", "work", T + 3_000, 2), 1, 0, _attr("span.kind", stringValue="client"),
              _attr("otel.status_code", stringValue="OK"), _attr("zipkin.error", stringValue="x")),
        _with(span("t3", "e", "", "GET /reserve", T + 4_000, 3), 0, 0,
              _attr("span.kind", stringValue="consumer"), _attr("error", stringValue="connection refused")),
        _with(span("t3", "f", "e", "ok", T + 5_000, 1), 2, 1, _attr("error", **true)),
        _with(span("t4", "g", "", "GET /reserve", T + 6_000, 1), 0, 0, _attr("span.kind", stringValue="gateway"),
              _attr("error", stringValue=""))])]


@pytest.mark.parametrize("bools", [False, True])
def test_both_readers_read_errors_and_kinds_given_as_tags_alike(bools):
    """A span with no status failed when its ``error`` tag is true or a message, or its ``otel.status_code`` is
    ERROR; an explicit OK wins. A span whose kind is unspecified takes its ``span.kind`` tag (any case), one of
    OpenTelemetry's five kinds, so a CLIENT call finds its peer; a kind of its own wins."""
    data = _jsonl(_tagged(bools))
    columnar = _both(data)
    got = columnar.set_index("span_id")
    assert got["error"].to_dict() == {"a": True, "b": False, "c": True, "d": False, "e": True, "f": False,
                                      "g": False}
    assert got["kind"].to_dict() == {"a": 2, "b": 3, "c": 4, "d": 1, "e": 5, "f": 2, "g": 0}
    # the childless CLIENT call (a kind from its tag) to a peer that exported nothing is the peer's span
    assert got["service"].astype(str)["b"] == "mongodb-rsv" and got["peer"].astype(str)["b"] == "reservation"
    assert got["peer"].astype(str)["c"] == "queue"


def _spelled_calls() -> list[dict]:
    """cart's childless CLIENT calls to peers that exported nothing, addressed as callers write them: redis-cart
    with a port and by its Kubernetes service domain; a MongoDB by the IPs of two replicas (``db.name``, or the
    current ``db.namespace``), a PostgreSQL by an IP and ``db.system.name`` only, an IP alone; and calls to the
    instrumented model-server spelled with another case and a port, or by its service domain."""
    def call(span_id: str, *attributes) -> dict:
        return _with(span("t1", span_id, "a", "call", T + 1_000, 1), 3, 0, *attributes)

    def to(address: str) -> dict:
        return _attr("server.address", stringValue=address)

    cart = [_with(span("t1", "a", "", "POST /cart", T, 50), 2, 0),
            call("r1", _attr("net.peer.name", stringValue="redis-cart:6379")),
            call("r2", to("redis-cart.default.svc.cluster.local")),
            call("m1", to("10.42.5.9"), _attr("db.system", stringValue="mongodb"), _attr("db.name", stringValue="geo")),
            call("m2", to("10.42.7.3:27017"), _attr("db.system", stringValue="mongodb"),
                 _attr("db.namespace", stringValue="geo")),
            call("p1", to("10.0.0.12"), _attr("db.system.name", stringValue="postgresql")),
            call("i1", to("10.0.0.99:8443")),
            call("s1", to("Model-Server:8080")),
            call("s2", to("model-server.prod.svc.cluster.local"))]
    model = [_with(span("t2", "b", "", "predict", T + 2_000, 5), 2, 0)]
    return [otlp_request("cart", cart), otlp_request("model-server", model)]


def test_both_readers_name_one_peer_whatever_address_it_was_called_by():
    """A port and a Kubernetes service domain are no part of a peer's name; an address that spells a service with
    spans is that service (and its calls stay the caller's); replicas of a database called by IP are one node
    named by the database's kind and name."""
    data = _jsonl(_spelled_calls())
    columnar = _both(data)
    got = columnar.set_index("span_id")
    assert got["service"].astype(str).to_dict() == {
        "a": "cart", "r1": "redis-cart", "r2": "redis-cart", "m1": "mongodb-geo", "m2": "mongodb-geo",
        "p1": "postgresql", "i1": "10.0.0.99", "s1": "cart", "s2": "cart", "b": "model-server"}
    assert got["peer"].astype(str)[["r1", "m2", "s1", "s2"]].tolist() == ["cart", "cart", "model-server",
                                                                         "model-server"]


@pytest.mark.parametrize("address, service", [
    ("payments", "Payments"), ("PAYMENTS:8080", "Payments"), ("payments.prod.svc.cluster.local", "Payments"),
    ("cart.prod.svc", "cart.prod"), ("cart", "cart"), ("cart.dev.svc.cluster.local.", "cart"),
    ("10.0.0.7:80", None), ("[fe80::1]:80", None), ("api.stripe.com:443", None)])
def test_an_address_finds_the_service_it_spells(address, service):
    """Full names first; a first DNS label names a service only when one service has it."""
    assert service_of(address, spelled_services(["Payments", "cart", "cart.prod"])) == service


@pytest.mark.parametrize("attributes", ["absent", None, []])
def test_spans_without_attributes_are_read_by_the_columnar_reader(attributes):
    spans = [_with(span("t1", "a", "", "GET session", T, 5), 3, 0)]
    for s in spans:
        s.pop("attributes") if attributes == "absent" else s.update(attributes=attributes)
    data = _jsonl([otlp_request("checkout-api", spans)])
    columnar = _both(data)
    assert columnar["peer"].tolist() == [""]


def test_an_attribute_whose_key_is_not_text_is_ignored():
    calls = [_with(span("t1", "a", "", "GET session", T, 5), 3, 0, {"key": ["peer.service"], "value": {}},
                   _attr("peer.service", stringValue="session-store"))]
    data = _jsonl([otlp_request("checkout-api", calls)])
    assert read_otlp_columnar(data) is None
    assert _python(data)["service"].tolist() == ["session-store"]


def test_a_call_to_a_service_of_the_bundle_without_a_child_stays_the_caller_s():
    """An instrumented peer whose span for that call is missing (sampled out, or context not propagated) is not
    made up from the caller's: it has spans of its own."""
    calls = [_with(span("t1", "a", "", "GET session", T, 5), 3, 0,
                   _attr("peer.service", stringValue="session-store"))]
    own = [_with(span("t2", "b", "", "GET /session", T + 1_000, 4), 2, 0)]
    data = _jsonl([otlp_request("checkout-api", calls), otlp_request("session-store", own)])
    columnar = _both(data)
    assert columnar["service"].astype(str).tolist() == ["checkout-api", "session-store"]
    assert columnar["peer"].astype(str).tolist() == ["session-store", ""]


def test_a_failed_call_that_got_no_answer_is_the_callee_s():
    """checkout-api's call to payments (which has spans of its own) failed with gRPC UNAVAILABLE and has no child:
    the connection was refused, the request never reached payments. It was checkout-api's own failure, so the
    caller of an unreachable service was named for it; it is now payments' span, its caller kept as its peer. A
    childless call that succeeded stays the caller's (the callee's span for it was lost)."""
    calls = [_with(span("t1", "a", "", "POST /checkout", T, 9), 2, 0),
             _with(span("t1", "b", "a", "Charge", T + 1_000, 1), 3, 0,
                   _attr("peer.service", stringValue="payments:50051"), _attr("rpc.grpc.status_code", intValue="14")),
             _with(span("t2", "c", "", "Charge", T + 2_000, 5), 3, 0, _attr("peer.service", stringValue="payments")),
             # an Istio sidecar's span, its peer only in the Envoy cluster it sent the request to: 503, no upstream
             _with(span("t4", "e", "", "payments.shop.svc.cluster.local:50051/*", T + 4_000, 1), 3, 0,
                   _attr("upstream_cluster", stringValue="outbound|50051||payments.shop.svc.cluster.local"),
                   _attr("http.status_code", stringValue="503"))]
    own = [_with(span("t3", "d", "", "Charge", T + 3_000, 4), 2, 0)]
    data = _jsonl([otlp_request("checkout-api", calls), otlp_request("payments", own)])
    columnar = _both(data)
    got = columnar.set_index("span_id")
    assert got["service"].astype(str).to_dict() == {"a": "checkout-api", "b": "payments", "c": "checkout-api",
                                                    "d": "payments", "e": "payments"}
    assert got["peer"].astype(str).to_dict() == {"a": "", "b": "checkout-api", "c": "payments", "d": "",
                                                 "e": "checkout-api"}
    assert got["error"].to_dict() == {"a": False, "b": True, "c": False, "d": False, "e": True}


def test_the_two_halves_of_a_span_zipkin_shares_are_told_apart():
    """Zipkin's B3: the client and the server of one call record one span id, both under the client's parent. The
    gateway's span looked like the parent of both halves (its self-time spent twice, a failing order service's
    error its own). The server half gets an id of its own under the client half, and the order service's spans
    under the shared id follow it; an id two spans share that are not a client and a server is left alone."""
    gateway = [_with(span("t1", "g", "", "GET /order", T, 40), 2, 0),
               _with(span("t1", "x", "g", "POST order", T + 1_000, 30), 3, 0),
               _with(span("t1", "y", "g", "log", T + 2_000, 3), 1, 0)]
    order = [_with(span("t1", "x", "g", "POST /order", T + 1_500, 29), 2, 2),
             _with(span("t1", "q", "x", "SELECT", T + 2_000, 20), 1, 0),
             _with(span("t1", "y", "g", "cache", T + 2_500, 1), 1, 0)]
    data = _jsonl([otlp_request("gateway", gateway), otlp_request("order", order)])
    columnar = _both(data)
    got = {r.operation: (r.span_id, r.parent_span_id) for r in columnar.itertuples()}
    assert got == {"GET /order": ("g", ""), "POST order": ("x", "g"), "POST /order": ("x~server", "x"),
                   "SELECT": ("q", "x~server"), "log": ("y", "g"), "cache": ("y", "g")}


def test_an_istio_sidecar_s_spans_are_the_workload_s_it_proxies():
    """Sidecars export spans as <app>.<namespace> or istio-proxy, one node per proxy (or one for all of them), so
    a wait in shipping's proxy before its handler was a node of its own; istio.canonical_service names the app."""
    proxy = [_with(span("t1", "p", "", "shipping.default.svc.cluster.local:80/*", T, 70), 2, 0,
                   _attr("istio.canonical_service", stringValue="shipping"))]
    other = [_with(span("t1", "o", "", "cart", T, 5), 3, 0, _attr("istio.canonical_service", stringValue="cart"))]
    app = [_with(span("t1", "a", "p", "GetQuote", T + 60_000_000, 9), 2, 0)]
    data = _jsonl([otlp_request("shipping.default", proxy), otlp_request("istio-proxy", other),
                   otlp_request("shipping", app)])
    columnar = _both(data)
    assert columnar.set_index("span_id")["service"].astype(str).to_dict() == {"p": "shipping", "o": "cart",
                                                                              "a": "shipping"}


def _edit(fn) -> bytes:
    requests = _varied()
    fn(requests)
    return _jsonl(requests)


def _first_span(requests: list) -> dict:
    return requests[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]


UNUSUAL = {
    "legacy instrumentationLibrarySpans": lambda r: r[1]["resourceSpans"][0].update(
        instrumentationLibrarySpans=r[1]["resourceSpans"][0].pop("scopeSpans")),
    "service.name as an int": lambda r: r[1]["resourceSpans"][0]["resource"]["attributes"][0].update(
        value={"intValue": "7"}),
    "two service.name attributes": lambda r: r[1]["resourceSpans"][0]["resource"]["attributes"].append(
        {"key": "service.name", "value": {"stringValue": "other"}}),
    "span name null": lambda r: _first_span(r).update(name=None),
    "times as numbers and as strings": lambda r: _first_span(r).update(startTimeUnixNano=T),
    "time with a fraction": lambda r: _first_span(r).update(startTimeUnixNano=f"{T}.5"),
    "integer trace id": lambda r: _first_span(r).update(traceId=12),
    "a line that is not an object": lambda r: r.append([1, 2]),
}


@pytest.mark.parametrize("numbers", [False, True])
def test_a_span_whose_parent_is_not_in_the_bundle_is_a_root(numbers):
    """Entry spans of requests that came through a gateway or browser that exported nothing name a parent the
    bundle lacks, and some exporters write an all-zero id for none: `rca analyze` crashed on traces with no root
    (KeyError in the traces generator) while `rca validate` called them valid."""
    spans = [span("t1", "s1", "0000000000000000", "GET /score", T, 20),
             span("t1", "s2", "s1", "predict", T + 1_000, 15),
             span("t2", "s3", "fe55ab1e00000001", "GET /score", T + 5_000, 7),
             span("t2", "s4", "s3", "predict", T + 6_000, 3),
             span("t3", "s5", "s3", "GET /score", T + 9_000, 1)]  # a parent of another trace is not its parent
    if numbers:
        for s in spans:
            s["startTimeUnixNano"], s["endTimeUnixNano"] = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
    data = _jsonl([otlp_request("api", spans)])
    columnar = _both(data)
    assert columnar["parent_span_id"].tolist() == ["", "s1", "", "s3", ""]


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_unusual_shapes_are_left_to_the_python_reader(case):
    data = _edit(UNUSUAL[case])
    assert read_otlp_columnar(data) is None


BAD = {
    "end before start": (lambda r: _first_span(r).update(endTimeUnixNano=str(T)), 1, "endTimeUnixNano",
                         "ends before it starts"),
    "missing span id": (lambda r: _first_span(r).pop("spanId"), 1, "spanId", "missing a required field"),
    "time that is not an integer": (lambda r: r[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(
        startTimeUnixNano="soon"), 2, "startTimeUnixNano", "integer nanoseconds"),
    "no service.name": (lambda r: r[1]["resourceSpans"][0]["resource"].update(attributes=[]), 2,
                        "resource.attributes", "service.name"),
    "no resourceSpans": (lambda r: r.append({"spans": []}), 3, "resourceSpans", "ExportTraceServiceRequest"),
    "trace id that is an array": (lambda r: _first_span(r).update(traceId=["t1"]), 1, "traceId",
                                  "span traceId is an array; expected a string"),
    "span id that is an object": (lambda r: _first_span(r).update(spanId={"id": "s1"}), 1, "spanId",
                                  "span spanId is an object; expected a string"),
    "parent span id that is an array": (lambda r: _first_span(r).update(parentSpanId=["s0"]), 1, "parentSpanId",
                                        "span parentSpanId is an array; expected a string"),
    "span name that is an array": (lambda r: _first_span(r).update(name=["GET", "/score"]), 1, "name",
                                   "span name is an array; expected a string"),
    "service.name that is an array": (lambda r: r[1]["resourceSpans"][0]["resource"]["attributes"][0].update(
        value={"arrayValue": {"values": [{"stringValue": "api"}]}}), 2, "resource.attributes",
        "'service.name' is an array; expected a string"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_traces_name_line_and_field(bundle_dir, case):
    edit, line, field, message = BAD[case]
    data = _edit(edit)
    assert read_otlp_columnar(data) is None
    (bundle_dir / "traces.jsonl").write_bytes(data)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_dir)
    err = info.value
    assert (err.file, err.row, err.field) == ("traces.jsonl", line, field)
    assert message in err.message


def test_bundle_loads_traces_through_the_columnar_reader(bundle_dir):
    data = (bundle_dir / "traces.jsonl").read_bytes()
    pd.testing.assert_frame_equal(load_bundle(bundle_dir).spans, read_otlp_columnar(data), check_exact=True)
    pd.testing.assert_frame_equal(load_bundle(bundle_dir).spans, _python(data), check_exact=True)


@pytest.mark.parametrize("before", [0, 1024], ids=["first line", "first line of a later block"])
def test_a_null_line_does_not_crash_the_process(bundle_dir, before):
    """pyarrow's JSON reader dies of a segmentation fault on a block that starts with a top-level ``null``
    (apache/arrow#47409); blocks are 1 MiB here, so 1024 lines of 1 KiB put the null at a block's start. Run in a
    child process, so that the crash fails this test instead of ending the test run."""
    import subprocess
    import sys

    padding = json.dumps({"resourceSpans": [], "x": ""})
    line = json.dumps({"resourceSpans": [], "x": "p" * (1023 - len(padding))}) + "\n"
    spans = (bundle_dir / "traces.jsonl").read_text()
    (bundle_dir / "traces.jsonl").write_text(line * before + "null\n" + spans)
    proc = subprocess.run([sys.executable, "-m", "rca", "validate", str(bundle_dir)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert f"traces.jsonl, line {before + 1}, field 'resourceSpans'" in proc.stderr


def test_validate_reports_every_bad_line_of_traces(bundle_dir, capsys):
    """`rca validate` names each bad line (its first problem); analysis stops at the first."""
    from tests.test_contract_errors import run_cli

    good = (bundle_dir / "traces.jsonl").read_text()
    (bundle_dir / "traces.jsonl").write_text('{"resourceSpans": 3}\n' + good + "null\n")
    n = len(good.splitlines())
    code, out = run_cli(capsys, "validate", str(bundle_dir))
    assert code == 2
    assert [line for line in out.err.splitlines() if "traces.jsonl" in line] == [
        "error: traces.jsonl, line 1, field 'resourceSpans': expected an ExportTraceServiceRequest with "
        "'resourceSpans'",
        f"error: traces.jsonl, line {n + 2}, field 'resourceSpans': expected an ExportTraceServiceRequest with "
        "'resourceSpans'"], out.err
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert err.value.row == 1 and not hasattr(err.value, "errors")
