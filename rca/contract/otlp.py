"""OTLP/JSON traces (``traces.jsonl``) to the span table of `rca.contract.bundle`.

Two readers give the same table. `parse_otlp` walks parsed JSON objects in Python: it takes any shape the
contract allows and names the line and field of the first problem. `read_otlp_columnar` reads the file's
bytes with pyarrow's JSON reader and flattens the nested lists column by column, about ten times faster on a
large file; it handles the common shape only (string ids, integer or string times and kinds, one
``service.name`` string per resource) and returns ``None`` for anything else, a bad span included, so the
loader falls back to `parse_otlp` and its messages.

Of a span's attributes both read only what says whom a CLIENT or PRODUCER span calls (`PEER_KEYS`; for a database
called by its IP, `DB_SYSTEM_KEYS` and `DB_NAME_KEYS`), whether a span with no status failed (`HTTP_STATUS_KEYS`,
`GRPC_STATUS_KEY`, the tags `ERROR_TAG_KEY` and `STATUS_TAG_KEY`) and the kind of a span whose kind is unspecified
(`SPAN_KIND_KEY`), and the workload an Istio sidecar's span proxies (`MESH_SERVICE_KEY`), each through one scalar
rule (`_peer_name`, `_failure`, `_tag_kind`) that the columnar reader
applies to the few distinct values. Both end in `_span_table`, which also names each peer once, whatever address
it was called by (`_peer_names`), and gives the calls to a peer that exported no spans to that peer
(`_attribute_to_uninstrumented_peers`).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as paj

from rca.contract import bundle as B
from rca.contract.hosts import host_name, is_ip, service_of, spelled_services
from rca.errors import BundleError, BundleErrors, shown

ERROR_CODES = (2, "2", "STATUS_CODE_ERROR")
"""``status.code`` values of a failed span (OTLP/JSON writes enums as integers or as their names)."""
UNSET_CODES = (0, "0", "STATUS_CODE_UNSET")
"""``status.code`` values of a span whose instrumentation set no status (an absent or null code reads as 0): its
attributes may still say it failed (`_failure`). An explicit OK (1) is not an error, whatever they say."""
SPAN_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
              "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
CALLER_KINDS = (3, 4)
"""CLIENT and PRODUCER: the span kinds that record a call to another service (its `peer`)."""
PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "upstream_cluster", "upstream_cluster.name")
"""Attributes naming the service a CLIENT or PRODUCER span calls, the first one given wins: the name the caller
gives it (``peer.service``), else the host it called (current and older semantic conventions), else the Envoy
cluster an Istio sidecar's span sent it to (``outbound|8080||cart.shop.svc.cluster.local``: its host,
`rca.contract.hosts.host_name`)."""
DB_SYSTEM_KEYS = ("db.system", "db.system.name")
DB_NAME_KEYS = ("db.name", "db.namespace")
"""Attributes of a database call naming the database's kind and the database (older and current semantic
conventions, the first one given wins): the peer of a call addressed to an IP literal (`_peer_names`)."""
HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")
"""A span's HTTP status (current and older semantic conventions): 500 and above is the server's failure."""
GRPC_STATUS_KEY = "rpc.grpc.status_code"
GRPC_SERVER_FAILURES = frozenset({2, 4, 12, 13, 14, 15})
"""gRPC status codes that are the server's failure (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
DATA_LOSS: OpenTelemetry's server-span errors). Client errors (INVALID_ARGUMENT, NOT_FOUND...) are the caller's."""
ERROR_TAG_KEY = "error"
"""The OpenTracing, Jaeger and Zipkin tag of a failed span: ``true`` (a bool or its text), or in Zipkin the error
message itself. Spans converted to OTLP from those formats may carry it and no status."""
STATUS_TAG_KEY = "otel.status_code"
"""The attribute OpenTelemetry's Jaeger and Zipkin exporters write the status to (``OK``, ``ERROR``): a span read
back from them carries its status there only."""
MESH_SERVICE_KEY = "istio.canonical_service"
"""The attribute an Istio sidecar's spans name the workload they proxy by: those spans are that service's, not a
node of their own (the proxy's ``service.name`` is ``<app>.<namespace>`` or ``istio-proxy``, one for every app)."""
SPAN_KIND_KEY = "span.kind"
"""The tag OpenTracing, Jaeger and Zipkin converters write the span kind to, when the span's ``kind`` is unset."""
SPAN_KIND_TAGS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


# -------------------------------------------------------------------------------------- the Python reader
def _attr_value(value: Any) -> Any:
    if not isinstance(value, dict):  # an AnyValue is an object; anything else says nothing
        return None
    for key in _SCALAR_VALUES:
        if value.get(key) is not None:  # a null says nothing (the columnar reader cannot tell it from absent)
            return _int_or_raw(value[key]) if key == "intValue" else value[key]
    if isinstance(value.get("arrayValue"), dict):
        values = value["arrayValue"].get("values", [])
        return [_attr_value(v) for v in values] if isinstance(values, list) else None
    return None


_SCALAR_VALUES = ("stringValue", "intValue", "doubleValue", "boolValue")


def _int_or_raw(value: Any) -> Any:
    """An intValue (a JSON number or, as int64 in OTLP/JSON, a string of digits) as an int; kept as sent when it
    is neither: a stray attribute must not stop the bundle."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return value


def _attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {a["key"]: _attr_value(a.get("value")) for a in items
            if isinstance(a, dict) and isinstance(a.get("key"), str)}


def _tag_kind(value: Any) -> int:
    """A `SPAN_KIND_KEY` attribute's value as a kind (`SPAN_KIND_TAGS`, any case); 0 (unspecified) for anything
    else. It is read only for a span whose own ``kind`` is unspecified."""
    return SPAN_KIND_TAGS.get(value.strip().lower(), 0) if isinstance(value, str) else 0


def _kind(kind: Any) -> int:
    if isinstance(kind, int):
        return kind
    text = str(kind)
    if text in SPAN_KINDS:
        return SPAN_KINDS[text]
    return int(text) if text.isascii() and text.isdigit() else 0  # anything else: unspecified


def _peer_name(value: Any) -> str:
    """A `PEER_KEYS`, `DB_SYSTEM_KEYS`, `DB_NAME_KEYS` or `MESH_SERVICE_KEY` attribute's value as text: a non-empty
    string, else '' (absent: the next key is read, or the span's own service kept)."""
    return value if isinstance(value, str) else ""


def _code(value: Any) -> int | None:
    """A status code attribute as an int: an integer (or a float that is one), or a string of digits, as
    instrumentations and converters (Zipkin's string tags) write it; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() else None
    return value if isinstance(value, int) else None


def _failure(key: str, value: Any) -> bool:
    """Whether attribute ``key`` (one of `_FAILURE_KEYS`) with ``value`` says the span failed: an HTTP status of 500
    or more, a gRPC code of `GRPC_SERVER_FAILURES`, an `ERROR_TAG_KEY` that is true or a message (a non-empty text
    other than ``false``, any case), a `STATUS_TAG_KEY` of ``ERROR`` (any case)."""
    if key == ERROR_TAG_KEY:
        return value is True or isinstance(value, str) and value.strip().lower() not in ("", "false")
    if key == STATUS_TAG_KEY:
        return isinstance(value, str) and value.strip().upper() == "ERROR"
    code = _code(value)
    if code is None:
        return False
    return code in GRPC_SERVER_FAILURES if key == GRPC_STATUS_KEY else code >= 500


_FAILURE_KEYS = (*HTTP_STATUS_KEYS, GRPC_STATUS_KEY, ERROR_TAG_KEY, STATUS_TAG_KEY)


def _error(code: Any, failed: bool) -> bool:
    """Whether a span with ``status.code`` ``code`` failed: its status says so, or it set none (`UNSET_CODES`) and
    its attributes say it failed (``failed``, `_failure`)."""
    return code in ERROR_CODES or (failed and code in UNSET_CODES)


_NANOS_MAX = 2**63 - 1
"""The latest span time a nanosecond column holds (2262-04-11)."""


def _object(value: Any, name: str, lineno: int, field: str) -> dict:
    if not isinstance(value, dict):
        raise BundleError(f"expected an object, got {type(value).__name__}", file=name, row=lineno, field=field)
    return value


def _array(value: Any, name: str, lineno: int, field: str) -> list:
    """A list the request nests (absent or null: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BundleError(f"expected an array, got {type(value).__name__}", file=name, row=lineno, field=field)
    return value


def _not_nested(value: Any, what: str, name: str, lineno: int, field: str) -> None:
    """A service name, span id or span name must be one value (the span table groups and joins on them), not an
    array or an object."""
    if isinstance(value, (list, dict)):
        shape = "an array" if isinstance(value, list) else "an object"
        raise BundleError(f"{what} is {shape}; expected a string", file=name, row=lineno, field=field)


def _nanos(span: dict, field: str) -> int:
    """A span time: an integer (or a string of one, as OTLP/JSON writes uint64) from 0 to `_NANOS_MAX`.

    Raises KeyError when absent and ValueError (with the field as its first argument) otherwise."""
    value = span[field]
    try:
        nanos = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(field, f"got {shown(value)}") from None
    if isinstance(value, bool) or not 0 <= nanos <= _NANOS_MAX:
        raise ValueError(field, f"got {shown(value)}")
    return nanos


def parse_otlp(lines: list[tuple[int, Any]], name: str = "traces.jsonl", *, collect: bool = False) -> pd.DataFrame:
    """OTLP/JSON ExportTraceServiceRequest objects (one per line) to one span table (see `rca.contract.bundle`).

    Raises
    ------
    BundleError
        For a line that is not an ExportTraceServiceRequest, a span without ids or times, or end < start: the
        first one, or with ``collect`` (`rca validate`) `BundleErrors`, one for each bad line (its first problem).
    """
    columns: dict[str, list] = {c: [] for c in ("service", "operation", "trace_id", "span_id", "parent_span_id",
                                                  "start_ns", "end_ns", "error", "kind", "peer", "db_system",
                                                  "db_name")}
    errors: list[BundleError] = []
    for lineno, request in lines:
        try:
            spans = _request_spans(request, name, lineno)
        except BundleError as exc:
            if not collect:
                raise
            errors.append(exc)
            continue
        for row in spans:
            for column, value in zip(columns.values(), row, strict=True):
                column.append(value)
    if errors:
        raise BundleErrors(errors)
    start_ns = np.asarray(columns.pop("start_ns"), dtype="int64")
    end_ns = np.asarray(columns.pop("end_ns"), dtype="int64")
    return _span_table(columns, start_ns, end_ns)


def _request_spans(request: Any, name: str, lineno: int) -> list[tuple]:
    """The spans of one line, as rows of `parse_otlp`'s columns; `BundleError` for the line's first problem."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
        raise BundleError("expected an ExportTraceServiceRequest with 'resourceSpans'", file=name, row=lineno,
                          field="resourceSpans")
    rows = []
    for i, rs in enumerate(request["resourceSpans"]):
        where = f"resourceSpans[{i}]"
        rs = _object(rs, name, lineno, where)
        resource = _object(rs.get("resource") or {}, name, lineno, f"{where}.resource")
        service = _attributes(resource.get("attributes")).get("service.name")
        if not service:
            raise BundleError("resource without 'service.name'", file=name, row=lineno,
                              field="resource.attributes")
        _not_nested(service, "'service.name'", name, lineno, "resource.attributes")
        scope_key = "scopeSpans" if rs.get("scopeSpans") else "instrumentationLibrarySpans"
        for j, ss in enumerate(_array(rs.get(scope_key), name, lineno, f"{where}.{scope_key}")):
            ss = _object(ss, name, lineno, f"{where}.{scope_key}[{j}]")
            for k, span in enumerate(_array(ss.get("spans"), name, lineno, f"{where}.{scope_key}[{j}].spans")):
                span = _object(span, name, lineno, f"{where}.{scope_key}[{j}].spans[{k}]")
                try:
                    start, end = _nanos(span, "startTimeUnixNano"), _nanos(span, "endTimeUnixNano")
                    trace_id, span_id = span["traceId"], span["spanId"]
                except KeyError as exc:
                    raise BundleError("span missing a required field", file=name, row=lineno,
                                      field=str(exc.args[0])) from exc
                except ValueError as exc:
                    raise BundleError(f"span times must be integer nanoseconds from 0 to {_NANOS_MAX}; "
                                      f"{exc.args[1]}", file=name, row=lineno, field=exc.args[0]) from exc
                for field in ("traceId", "spanId", "parentSpanId", "name"):
                    _not_nested(span.get(field), f"span {field}", name, lineno, field)
                if end < start:
                    raise BundleError(f"span {shown(span_id)} ends before it starts", file=name, row=lineno,
                                      field="endTimeUnixNano")
                status = span.get("status") or {}
                if not isinstance(status, dict):
                    raise BundleError(f"span {shown(span_id)}: 'status' is {type(status).__name__}; expected an "
                                      "object with 'code'", file=name, row=lineno, field="status")
                attributes = _attributes(span.get("attributes"))
                kind = _kind(span.get("kind", 0)) or _tag_kind(attributes.get(SPAN_KIND_KEY))
                code = status.get("code")
                failed = any(_failure(key, attributes.get(key)) for key in _FAILURE_KEYS)
                peer, system, db = (next(filter(None, (_peer_name(attributes.get(key)) for key in keys)), "")
                                    for keys in (PEER_KEYS, DB_SYSTEM_KEYS, DB_NAME_KEYS))
                rows.append((_peer_name(attributes.get(MESH_SERVICE_KEY)) or service, span.get("name", ""),
                             trace_id, span_id, span.get("parentSpanId") or "",
                             start, end, _error(0 if code is None else code, failed), kind,
                             peer if kind in CALLER_KINDS else "", system, db))
    return rows


def _span_table(columns: dict[str, Any], start_ns: np.ndarray, end_ns: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    _split_shared_spans(frame)
    _unparent_orphans(frame)
    _attribute_to_uninstrumented_peers(frame)
    frame["start"] = pd.to_datetime(start_ns, unit="ns", utc=True)
    frame["duration_ms"] = (end_ns - start_ns) / 1e6
    for column in ("service", "operation", "peer"):
        frame[column] = frame[column].astype("category")
    frame = frame[list(B.SPAN_COLUMNS)]
    return frame.sort_values("start", kind="stable", ignore_index=True)


def _attribute_to_uninstrumented_peers(frame: pd.DataFrame) -> None:
    """Give each call to a service that exported no spans of its own, and each failed call that got no answer,
    to the service called: a span with a ``peer`` (a CLIENT or PRODUCER span, `PEER_KEYS`) that no span of the
    bundle has as its service, and that has no child span, is the only view of that call (a database, a cache, a
    third-party API). Its ``service`` becomes the
    peer and its ``peer`` the caller that recorded it, so the time and errors of the call count to the peer, and
    the call graph gets the edge between the two, as if the peer had exported a span for it. The peer is named
    as one name per service, whatever address the caller dialled (`_peer_names`).

    A childless call to a service that has spans of its own stays the caller's when it succeeded (the callee's
    span for it was sampled out or its context lost: it is not made up from the caller's), and is the callee's when
    it failed: the request never reached the callee, or reached it and got no answer (connection refused, no
    healthy upstream, a reset, a timeout: gRPC's UNAVAILABLE, Envoy's 503 with ``UF``). Before, such a failure
    was the caller's own (it has no failing child), and the caller of an unreachable service was named for it.

    A call with a child (the peer's own server span, or the caller's retries under it) is left to the caller: the
    children say what happened below it."""
    calls = (frame["peer"] != "").to_numpy()
    if not calls.any():
        return
    frame.loc[calls, "peer"] = _peer_names(frame.loc[calls, ["peer", "db_system", "db_name"]],
                                           frame["service"].unique())
    calls = calls & (~frame["peer"].isin(frame["service"].unique()).to_numpy() | frame["error"].to_numpy(dtype=bool))
    if not calls.any():
        return
    has_parent = (frame["parent_span_id"] != "").to_numpy()
    parents = pd.MultiIndex.from_arrays([frame["trace_id"][has_parent], frame["parent_span_id"][has_parent]])
    ends = pd.MultiIndex.from_arrays([frame["trace_id"][calls], frame["span_id"][calls]])
    calls[calls] = ~ends.isin(parents)
    if calls.any():
        frame.loc[calls, ["service", "peer"]] = frame.loc[calls, ["peer", "service"]].to_numpy()


def _peer_names(calls: pd.DataFrame, services) -> np.ndarray:
    """The peer of each call (``peer``, ``db_system``, ``db_name`` columns) as one name per service, whatever
    address the caller dialled (`rca.contract.hosts`): a service that has spans when the address spells it (a port,
    a Kubernetes service domain, another case: ``Payments:8080``, ``payments.prod.svc.cluster.local``); else the
    address without port or service domain (``redis-cart:6379`` and ``redis-cart.default.svc.cluster.local`` are
    ``redis-cart``); and for an IP literal, the database's kind and name when the span gives them,
    ``<db.system>-<db.name>`` or ``<db.system>`` (``mongodb-geo``), so the replicas or pods behind one database are
    one node. The hyphen keeps the name one a Kubernetes service may bear (the metrics' ``service``); an IP without
    them stays as written. Applied to the few distinct triples."""
    spelled = spelled_services(services)

    def name(address: str, system: str, db: str) -> str:
        host = host_name(address)
        if is_ip(host) and system:
            host = f"{system}-{db}" if db else system
        return service_of(host, spelled) or host

    keys = pd.MultiIndex.from_frame(calls.astype(str))
    distinct = keys.unique()
    names = np.array([name(*triple) for triple in distinct], dtype=object)
    return names[distinct.get_indexer(keys)]


SHARED_SUFFIX = "~server"
"""Appended to the span id of the server half of a span Zipkin's B3 shares between client and server."""


def _split_shared_spans(frame: pd.DataFrame) -> None:
    """Tell apart the two halves of a span Zipkin's B3 propagation shares: the client and the server of one call
    record the same span id (and the client's parent), so the caller's span looked like the parent of both, its
    self-time spent twice, and a failing callee's error the caller's own. The SERVER half gets its own id (the
    shared one with `SHARED_SUFFIX`) under the CLIENT half, and the spans of its service under the shared id
    move under it: the call reads as OpenTelemetry writes it, the client's span the parent of the server's."""
    if not frame["span_id"].duplicated().any():   # ids are random: the usual case, told without a MultiIndex
        return
    ids = pd.MultiIndex.from_arrays([frame["trace_id"], frame["span_id"]])
    twice = ids.duplicated(keep=False)
    if not twice.any():
        return
    kind = frame["kind"].to_numpy()
    shared = ids[twice & (kind == 3)].intersection(ids[twice & (kind == 2)])   # a CLIENT and a SERVER half
    if shared.empty:
        return
    server = ids.isin(shared) & (kind == 2)
    owner = pd.Series(frame.loc[server, "service"].to_numpy(), index=ids[server])
    owner = owner[~owner.index.duplicated()]
    under = pd.MultiIndex.from_arrays([frame["trace_id"], frame["parent_span_id"]])
    moved = (owner.reindex(under).to_numpy() == frame["service"].to_numpy()) & ~server
    frame.loc[moved, "parent_span_id"] = frame.loc[moved, "parent_span_id"] + SHARED_SUFFIX
    frame.loc[server, "parent_span_id"] = frame.loc[server, "span_id"].to_numpy()
    frame.loc[server, "span_id"] = frame.loc[server, "span_id"] + SHARED_SUFFIX


def _unparent_orphans(frame: pd.DataFrame) -> None:
    """Make a root (``parent_span_id`` '') of each span whose parent is not a span of its trace in the bundle: the
    entry span of a request that came through a gateway or browser that exported nothing, or whose exporter writes
    an all-zero id for "no parent". The roots are the requests as the bundle saw them."""
    has_parent = (frame["parent_span_id"] != "").to_numpy()
    if not has_parent.any():
        return
    spans = pd.MultiIndex.from_arrays([frame["trace_id"], frame["span_id"]])
    parents = pd.MultiIndex.from_arrays([frame["trace_id"][has_parent], frame["parent_span_id"][has_parent]])
    orphan = np.zeros(len(frame), dtype=bool)
    orphan[has_parent] = ~parents.isin(spans)
    if orphan.any():
        frame.loc[orphan, "parent_span_id"] = ""


# ------------------------------------------------------------------------------------- the columnar reader
class _Unusual(Exception):
    """A shape the columnar reader leaves to `parse_otlp`."""


def read_otlp_columnar(data: bytes) -> pd.DataFrame | None:
    """The span table of a ``traces.jsonl`` file's bytes, or ``None`` when the file is not of the common
    shape (or has a problem): the caller then parses it with `parse_otlp`, which names the problem."""
    if not data.strip() or data.startswith(b"\xef\xbb\xbf"):
        return None
    chars = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(chars == ord("\n"))
    if not _lines_open_objects(chars, newlines):
        # pyarrow's JSON reader ends the process (SIGSEGV, apache/arrow#47409) on a block that starts with a
        # top-level null, and any line may start a block: a line that is not an object is left to parse_otlp
        return None
    try:
        options = paj.ReadOptions(block_size=_block_size(data, newlines))
        table = paj.read_json(io.BytesIO(data), read_options=options)
        return _columnar(table)
    except (_Unusual, pa.ArrowException):
        return None


def _lines_open_objects(chars: np.ndarray, newlines: np.ndarray) -> bool:
    """Whether every line of the file's bytes ``chars`` (``newlines`` at the given offsets) starts with ``{``,
    blank lines aside. (A line indented, or a blank line ending in CR, says no: parse_otlp reads those.)"""
    starts = np.concatenate(([0], newlines + 1))
    first = chars[starts[starts < len(chars)]]
    return bool(np.isin(first, (ord("{"), ord("\n"))).all())


def _block_size(data: bytes, newlines: np.ndarray) -> int:
    """A block size that holds the longest line (pyarrow fails on a line straddling two blocks)."""
    longest = int(np.diff(newlines, prepend=-1, append=len(data)).max())
    return max(1 << 20, 2 * longest + 2)


def _child(array: pa.Array, field: str, *kinds) -> pa.Array | None:
    """Field ``field`` of a struct array (None when no row has it); `_Unusual` when the array is not a struct
    or the field is of none of ``kinds`` (predicates of `pyarrow.types`)."""
    if not pa.types.is_struct(array.type):
        raise _Unusual(field)
    if array.type.get_field_index(field) < 0:
        return None
    child = pc.struct_field(array, field)
    if kinds and not any(kind(child.type) for kind in kinds):
        raise _Unusual(field)
    return child


def _flatten(lists: pa.Array | None) -> tuple[pa.Array, np.ndarray]:
    """Items of a list array and the row each came from (null lists have no items)."""
    if lists is None or not pa.types.is_list(lists.type):
        raise _Unusual("list")
    items = pc.list_flatten(lists)
    if items.null_count:
        raise _Unusual("null item")
    return items, pc.list_parent_indices(lists).to_numpy()


def _columnar(table: pa.Table) -> pd.DataFrame:
    if table.column_names.count("resourceSpans") != 1:
        raise _Unusual("resourceSpans")
    lines = table.column("resourceSpans").combine_chunks()
    if lines.null_count:
        raise _Unusual("resourceSpans")
    resources, _ = _flatten(lines)
    if _child(resources, "instrumentationLibrarySpans") is not None:
        raise _Unusual("instrumentationLibrarySpans")
    service = _services(resources)
    scopes, scope_resource = _flatten(_child(resources, "scopeSpans", pa.types.is_list))
    spans, span_scope = _flatten(_child(scopes, "spans", pa.types.is_list))
    n = len(spans)
    if n == 0:
        raise _Unusual("no spans")

    def strings(field: str, *, required: bool) -> pa.Array:
        values = _child(spans, field, pa.types.is_string)
        if values is None:
            if required:
                raise _Unusual(field)
            return pa.array([""] * n, pa.string())
        if required and values.null_count:
            raise _Unusual(field)
        return values

    start_ns, end_ns = _nanoseconds(spans, "startTimeUnixNano"), _nanoseconds(spans, "endTimeUnixNano")
    if np.any(end_ns < start_ns) or np.any(start_ns < 0):
        raise _Unusual("end before start, or before 1970")
    name = strings("name", required=False)
    if name.null_count:  # null (kept as None by parse_otlp) and absent ("") look alike here
        raise _Unusual("name")
    columns = {"service": service[scope_resource[span_scope]],
               "operation": _str_series(name),
               "trace_id": _str_series(strings("traceId", required=True)),
               "span_id": _str_series(strings("spanId", required=True)),
               "parent_span_id": _str_series(pc.fill_null(strings("parentSpanId", required=False), ""))}
    attribute = _attribute_reader(spans)
    mesh_service = attribute(MESH_SERVICE_KEY, _peer_name, object)
    if (mesh_service != "").any():
        columns["service"] = np.where(mesh_service != "", mesh_service, columns["service"])
    kind = _by_value(_child(spans, "kind", pa.types.is_int64, pa.types.is_string), _kind, np.int64, n=n)
    columns["kind"] = np.where(kind == 0, attribute(SPAN_KIND_KEY, _tag_kind, np.int64), kind)
    failed = np.zeros(n, dtype=bool)
    for key in _FAILURE_KEYS:
        failed |= attribute(key, lambda value, key=key: _failure(key, value), bool)
    codes = _status_codes(spans)
    columns["error"] = (_by_value(codes, lambda code: code in ERROR_CODES, bool, n=n)
                        | (failed & _by_value(codes, lambda code: code in UNSET_CODES, bool, n=n)))
    text = {}
    for column, keys in (("peer", PEER_KEYS), ("db_system", DB_SYSTEM_KEYS), ("db_name", DB_NAME_KEYS)):
        text[column] = np.full(n, "", dtype=object)
        for key in reversed(keys):  # the first key given wins
            name = attribute(key, _peer_name, object)
            text[column] = np.where(name != "", name, text[column])
    columns["peer"] = pd.Series(np.where(np.isin(columns["kind"], CALLER_KINDS), text["peer"], ""), dtype=object)
    columns["db_system"], columns["db_name"] = text["db_system"], text["db_name"]
    return _span_table(columns, start_ns, end_ns)


def _attribute_reader(spans: pa.Array):
    """A function ``(key, rule, dtype) -> array``: for each span, ``rule`` (a scalar rule of `parse_otlp`) of the
    value of its attribute ``key``, as `_attributes` reads it (the last item of that key, its first non-null
    scalar value), ``rule(None)`` when it has none. `_Unusual` for attributes of a shape parse_otlp reads apart."""
    n = len(spans)
    attributes = _child(spans, "attributes")
    if attributes is None or pa.types.is_null(attributes.type) or (
            pa.types.is_list(attributes.type) and pa.types.is_null(attributes.type.value_type)):
        return lambda key, rule, dtype: np.full(n, rule(None), dtype=dtype)  # no span has an attribute
    items, owner = _flatten(attributes)
    keys = _child(items, "key", pa.types.is_string)
    value = _child(items, "value")
    kinds = {"stringValue": (pa.types.is_string,), "intValue": (pa.types.is_int64, pa.types.is_string),
             "doubleValue": (pa.types.is_floating, pa.types.is_int64, pa.types.is_string),
             "boolValue": (pa.types.is_boolean,)}
    fields = [] if value is None else [(_int_or_raw if f == "intValue" else None, child) for f in _SCALAR_VALUES
                                       if (child := _child(value, f, *kinds[f])) is not None]

    present = set() if keys is None else set(pc.unique(keys).drop_null().to_pylist())

    def read(key: str, rule, dtype) -> np.ndarray:
        out = np.full(n, rule(None), dtype=dtype)
        if key not in present:   # most keys read are absent from a given exporter's spans: no pass over the items
            return out
        index = np.flatnonzero(pc.fill_null(pc.equal(keys, key), False).to_numpy(zero_copy_only=False))
        if not len(index):
            return out
        owners = owner[index]
        last = np.append(owners[1:] != owners[:-1], True)  # a span's last item of the key wins, as in a dict
        index, owners = index[last], owners[last]
        left = np.ones(len(index), dtype=bool)  # no non-null value found yet
        for convert, child in fields:
            values = child.take(pa.array(index))
            found = left & values.is_valid().to_numpy(zero_copy_only=False)
            if found.any():
                picked = values.filter(pa.array(found))
                out[owners[found]] = _by_value(picked, lambda v: rule(convert(v) if convert else v), dtype,
                                               n=len(picked))
            left &= ~found
        return out
    return read


def _services(resources: pa.Array) -> np.ndarray:
    """``service.name`` of each resource: exactly one, a non-empty string, else `_Unusual`."""
    resource = _child(resources, "resource")
    if resource is None or resource.null_count:
        raise _Unusual("resource")
    attributes, owner = _flatten(_child(resource, "attributes", pa.types.is_list))
    keys = _child(attributes, "key", pa.types.is_string)
    value = _child(attributes, "value")
    if keys is None or value is None:
        raise _Unusual("attributes")
    is_service = pc.fill_null(pc.equal(keys, "service.name"), False).to_numpy(zero_copy_only=False)
    if np.bincount(owner[is_service], minlength=len(resources)).tolist() != [1] * len(resources):
        raise _Unusual("service.name")
    text = _child(value.filter(pa.array(is_service)), "stringValue", pa.types.is_string)
    if text is None or text.null_count or pc.any(pc.equal(text, "")).as_py():
        raise _Unusual("service.name")
    out = np.empty(len(resources), dtype=object)
    out[owner[is_service]] = text.to_numpy(zero_copy_only=False)
    return out


def _nanoseconds(spans: pa.Array, field: str) -> np.ndarray:
    values = _child(spans, field, pa.types.is_int64, pa.types.is_string)
    if values is None or values.null_count:
        raise _Unusual(field)
    return pc.cast(values, pa.int64()).to_numpy()  # a string that is not an integer raises ArrowInvalid


def _status_codes(spans: pa.Array) -> pa.Array | None:
    status = _child(spans, "status")
    if status is None:
        return None
    return _child(status, "code", pa.types.is_int64, pa.types.is_string)


def _by_value(values: pa.Array | None, rule, dtype, *, n: int, default: Any = 0) -> np.ndarray:
    """``rule`` applied to each value (null as ``default``) through the few distinct values, so the columnar
    reader follows `parse_otlp`'s scalar rules exactly."""
    if values is None:
        return np.full(n, rule(default), dtype=dtype)
    if values.null_count:
        values = pc.fill_null(values, default if pa.types.is_integer(values.type) else str(default))
    distinct = pc.unique(values)
    mapped = np.array([rule(v) for v in distinct.to_pylist()], dtype=dtype)
    return mapped[pc.index_in(values, value_set=distinct).to_numpy()]


def _str_series(values: pa.Array) -> pd.Series:
    return pd.Series(values.to_numpy(zero_copy_only=False))  # the dtype parse_otlp gets from a list of str
