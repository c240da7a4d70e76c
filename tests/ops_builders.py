"""In-memory bundles with known answers for the OPS generators (traces, metrics, KPIs, events)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Incident
from tests.builders import otlp_request

BASE_START = pd.Timestamp("2026-11-19T00:00:00Z")
CUR_START = pd.Timestamp("2026-11-20T08:00:00Z")
CUR_END = pd.Timestamp("2026-11-20T14:00:00Z")


def incident() -> Incident:
    return Incident.model_validate({
        "id": "inc-ops", "model": "fraud-scorer", "detected_at": "2026-11-20T14:05:00Z",
        "baseline": {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
        "current": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T14:00:00Z"}})


def spans(n_traces: int = 600, *, seed: int = 0, slow: dict | None = None, errors: dict | None = None,
          fault_start: pd.Timestamp = CUR_START) -> pd.DataFrame:
    """Traces ``api -> model-server (predict | explain) -> feature-store (get)``, sequential calls.

    Half the traces fall in the baseline window, half in the current window (and after ``fault_start``
    the faults apply). ``slow`` maps a service to ``(factor, added_ms, jitter)``: its self-time becomes
    ``self * factor + added_ms`` with exponential jitter of mean ``jitter`` ms; ``errors`` maps a service to
    an error probability. An error propagates to the callers' spans (as OpenTelemetry instrumentations do).
    """
    rng = np.random.default_rng(seed)
    slow, errors = slow or {}, errors or {}
    half = n_traces // 2
    t_base = BASE_START + pd.to_timedelta(np.sort(rng.uniform(0, 24 * 3600, half)), unit="s")
    t_cur = CUR_START + pd.to_timedelta(np.sort(rng.uniform(0, 6 * 3600, n_traces - half)), unit="s")
    starts = t_base.append(t_cur)
    faulty = np.asarray(starts >= fault_start)
    explain = rng.uniform(size=n_traces) < 0.3

    def self_ms(svc, base_ms):
        x = base_ms * rng.lognormal(0, 0.25, n_traces)
        if svc in slow:
            factor, added, jitter = slow[svc]
            x = np.where(faulty, x * factor + added + rng.exponential(jitter or 1e-9, n_traces), x)
        return x

    def err(svc):
        return faulty & (rng.uniform(size=n_traces) < errors.get(svc, 0.0))

    fs, ms, api = self_ms("feature-store", 10.0), self_ms("model-server", 20.0), self_ms("api", 5.0)
    fs_err = err("feature-store")
    ms_err = err("model-server") | fs_err
    api_err = err("api") | ms_err
    ids = np.array([f"t{i:06d}" for i in range(n_traces)])
    start_ns = starts.asi8
    rows = []
    for svc, op, sid, parent, dur, e, off in (
            ("api", np.full(n_traces, "GET /score"), "a", "", api + ms + fs, api_err, 0.0),
            ("model-server", np.where(explain, "explain", "predict"), "m", "a", ms + fs, ms_err, api / 2),
            ("feature-store", np.full(n_traces, "get"), "f", "m", fs, fs_err, api / 2 + ms / 2)):
        rows.append(pd.DataFrame({
            "service": svc, "operation": op, "trace_id": ids, "span_id": [f"{t}{sid}" for t in ids],
            "parent_span_id": [f"{t}{parent}" if parent else "" for t in ids],
            "start": pd.to_datetime(start_ns + (np.asarray(off) * 1e6).astype("int64"), utc=True),
            "duration_ms": dur, "error": e, "kind": 2, "peer": ""}))
    out = pd.concat(rows, ignore_index=True)
    out["service"] = out["service"].astype("category")
    out["operation"] = out["operation"].astype("category")
    return out.sort_values("start", kind="stable", ignore_index=True)


def peer_traces(n_traces: int = 600, *, seed: int = 0, slow_ms: float = 0.0, errors: float = 0.0,
                peer_spans: bool = False) -> list[dict]:
    """OTLP/JSON requests of ``checkout-api`` (``POST /checkout``) making three CLIENT calls to ``session-store``
    (``peer.service``) among eight cheap INTERNAL spans of its own. session-store exports no spans (a cache, a
    database), unless ``peer_spans``: then it has a SERVER span under each call.

    Half the traces fall in the baseline window, half in the current one, where each call takes ``slow_ms`` more
    and fails with probability ``errors``: its status unset and ``http.response.status_code`` 503, as HTTP client
    instrumentations write it; the request's server span then fails too (status ERROR).
    """
    rng = np.random.default_rng(seed)
    half = n_traces // 2
    starts = (BASE_START + pd.to_timedelta(np.sort(rng.uniform(0, 24 * 3600, half)), unit="s")).append(
        CUR_START + pd.to_timedelta(np.sort(rng.uniform(0, 6 * 3600, n_traces - half)), unit="s"))

    def span(trace, span_id, parent, name, start_ns, ms, kind, failed=False, attributes=()):
        return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
                "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + int(ms * 1e6)),
                "status": {"code": 2 if failed else 0}, "attributes": list(attributes)}

    caller, peer = [], []
    for k, start in enumerate(starts):
        trace, t, current = f"{k:032x}", start.value, start >= CUR_START
        cursor, children, failed = t + 3_000_000, [], False
        for j in range(11):
            if j % 4 == 1:   # calls 1, 5, 9
                ms = 2.0 * rng.lognormal(0, 0.25) + (slow_ms if current else 0.0)
                fails = bool(current and rng.uniform() < errors)
                failed |= fails
                status = [{"key": "http.response.status_code", "value": {"intValue": "503" if fails else "200"}}]
                where = [{"key": "peer.service", "value": {"stringValue": "session-store"}}]
                children.append(span(trace, f"{k:08x}{j:08x}", f"{k:08x}", "GET session", cursor, ms, 3,
                                     attributes=where + status))
                if peer_spans:
                    peer.append(span(trace, f"{k:08x}{j:08x}p", f"{k:08x}{j:08x}", "GET", cursor + 100_000,
                                     ms - 0.2, 2, failed=fails))
            else:
                ms = 1.0 * rng.lognormal(0, 0.25)
                children.append(span(trace, f"{k:08x}{j:08x}", f"{k:08x}", "render", cursor, ms, 1))
            cursor += int(ms * 1e6)
        total = (cursor - t) / 1e6 + 3.0
        caller += [span(trace, f"{k:08x}", "", "POST /checkout", t, total, 2, failed=failed), *children]
    return [otlp_request(name, spans) for name, spans in
            [("checkout-api", caller)] + ([("session-store", peer)] if peer_spans else [])]


def bundle(**parts) -> Bundle:
    return Bundle(incident=incident(), **parts)
