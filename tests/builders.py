"""Hand-built bundles for tests: small, valid, every family present, easy to break one field at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2026-11-19T00:00:00Z")
INCIDENT = {
    "id": "inc-test",
    "model": "fraud-scorer",
    "detected_at": "2026-11-20T14:05:00Z",
    "baseline": {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
    "current": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T14:00:00Z"},
    "symptom": {"node": "kpi:approval_rate", "direction": "down"},
}


def otlp_request(service: str, spans: list[dict]) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }]}


def span(trace: str, span_id: str, parent: str, name: str, start_ns: int, dur_ms: float, error=False) -> dict:
    return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + int(dur_ms * 1e6)),
            "status": {"code": 2 if error else 0}, "attributes": []}


def write_minimal_bundle(root: Path, *, n: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "incident.json").write_text(json.dumps(INCIDENT))
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 38 * 3600, n)), unit="s")
    pd.DataFrame({
        "timestamp": ts, "model_version": "v1", "score": rng.uniform(size=n),
        "label": rng.integers(0, 2, n).astype(float), "country": rng.choice(["US", "BR"], n),
    }).to_parquet(root / "predictions.parquet")
    edges = [0, 10, 50, 100]
    lines = [{"feature": "amount", "role": "training", "type": "numeric", "dtype": "float", "edges": edges,
              "counts": [50, 30, 20], "underflow": 0, "overflow": 0, "nulls": 0, "total": 100}]
    for h in range(3):
        start = T0 + pd.Timedelta(hours=32 + h)
        lines.append({"feature": "amount", "role": "serving", "start": start.isoformat(),
                      "end": (start + pd.Timedelta(hours=1)).isoformat(), "type": "numeric", "dtype": "float",
                      "edges": edges, "counts": [5, 3, 2], "nulls": 0, "total": 10})
    lines.append({"feature": "country", "role": "training", "type": "categorical", "dtype": "string",
                  "categories": ["US", "BR"], "counts": [60, 40], "nulls": 0, "total": 100})
    (root / "histograms.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    base_ns = int(T0.value)
    reqs = [otlp_request("api", [span("t1", "s1", "", "GET /score", base_ns, 20)]),
            otlp_request("model-server", [span("t1", "s2", "s1", "predict", base_ns + 1000, 15)])]
    (root / "traces.jsonl").write_text("\n".join(json.dumps(r) for r in reqs) + "\n")
    hours = pd.date_range(T0, periods=38, freq="h")
    pd.DataFrame({"timestamp": hours.as_unit("ms").astype("int64"), "name": "approval_rate",
                  "value": 0.9 + rng.normal(0, 0.01, len(hours)), "country": "US"}).to_csv(root / "kpis.csv",
                                                                                            index=False)
    pd.DataFrame({"timestamp": hours, "service": "api", "name": "cpu_usage",
                  "value": rng.uniform(0.2, 0.4, len(hours))}).to_parquet(root / "metrics.parquet")
    (root / "events.jsonl").write_text(json.dumps({"timestamp": "2026-11-20T07:55:00Z", "kind": "model_deploy",
                                                   "target": "model:fraud-scorer@v1"}) + "\n")
    graph = {"directed": True, "nodes": [{"id": "feature:amount", "kind": "feature"},
                                         {"id": "model:fraud-scorer@v1", "kind": "model"}],
             "edges": [{"source": "feature:amount", "target": "model:fraud-scorer@v1"}]}
    (root / "graph.json").write_text(json.dumps(graph))
    (root / "label.json").write_text(json.dumps({"causes": [{"node": "feature:amount", "kind": "data_drift"}]}))
    return root


def add_current_trace(root: Path) -> Path:
    """Append one request traced in the current window to a `write_minimal_bundle` bundle, whose own two spans
    are both in the baseline window: then every time family it has holds data in both windows."""
    start_ns = int(pd.Timestamp(INCIDENT["current"]["start"]).value) + 3_600_000_000_000
    reqs = [otlp_request("api", [span("t2", "s3", "", "GET /score", start_ns, 22)]),
            otlp_request("model-server", [span("t2", "s4", "s3", "predict", start_ns + 1000, 16)])]
    with (root / "traces.jsonl").open("a") as out:
        out.write("".join(json.dumps(r) + "\n" for r in reqs))
    return root
