"""Write a large synthetic bundle for loading benchmarks (shape matters here, not realism).

The simulator (`rca.simulate`) writes realistic bundles; this writer only needs the sizes the loading target names:
N prediction rows, F features x B hourly histograms, T traces of S spans.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2026-11-19T00:00:00Z")


def write_large_bundle(root: Path, *, predictions: int = 100_000, features: int = 50, buckets: int = 30,
                       traces: int = 5_000, spans_per_trace: int = 5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    hours = buckets
    end = T0 + pd.Timedelta(hours=hours)
    (root / "incident.json").write_text(json.dumps({
        "id": "bench", "model": "bench-model", "detected_at": end.isoformat(),
        "baseline": {"start": T0.isoformat(), "end": (T0 + pd.Timedelta(hours=hours - 6)).isoformat()},
        "current": {"start": (end - pd.Timedelta(hours=6)).isoformat(), "end": end.isoformat()}}))
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, predictions)), unit="s")
    pd.DataFrame({"timestamp": ts, "model_version": rng.choice(["v1", "v2"], predictions),
                  "score": rng.uniform(size=predictions), "label": rng.integers(0, 2, predictions).astype(float),
                  "latency_ms": rng.gamma(2, 10, predictions),
                  "country": rng.choice(["US", "BR", "DE", "IN"], predictions),
                  "device": rng.choice(["ios", "android", "web"], predictions)}).to_parquet(root / "predictions.parquet")
    edges = np.linspace(0, 100, 21).tolist()
    lines = []
    for f in range(features):
        lines.append(json.dumps({"feature": f"f{f}", "role": "training", "type": "numeric", "dtype": "float",
                                 "edges": edges, "counts": rng.integers(0, 1000, 20).tolist(), "nulls": 0}))
        for b in range(buckets):
            start = T0 + pd.Timedelta(hours=b)
            lines.append(json.dumps({"feature": f"f{f}", "role": "serving", "start": start.isoformat(),
                                     "end": (start + pd.Timedelta(hours=1)).isoformat(), "type": "numeric",
                                     "dtype": "float", "edges": edges, "counts": rng.integers(0, 100, 20).tolist(),
                                     "underflow": 0, "overflow": 0, "nulls": 1}))
    (root / "histograms.jsonl").write_text("\n".join(lines) + "\n")
    services = [f"svc-{i}" for i in range(spans_per_trace)]
    starts = T0.value + rng.integers(0, hours * 3600 * 10**9, traces)
    with open(root / "traces.jsonl", "w") as out:
        for t in range(traces):
            resource_spans = []
            for s, service in enumerate(services):
                start = int(starts[t]) + s * 1_000_000
                dur = int(rng.gamma(2, 5) * 1e6)
                resource_spans.append({
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"spans": [{
                        "traceId": f"{t:032x}", "spanId": f"{t:012x}{s:04x}",
                        "parentSpanId": f"{t:012x}{s - 1:04x}" if s else "", "name": f"op-{s}",
                        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur),
                        "status": {"code": 2 if rng.random() < 0.01 else 0}}]}]})
            out.write(json.dumps({"resourceSpans": resource_spans}) + "\n")
    return root
