"""OTLP/JSON traces (one ExportTraceServiceRequest per line, per trace) and the declared lineage graph."""

from __future__ import annotations

import numpy as np

from rca.contract.nodes import labels_node, model_node, node_id, segment_node
from rca.simulate.traffic import Sim

SERVER, INTERNAL = 2, 1


def _span(trace: str, span: str, parent: str, name: str, start_ns: int, dur_ms: float, kind: int,
          error: bool) -> dict:
    out = {"traceId": trace, "spanId": span, "parentSpanId": parent, "name": name, "kind": kind,
           "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + int(round(dur_ms * 1e6))),
           "status": {"code": 2 if error else 0}}
    if error:
        out["attributes"] = [{"key": "http.status_code", "value": {"intValue": "503"}}]
    return out


def _operation(service_name: str, role: str) -> str:
    if service_name == "feature-store":
        return "FeatureStore/GetOnlineFeatures"
    return f"GET /{service_name.split('-')[0]}" if role == "feature" else f"POST /{service_name.split('-')[0]}"


def trace_ids(sim: Sim, rows: np.ndarray) -> dict[int, str]:
    """A W3C trace id (32 hex digits) for each traced request row."""
    raw = sim.rng.integers(0, 2**63, size=(len(rows), 2), dtype=np.int64)
    return {int(r): f"{a:016x}{b:016x}" for r, (a, b) in zip(rows, raw, strict=True)}


def traces(sim: Sim, ids: dict[int, str]) -> list[dict]:
    """One ExportTraceServiceRequest per traced request: entry -> dependencies -> model server -> inference."""
    w = sim.world
    deps = [s for s in w.services if s.role in ("feature", "other")]
    entry, model = w.entry, w.model_server
    lines = []
    span_raw = sim.rng.integers(0, 2**63, size=(len(ids), len(deps) + 3), dtype=np.int64)
    for k, (row, trace) in enumerate(sorted(ids.items())):
        sids = [f"{v:016x}" for v in span_raw[k]]
        start = int(sim.ts_ms[row]) * 1_000_000
        own = float(sim.svc_latency[entry.name][row])
        cursor = start + int(own * 0.5e6)
        by_service: dict[str, list[dict]] = {}
        for j, s in enumerate(deps):
            dur = float(sim.svc_latency[s.name][row])
            by_service[s.name] = [_span(trace, sids[1 + j], sids[0], _operation(s.name, s.role), cursor, dur,
                                        SERVER, bool(sim.svc_error[s.name][row]))]
            cursor += int(dur * 1e6) + 200_000
        dur = float(sim.svc_latency[model.name][row])
        predict = _span(trace, sids[-2], sids[0], "predict", cursor, dur, SERVER, bool(sim.svc_error[model.name][row]))
        inference = _span(trace, sids[-1], sids[-2], "inference", cursor + int(dur * 0.1e6), dur * 0.85, INTERNAL,
                          False)
        by_service[model.name] = [predict, inference]
        cursor += int(dur * 1e6)
        total_ms = (cursor - start) / 1e6 + own * 0.5
        failed = any(sim.svc_error[s.name][row] for s in w.services)
        root = _span(trace, sids[0], "", "POST /score", start, total_ms, SERVER, failed)
        by_service = {entry.name: [root], **by_service}
        lines.append({"resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]},
             "scopeSpans": [{"scope": {"name": "rca-sim"}, "spans": spans}]}
            for name, spans in by_service.items()]})
    return lines


def graph(sim: Sim, kpi_names: tuple[str, ...], *, with_labels: bool) -> dict:
    """Declared lineage, networkx node-link JSON: an edge means a fault in its source can show in its target."""
    w = sim.world
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []

    def edge(a: str, b: str) -> None:
        for n in (a, b):
            nodes.setdefault(n, n.split(":", 1)[0])
        edges.append((a, b))

    models = [model_node(w.model, v) for v in sim.versions]
    for pipeline, sources in w.pipelines.items():
        for source in sources:
            edge(node_id("source", source), node_id("pipeline", pipeline))
    for f in w.features:
        fid = node_id("feature", f.name)
        edge(node_id("pipeline", f.pipeline), fid)
        if f.service is not None:
            edge(node_id("service", f.service), fid)
        for m in models:
            edge(fid, m)
    entry = node_id("service", w.entry.name)
    for s in w.services:
        if s.role in ("feature", "other", "model"):
            edge(node_id("service", s.name), entry)
    for m in models:
        edge(node_id("service", w.model_server.name), m)
    for name in kpi_names:
        kpi = node_id("kpi", name)
        if name in ("requests", "p95_latency_ms"):
            edge(entry, kpi)
        else:
            for m in models:
                edge(m, kpi)
        for level in w.levels:
            edge(segment_node(w.dimension, level), kpi)
        if name == "model_precision" and with_labels:
            edge(labels_node(w.model), kpi)
    return {"directed": True, "multigraph": False, "graph": {"model": w.model},
            "nodes": [{"id": n, "kind": k} for n, k in nodes.items()],
            "edges": [{"source": a, "target": b} for a, b in edges]}
