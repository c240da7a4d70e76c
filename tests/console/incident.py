"""A small but realistic incident for the console tests, as the API's inline JSON body.

A pipeline deploy at 07:55 doubles ``amount`` (unit change) from 08:00; approval_rate drops; AUC falls; every
family is present (traces over both windows, metrics, KPIs, events, graph, labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2026-11-19T00:00:00Z")
ONSET = pd.Timestamp("2026-11-20T08:00:00Z")
EDGES = [0, 10, 50, 100, 500, 1000]
INCIDENT = {"id": "inc-amount-units", "model": "fraud-scorer", "detected_at": "2026-11-20T14:05:00Z",
            "baseline": {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
            "current": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T14:00:00Z"},
            "symptom": {"node": "kpi:approval_rate", "direction": "down"}}


def _iso(t: pd.Timestamp) -> str:
    return t.isoformat().replace("+00:00", "Z")


def incident_body(*, incident_id: str = "inc-amount-units", seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    hours = pd.date_range(T0, periods=38, freq="h")
    after = hours >= ONSET
    histograms = [{"feature": "amount", "role": "training", "type": "numeric", "dtype": "float", "edges": EDGES,
                   "counts": [300, 400, 200, 90, 10], "nulls": 2, "total": 1002}]
    for h, late in zip(hours, after):
        base = np.array([30, 40, 20, 9, 1]) if not late else np.array([5, 25, 35, 25, 6])
        counts = rng.poisson(base).tolist()
        histograms.append({"feature": "amount", "role": "serving", "start": _iso(h),
                           "end": _iso(h + pd.Timedelta(hours=1)), "type": "numeric", "dtype": "float",
                           "edges": EDGES, "counts": counts, "overflow": int(late) * int(rng.poisson(4)),
                           "nulls": 0, "total": sum(counts)})
        histograms.append({"feature": "country", "role": "serving", "start": _iso(h),
                           "end": _iso(h + pd.Timedelta(hours=1)), "type": "categorical", "dtype": "string",
                           "categories": ["US", "BR", "DE"], "counts": rng.poisson([60, 30, 10]).tolist(),
                           "nulls": 0})
    histograms.append({"feature": "country", "role": "training", "type": "categorical", "dtype": "string",
                       "categories": ["US", "BR", "DE"], "counts": [600, 300, 100], "nulls": 0, "total": 1000})

    n = 60 * len(hours)
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 38 * 3600, n)), unit="s")
    label = rng.integers(0, 2, n)
    noise = np.where(ts >= ONSET, 1.6, 0.5)
    score = 1 / (1 + np.exp(-(2 * label - 1 + rng.normal(0, 1, n) * noise)))
    predictions = [{"timestamp": _iso(t), "model_version": "v1", "score": float(s), "label": float(y),
                    "country": str(c)} for t, s, y, c in zip(ts, score, label,
                                                             rng.choice(["US", "BR", "DE"], n, p=[.6, .3, .1]))]

    kpis = [{"timestamp": _iso(h), "name": "approval_rate", "country": "US",
             "value": float((0.8 if late else 0.9) + rng.normal(0, 0.006))} for h, late in zip(hours, after)]
    metrics = [{"timestamp": _iso(h), "service": svc, "name": "cpu_usage", "value": float(rng.uniform(.2, .4))}
               for h in hours for svc in ("api", "feature-store", "model-server")]

    spans_by_service: dict[str, list] = {"api": [], "feature-store": [], "model-server": []}
    for i, h in enumerate(hours):
        for j in range(4):
            start = int((h + pd.Timedelta(minutes=10 * j)).value)
            trace = f"{i:04d}{j:04d}".ljust(32, "0")
            fs, ms = rng.gamma(4, 3), rng.gamma(5, 2)
            total = fs + ms + rng.gamma(2, 1)
            for svc, sid, parent, name, off, dur in (("api", f"a{i:03d}{j}", "", "POST /score", 0, total),
                                                     ("feature-store", f"f{i:03d}{j}", f"a{i:03d}{j}", "get", 1, fs),
                                                     ("model-server", f"m{i:03d}{j}", f"a{i:03d}{j}", "predict",
                                                      2, ms)):
                spans_by_service[svc].append({
                    "traceId": trace, "spanId": sid.ljust(16, "0"), "parentSpanId": parent.ljust(16, "0") if parent
                    else "", "name": name, "startTimeUnixNano": str(start + off * 10**6),
                    "endTimeUnixNano": str(start + off * 10**6 + int(dur * 1e6)), "status": {"code": 0}})
    traces = [{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                               "value": {"stringValue": svc}}]},
                                  "scopeSpans": [{"scope": {"name": "console-test"}, "spans": spans}]}]}
              for svc, spans in spans_by_service.items()]
    events = [{"timestamp": "2026-11-20T07:55:00Z", "kind": "pipeline_deploy", "target": "pipeline:features",
               "description": "features v2.3: amount now in cents"}]
    graph = {"directed": True, "nodes": [{"id": "pipeline:features", "kind": "pipeline"},
                                         {"id": "feature:amount", "kind": "feature"},
                                         {"id": "model:fraud-scorer@v1", "kind": "model"},
                                         {"id": "kpi:approval_rate", "kind": "kpi"}],
             "edges": [{"source": "pipeline:features", "target": "feature:amount"},
                       {"source": "feature:amount", "target": "model:fraud-scorer@v1"},
                       {"source": "model:fraud-scorer@v1", "target": "kpi:approval_rate"}]}
    return {"incident": {**INCIDENT, "id": incident_id}, "histograms": histograms, "predictions": predictions,
            "kpis": kpis, "metrics": metrics, "traces": traces, "events": events, "graph": graph}
