"""Trace bundles as tracers and converters write OTLP/JSON: a request is a tree of logical `Call`s, which a
`Style` renders to spans (span kind and status spellings, peer attributes, Zipkin's shared span ids, Envoy
sidecars, messaging links, databases without spans, clock skew, sampling).

A bundle is a 30 min baseline (11:30-12:00) and a 25 min current window (12:05-12:30) of requests arriving at
random (one per ``rate_s / scale`` seconds on average), the fault from 12:07; ``traces.jsonl`` holds one
``ExportTraceServiceRequest`` per trace, each service its own resource as the Collector batches them. QA wrote a
2 h baseline and more requests (`bench.qa_bundles.traces.BOUTIQUE`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.qa_bundles.common import write_incident

BASELINE = (pd.Timestamp("2026-12-10T11:30:00Z"), pd.Timestamp("2026-12-10T12:00:00Z"))
CURRENT = (pd.Timestamp("2026-12-10T12:05:00Z"), pd.Timestamp("2026-12-10T12:30:00Z"))
FAULT_AT = pd.Timestamp("2026-12-10T12:07:00Z")
MS = 1_000_000                       # nanoseconds


@dataclass
class Call:
    """One logical call in a request: who serves it, its own time, what it calls, how it fails."""

    service: str
    op: str
    proto: str = "grpc"              # grpc | http | db | cache | msg
    own_ms: float = 1.0              # own time, 60% before the children and 40% after
    children: list = field(default_factory=list)
    error: bool = False              # fails on its own
    code: int | None = None          # the HTTP or gRPC code of its answer (None: the protocol's default)
    instrumented: bool = True        # False: a database, cache or broker that exports no spans
    db: dict | None = None           # db.* / messaging.* attributes
    peer_addr: str | None = None     # the host its caller dials (default: the service's name)
    attempts: list = field(default_factory=list)   # failed attempts before this one: "noconn" | "err"
    pre_ms: float = 0.0              # time waiting in the callee's sidecar or queue before the handler
    async_: bool = False             # a message: a producer span in the caller, a consumer span in the service
    fail_noconn: bool = False        # never reaches the service (connection refused, no healthy upstream)
    parallel: bool = False           # its children are called concurrently


def walk(call: Call):
    yield call
    for child in call.children:
        yield from walk(child)


def lognormal(rng: np.random.Generator, median: float, sigma: float = 0.35) -> float:
    return float(median * np.exp(rng.normal(0, sigma)))


@dataclass
class Style:
    """How a tracer spells what it records (the defaults: an OpenTelemetry SDK, current conventions)."""

    kind_fmt: str = "int"                  # int | name | attr (kind 0 and a span.kind attribute, Jaeger's tag)
    status_fmt: str = "int"                # int | name | tag (error=true) | tag_msg (error=<message>) | otel
    peer_key: str = "server.address"       # server.address | net.peer.name | peer.service
    http_key: str = "http.response.status_code"
    http_client_unset: bool = True         # HTTP client spans leave the status unset (the code only)
    server_status_from_code_only: bool = False
    root_parent: str = "empty"             # a root's parentSpanId: empty | omit | zeros
    trace_bits: int = 128                  # 64: a Zipkin or Jaeger id the Collector padded to 128 bits
    zipkin_shared: bool = False            # the server half reuses the client's span id (B3 shared spans)
    mesh: str | None = None                # Envoy sidecars named <app>.default (svcns) or istio-proxy
    mesh_app_spans: bool = True            # the applications export spans besides their sidecars
    links: bool = True                     # a consumer starts a new trace linked to its producer
    codes: bool = True                     # HTTP and gRPC status code attributes
    skew_ms: dict = field(default_factory=dict)    # service -> its clock's offset
    drop: dict = field(default_factory=dict)       # service -> share of traces its spans were sampled out of


KIND_NAMES = {1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT", 4: "SPAN_KIND_PRODUCER",
              5: "SPAN_KIND_CONSUMER"}
KIND_TAGS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
ERROR_STATUS = {"int": {"code": 2, "message": "error"}, "name": {"code": "STATUS_CODE_ERROR", "message": "error"}}
UNSET_STATUS = {"int": {}, "name": {"code": "STATUS_CODE_UNSET"}}
ERROR_TAGS = {"tag": {"error": True}, "tag_msg": {"error": "java.net.SocketTimeoutException: Read timed out"},
              "otel": {"otel.status_code": "ERROR", "otel.status_description": "error"}}
NET_NS = 0.25 * MS                   # one way on the network


class Renderer:
    """Renders one trace at a time into ``by_service`` (service -> its spans), drawing ids and jitter from
    ``rng``."""

    def __init__(self, style: Style, rng: np.random.Generator):
        self.s = style
        self.rng = rng
        self.by_service: dict[str, list] = {}

    def hexid(self, nbytes: int) -> str:
        return self.rng.bytes(nbytes).hex()

    def trace_id(self) -> str:
        return "0" * 16 + self.hexid(8) if self.s.trace_bits == 64 else self.hexid(16)

    def emit(self, service: str, tid: str, sid: str, parent: str | None, name: str, kind: int, start: float,
             end: float, *, error: bool = False, attrs: dict | None = None, links: list | None = None,
             code_attr: dict | None = None, status_explicit: bool = True) -> None:
        s = self.s
        attrs = dict(attrs or {})
        offset = s.skew_ms.get(service, 0) * MS
        span = {"traceId": tid, "spanId": sid, "name": name, "startTimeUnixNano": str(int(start + offset)),
                "endTimeUnixNano": str(int(end + offset))}
        if parent:
            span["parentSpanId"] = parent
        elif s.root_parent != "omit":
            span["parentSpanId"] = "" if s.root_parent == "empty" else "0" * 16
        if s.kind_fmt == "attr":
            span["kind"] = 0
            attrs["span.kind"] = KIND_TAGS[kind]
        else:
            span["kind"] = KIND_NAMES[kind] if s.kind_fmt == "name" else kind
        if code_attr and s.codes:
            attrs.update(code_attr)
        if error and status_explicit:
            if s.status_fmt in ERROR_STATUS:
                span["status"] = dict(ERROR_STATUS[s.status_fmt])
            else:
                attrs.update(ERROR_TAGS[s.status_fmt])
        elif s.status_fmt in UNSET_STATUS:
            span["status"] = dict(UNSET_STATUS[s.status_fmt])
        span["attributes"] = [_kv(k, v) for k, v in attrs.items()]
        if links:
            span["links"] = links
        self.by_service.setdefault(service, []).append(span)

    def call(self, c: Call, caller: str | None, tid: str, parent_sid: str | None, start: float,
             deferred: list) -> float:
        """One logical call made by ``caller`` (None for the request's root); returns when the caller has its
        answer. Messages are queued in ``deferred`` for `consumer`."""
        s = self.s
        t = start
        for attempt in c.attempts:               # failed attempts first, 5 ms apart
            failed = copy.copy(c)
            failed.attempts, failed.children = [], []
            if attempt == "noconn":
                failed.fail_noconn = True
            else:
                failed.error, failed.code = True, (503 if c.proto == "http" else 14)
            t = self.call(failed, caller, tid, parent_sid, t, deferred) + 5 * MS
        client_sid = self.hexid(8)
        server_sid = client_sid if s.zipkin_shared else self.hexid(8)
        fails = c.error or c.fail_noconn or _child_failed(c)
        if caller is None:
            return self.server(c, tid, parent_sid, t, deferred, server_sid)
        if c.async_:
            published = t + 1.5 * MS * (0.7 + 0.6 * self.rng.random())
            attrs = {"messaging.system": c.db["system"], "messaging.destination.name": c.db["dest"],
                     "messaging.operation": "publish", "server.address": c.db["broker"]}
            self.emit(caller, tid, client_sid, parent_sid, f"{c.db['dest']} publish", 4, t, published, attrs=attrs)
            deferred.append((c, tid, client_sid, published + 20 * MS * (0.5 + self.rng.random())))
            return published
        client_start = t
        server_start = client_start + NET_NS
        if c.fail_noconn or not c.instrumented:
            took = MS * (0.5 + self.rng.random()) if c.fail_noconn else c.own_ms * MS
            server_end = server_start + took
        else:
            server_end = self.server(c, tid, None, server_start, deferred, server_sid, client_sid=client_sid,
                                     client_parent=parent_sid, caller=caller)
        client_end = server_end + NET_NS
        if c.fail_noconn:                        # an HTTP client waits for its connect timeout
            client_end = server_start + (1e9 if c.proto == "http" else took)
        if s.mesh and c.fail_noconn:             # the caller's sidecar answers 503 UF itself
            cluster = f"outbound|8080||{c.service}.default.svc.cluster.local"
            self.emit(self._proxy(caller), tid, self.hexid(8), client_sid if s.mesh_app_spans else parent_sid,
                      f"{c.service}.default.svc.cluster.local:8080/*", 3, client_start + 0.1 * MS,
                      client_end - 0.1 * MS, error=True,
                      attrs={"upstream_cluster": cluster, "upstream_cluster.name": cluster, "component": "proxy",
                             "http.status_code": "503", "response_flags": "UF,URX", "istio.canonical_service": caller})
        if s.mesh and not s.mesh_app_spans and (c.instrumented or c.fail_noconn):
            return client_end                    # no application client span: only the sidecars' spans
        self.emit(caller, tid, client_sid, parent_sid, c.db.get("op", c.op) if c.proto == "db" else c.op, 3,
                  client_start, client_end, error=fails, attrs=self.client_attrs(c), code_attr=self.code_attr(c, fails),
                  status_explicit=not (c.proto == "http" and s.http_client_unset))
        return client_end

    def _proxy(self, service: str) -> str:
        return "istio-proxy" if self.s.mesh == "istio-proxy" else f"{service}.default"

    def code_attr(self, c: Call, fails: bool) -> dict:
        """The status code attribute of an HTTP or gRPC span (none for databases and messages)."""
        code = _code(c, fails)
        if c.proto == "http":
            return {self.s.http_key: code}
        return {"rpc.grpc.status_code": code} if c.proto == "grpc" else {}

    def client_attrs(self, c: Call) -> dict:
        s = self.s
        host = c.peer_addr or c.service
        if c.proto in ("db", "cache"):
            attrs = {"db.system": c.db["system"], "db.name": c.db.get("name", ""), "db.statement": c.db.get("stmt", "")}
            attrs[s.peer_key] = c.db.get("peer_service", host) if s.peer_key == "peer.service" else host
            if s.peer_key == "server.address":
                attrs["server.port"] = c.db.get("port", 5432)
            return attrs
        if c.proto == "grpc":
            attrs = {"rpc.system": "grpc", "rpc.service": c.op.split("/")[0], "rpc.method": c.op.split("/")[-1]}
        else:
            attrs = {"http.request.method" if s.http_key.startswith("http.response") else "http.method": "GET"}
        attrs[s.peer_key] = c.service if s.peer_key == "peer.service" else host
        if s.peer_key == "server.address":
            attrs["server.port"] = 8080
        return attrs

    def server(self, c: Call, tid: str, parent_sid: str | None, start: float, deferred: list, server_sid: str, *,
               client_sid: str | None = None, client_parent: str | None = None, caller: str | None = None) -> float:
        """The callee's side: in a mesh the caller's outbound and the callee's inbound sidecar spans, then the
        application's server span and its children. Returns when the answer leaves the callee."""
        s = self.s
        fails = c.error or _child_failed(c)
        t = start
        app_parent = client_sid or parent_sid
        if s.zipkin_shared and client_sid:
            app_parent = client_parent           # both halves of a shared span have the client's parent
        meshed = bool(s.mesh) and caller is not None
        if meshed:
            outbound_sid, inbound_sid = self.hexid(8), self.hexid(8)
            outbound_parent, outbound_start = (client_sid if s.mesh_app_spans else client_parent), t
            t += 0.4 * MS + c.pre_ms * MS
            app_parent = inbound_sid
        app_start = t
        t += c.own_ms * 0.6 * MS
        children_parent = inbound_sid if meshed and not s.mesh_app_spans else server_sid
        if c.parallel:
            t = max([t] + [self.call(child, c.service, tid, children_parent, t + 0.05 * MS * i, deferred)
                           for i, child in enumerate(c.children)])
        else:
            for child in c.children:
                t = self.call(child, c.service, tid, children_parent, t, deferred)
        app_end = t + c.own_ms * 0.4 * MS
        if not meshed or s.mesh_app_spans:
            self.emit(c.service, tid, server_sid, app_parent, c.op, 2, app_start, app_end, error=fails,
                      code_attr=self.code_attr(c, fails), status_explicit=not s.server_status_from_code_only)
        if not meshed:
            return app_end
        inbound_end = app_end + 0.2 * MS
        outbound_end = inbound_end + 0.2 * MS
        status = "503" if fails else "200"
        cluster = f"outbound|8080||{c.service}.default.svc.cluster.local"
        name = f"{c.service}.default.svc.cluster.local:8080/*"
        self.emit(self._proxy(caller), tid, outbound_sid, outbound_parent, name, 3, outbound_start, outbound_end,
                  error=fails, attrs={"upstream_cluster": cluster, "upstream_cluster.name": cluster,
                                      "component": "proxy",
                                      "node_id": f"sidecar~10.0.1.{self.rng.integers(2, 251)}~{caller}-7d9f.default",
                                      "http.status_code": status, "response_flags": "-",
                                      "istio.canonical_service": caller})
        self.emit(self._proxy(c.service), tid, inbound_sid, outbound_sid, name, 2, outbound_start + 0.2 * MS,
                  inbound_end, error=fails,
                  attrs={"upstream_cluster": "inbound|8080||", "component": "proxy",
                         "node_id": f"sidecar~10.0.2.{self.rng.integers(2, 251)}~{c.service}-5c4b.default",
                         "http.status_code": status, "response_flags": "-", "istio.canonical_service": c.service})
        return outbound_end

    def consumer(self, c: Call, tid: str, producer_sid: str, start: float, deferred: list) -> None:
        """A message's consumer span: in a new trace linked to the producer, or the producer's child."""
        if self.s.links:
            tid, parent, links = self.trace_id(), None, [{"traceId": tid, "spanId": producer_sid}]
        else:
            parent, links = producer_sid, None
        sid = self.hexid(8)
        t = start + c.own_ms * 0.6 * MS
        for child in c.children:
            t = self.call(child, c.service, tid, sid, t, deferred)
        attrs = {"messaging.system": c.db["system"], "messaging.destination.name": c.db["dest"],
                 "messaging.operation": "process", "messaging.kafka.consumer.group": c.service}
        self.emit(c.service, tid, sid, parent, f"{c.db['dest']} process", 5, start, t + c.own_ms * 0.4 * MS,
                  error=c.error, attrs=attrs, links=links)

    def render(self, root: Call, start: int) -> dict[str, list]:
        """The spans of one request starting at ``start`` (ns), by service."""
        self.by_service = {}
        deferred = []
        self.call(root, None, self.trace_id(), None, start, deferred)
        while deferred:
            self.consumer(*deferred.pop(0), deferred)
        return self.by_service


def _child_failed(c: Call) -> bool:
    return any((child.error or child.fail_noconn or _child_failed(child)) and not child.async_
               for child in c.children)


def _code(c: Call, fails: bool) -> int | None:
    if c.proto == "http":
        return (c.code or 500) if fails else (c.code or 200)
    if c.proto == "grpc":
        return (c.code or 13) if fails else (c.code or 0)
    return None


def _kv(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int | np.integer):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _failed(span: dict) -> bool:
    """Whether a root span failed, however its style says so (for the KPI)."""
    if (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR"):
        return True
    for a in span["attributes"]:
        value = next(iter(a["value"].values()))
        if a["key"] == "otel.status_code":
            if value == "ERROR":
                return True
        elif a["key"] == "error" or (a["key"].startswith("http") and a["key"].endswith("status_code")
                                     and str(value).startswith("5")):
            return True
    return False


def write_traces(folder: Path, *, name: str, style: Style, make_trace: Callable, node: str, kind: str, note: str,
                 kpi: str | None, rate_s: float, scale: float, seed: int = 1) -> Path:
    """Write one trace bundle. ``make_trace(rng, current, faulty) -> Call`` draws a request; ``kpi``: "latency"
    (the root's p95 per minute), "errors" (the share of failed roots per minute) or None (no KPI, no symptom).

    Requests are drawn from one generator and ids, jitter and sampling from another, so that two styles of the
    same scenario render the same traffic."""
    shapes, render_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    renderer = Renderer(style, render_rng)
    folder.mkdir(parents=True)
    roots = []                               # (start ns, duration ms, failed) of each entry span
    with open(folder / "traces.jsonl", "w") as out:
        for window in (BASELINE, CURRENT):
            t, end = window[0].value, window[1].value
            while t < end:
                root = make_trace(shapes, window is CURRENT, t >= FAULT_AT.value)
                spans = renderer.render(root, t)
                for service, share in style.drop.items():
                    if service in spans and render_rng.random() < share:
                        del spans[service]
                entry = [sp for sp in spans.get(root.service, []) if sp.get("parentSpanId", "") in ("", "0" * 16)]
                if entry:
                    duration = (int(entry[0]["endTimeUnixNano"]) - int(entry[0]["startTimeUnixNano"])) / MS
                    roots.append((t, duration, _failed(entry[0])))
                resources = [{"resource": {"attributes": [_kv("service.name", service),
                                                          _kv("k8s.namespace.name", "default")]},
                              "scopeSpans": [{"scope": {"name": "io.opentelemetry.qa"}, "spans": service_spans}]}
                             for service, service_spans in spans.items()]
                out.write(json.dumps({"resourceSpans": resources}, separators=(",", ":")) + "\n")
                t += int(render_rng.exponential(rate_s / scale) * 1e9)
    symptom = _write_kpi(folder, roots, kpi) if kpi else None
    write_incident(folder, name=name, baseline=BASELINE, current=CURRENT, detected=CURRENT[1], symptom=symptom,
                   node=node, kind=kind, note=note)
    return folder


def _write_kpi(folder: Path, roots: list, kpi: str) -> dict:
    frame = pd.DataFrame(roots, columns=["t", "ms", "failed"])
    minute = pd.to_datetime(frame["t"], unit="ns", utc=True).dt.floor("1min")
    if kpi == "latency":
        name, value = "frontend_p95_latency_ms", frame.groupby(minute)["ms"].quantile(0.95)
    else:
        name, value = "checkout_error_rate", frame.groupby(minute)["failed"].mean()
    pd.DataFrame({"timestamp": value.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "name": name,
                  "value": value.to_numpy(float)}).to_csv(folder / "kpis.csv", index=False)
    return {"node": f"kpi:{name}", "direction": "up"}
