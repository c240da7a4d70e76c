"""Known-answer tests of the OPS generators (traces, metrics, KPIs, events) on hand-built bundles."""


import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rca.contract import bundle_from_dict
from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Event, Incident
from rca.generators import get_generator
from rca.generators.events import cause_kinds_of_event, event_targets
from rca.generators.metrics import (metric_family, metric_series, score_series, series_family,
                                   uncompared_services)
from rca.graph import build_graph
from rca.graph.build import bundle_nodes
from tests.ops_builders import BASE_START, CUR_START, bundle, peer_traces, spans
from tests.ops_builders import incident as incident_of


def _by_key(cands):
    return {(h.node, str(h.kind)): h for h in cands.hypotheses}


# ------------------------------------------------------------------------------------------------- traces
def test_quiet_traces_give_nothing():
    assert get_generator("traces").generate(bundle(spans=spans())).hypotheses == []


def test_slow_dependency_named_with_the_right_kind():
    out = get_generator("traces").generate(bundle(spans=spans(slow={"feature-store": (1.0, 30.0, 0.0)})))
    hyps = _by_key(out)
    assert {n for n, _ in hyps} == {"service:feature-store"}     # callers slow only through it: not named
    lat = hyps[("service:feature-store", "dependency_latency")]
    sat = hyps.get(("service:feature-store", "resource_saturation"))
    assert sat is None or sat.score < lat.score
    assert lat.features["trace.share_of_e2e_increase"] == pytest.approx(1.0, abs=0.1)
    assert lat.evidence[0].current > 2 * lat.evidence[0].baseline
    assert any(a.node == "service:api" and a.direction == "up" for a in out.anomalies)   # the symptom


def test_traces_without_a_root_still_name_the_slow_service():
    """A span that names itself as its parent (a cycle) leaves no root span, so no end-to-end latency to compare:
    the services are still compared, without the entry-service symptom, instead of a KeyError."""
    frame = spans(slow={"feature-store": (1.0, 30.0, 0.0)})
    api = frame["service"] == "api"
    frame.loc[api, "parent_span_id"] = frame.loc[api, "span_id"]
    out = get_generator("traces").generate(bundle(spans=frame))
    assert ("service:feature-store", "dependency_latency") in _by_key(out)
    assert not any(a.node == "service:api" for a in out.anomalies)


def test_saturation_told_apart_from_dependency():
    out = get_generator("traces").generate(bundle(spans=spans(slow={"model-server": (2.0, 0.0, 20.0)})))
    hyps = _by_key(out)
    sat = hyps[("service:model-server", "resource_saturation")]
    lat = hyps[("service:model-server", "dependency_latency")]
    assert sat.score > lat.score
    assert sat.features["trace.ops_affected_share"] == 1.0
    assert sat.features["trace.traces_affected_share"] > 0.9
    assert sat.features["trace.dispersion_ratio"] > 1


def test_error_spike_on_the_failing_service_not_its_callers():
    out = get_generator("traces").generate(bundle(spans=spans(errors={"feature-store": 0.2})))
    hyps = _by_key(out)
    assert list(hyps) == [("service:feature-store", "dependency_errors")]
    h = hyps[("service:feature-store", "dependency_errors")]
    assert h.evidence[0].p_value < 1e-6 and h.features["trace.error_rate_delta"] == pytest.approx(0.2, abs=0.06)


def test_trace_onset_found_inside_the_window():
    fault = CUR_START + pd.Timedelta(hours=3)
    out = get_generator("traces").generate(
        bundle(spans=spans(2000, slow={"feature-store": (1.0, 30.0, 0.0)}, fault_start=fault)))
    onset = _by_key(out)[("service:feature-store", "dependency_latency")].onset
    assert abs(onset - fault) <= pd.Timedelta(minutes=30)


def _peer_bundle(**options) -> Bundle:
    return bundle_from_dict({"incident": incident_of().model_dump(mode="json"), "traces": peer_traces(**options)})


@pytest.mark.parametrize("fault, kind", [({"slow_ms": 15.0}, "dependency_latency"),
                                         ({"errors": 0.2}, "dependency_errors")])
def test_a_dependency_that_exports_no_spans_is_named_from_its_callers_spans(fault, kind):
    """checkout-api's CLIENT calls to a session-store that exports nothing are session-store's spans: its slowdown
    or failures name it, not the caller (whose own spans were unchanged), and the call graph has the edge."""
    b = _peer_bundle(**fault)
    hyps = _by_key(get_generator("traces").generate(b))
    assert ("service:session-store", kind) in hyps
    assert not any(node == "service:checkout-api" for node, _ in hyps)
    assert "service:session-store" in bundle_nodes(b)
    assert build_graph(b).edges["service:session-store", "service:checkout-api"]["origin"] == "trace"


@pytest.mark.parametrize("fault, kind", [({"slow_ms": 15.0}, "dependency_latency"),
                                         ({"errors": 0.2}, "dependency_errors")])
def test_an_instrumented_dependency_is_named_from_its_own_spans(fault, kind):
    """With spans of its own under each call, session-store's calls stay the caller's (they have children)."""
    b = _peer_bundle(peer_spans=True, **fault)
    calls = b.spans[b.spans["operation"] == "GET session"]
    assert set(calls["service"]) == {"checkout-api"} and set(calls["peer"]) == {"session-store"}
    assert ("service:session-store", kind) in _by_key(get_generator("traces").generate(b))


# ------------------------------------------------------------------------------------------------ metrics
def _metrics(rng, extra=()):
    times = pd.date_range(BASE_START, CUR_START + pd.Timedelta(hours=6), freq="5min", inclusive="left")
    cur = np.asarray(times >= CUR_START)
    rows = []
    for svc in ("api", "db", "cache"):
        rows.append(pd.DataFrame({"timestamp": times, "service": svc, "name": "latency_p95",
                                  "value": 100 + rng.normal(0, 5, len(times))}))
        rows.append(pd.DataFrame({"timestamp": times, "service": svc, "name": "cpu_usage",
                                  "value": 0.3 + rng.normal(0, 0.02, len(times))}))
    rows.extend(extra(times, cur) for extra in extra)
    return pd.concat(rows, ignore_index=True), times, cur


def test_metric_latency_rise_found_with_onset_and_rank():
    rng = np.random.default_rng(1)
    onset = CUR_START + pd.Timedelta(hours=1)

    def slow_db(times, cur):
        return pd.DataFrame({"timestamp": times, "service": "db", "name": "latency_p95",
                             "value": 100 + rng.normal(0, 5, len(times)) + 80 * (times >= onset)})

    frame, _, _ = _metrics(rng)
    frame = frame[~((frame.service == "db") & (frame.name == "latency_p95"))]
    frame = pd.concat([frame, slow_db(pd.date_range(BASE_START, CUR_START + pd.Timedelta(hours=6), freq="5min",
                                                      inclusive="left"), None)])
    out = get_generator("metrics").generate(bundle(metrics=frame))
    hyps = _by_key(out)
    # db changed, so it is proposed with every kind it has series of (latency, cpu); no error series, no errors
    assert sorted(hyps) == [("service:db", "dependency_latency"), ("service:db", "resource_saturation")]
    h = hyps[("service:db", "dependency_latency")]
    assert h.onset == onset and h.features["metric.onset_rank"] == 1 and h.score > 10
    quiet = hyps[("service:db", "resource_saturation")]     # its cpu did not move: weak, no onset
    assert quiet.score < 3 and quiet.onset is None
    (e,) = quiet.evidence                                      # the kind's own series, to show how little it moved
    assert e.detail.startswith("cpu_usage:") and abs(e.value) < 3
    assert quiet.features["metric.kind_z"] < 3 and quiet.features["metric.latency_z"] == h.features["metric.latency_z"]


def test_a_changed_service_keeps_the_kinds_whose_own_family_barely_moved():
    """A fault of errors that shows mostly as latency (retries, timeouts) still has its errors hypothesis."""
    rng = np.random.default_rng(5)

    def flaky(times, cur):
        return pd.DataFrame({"timestamp": times, "service": "db", "name": "error_rate",
                             "value": np.clip(0.02 + rng.normal(0, 0.002, len(times)) + 0.012 * cur, 0, 1)})

    frame, times, cur = _metrics(rng, extra=(flaky,))
    db_latency = (frame.service == "db") & (frame.name == "latency_p95")
    frame.loc[db_latency, "value"] += 60 * np.asarray(frame.loc[db_latency, "timestamp"] >= CUR_START)
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    errors = hyps[("service:db", "dependency_errors")]
    assert 0 < errors.features["metric.kind_z"] < 2 <= hyps[("service:db", "dependency_latency")].score
    assert not [k for k in hyps if k[0] != "service:db"]     # services that did not change: nothing


def test_gappy_and_constant_series_do_not_dominate():
    rng = np.random.default_rng(2)

    def gappy_counts(times, cur):      # a rare call: a count of 1-2 now and then, 3 in the current window
        keep = rng.uniform(size=len(times)) < 0.05
        return pd.DataFrame({"timestamp": times[keep], "service": "rare", "name": "request_count",
                             "value": np.where(cur[keep], 3.0, rng.integers(1, 3, keep.sum()))})

    def constant(times, cur):          # flat at 100 %, one blip in the current window
        v = np.full(len(times), 100.0)
        v[np.flatnonzero(cur)[0]] = 99.5
        return pd.DataFrame({"timestamp": times, "service": "flat", "name": "availability", "value": v})

    def short(times, cur):             # only 1 baseline point
        keep = cur | (np.arange(len(times)) == 0)
        return pd.DataFrame({"timestamp": times[keep], "service": "new", "name": "latency_p95",
                             "value": np.where(cur[keep], 500.0, 100.0)})

    frame, _, _ = _metrics(rng, extra=(gappy_counts, constant, short))
    scores = {(s.service, s.name): s for s in score_series(bundle(metrics=frame))}
    assert abs(scores[("rare", "request_count")].z) < 3      # the count step floors the scale, few points damp
    assert abs(scores[("flat", "availability")].z) < 1
    assert ("new", "latency_p95") not in scores               # too few baseline points beside the others'
    assert get_generator("metrics").generate(bundle(metrics=frame)).hypotheses == []


def test_a_baseline_of_one_sample_is_compared_with_that_sample():
    """When the baseline window holds one sample of every series, each is scored against it (on the floors),
    so the bundle still gets an answer, and the service that changed most leads."""
    rng = np.random.default_rng(3)
    frame, times, cur = _metrics(rng)
    frame = frame[(frame.timestamp >= CUR_START) | (frame.timestamp == times[0])].copy()
    db_latency = (frame.service == "db") & (frame.name == "latency_p95") & (frame.timestamp >= CUR_START)
    frame.loc[db_latency, "value"] *= 3
    scores = {(s.service, s.name): s for s in score_series(bundle(metrics=frame))}
    assert len(scores) == 6 and {s.n_baseline for s in scores.values()} == {1}
    db = scores[("db", "latency_p95")]
    assert db.bad_z >= 3 and db.baseline == frame.loc[frame.timestamp == times[0]].query(
        "service == 'db' and name == 'latency_p95'")["value"].item()
    hyps = get_generator("metrics").generate(bundle(metrics=frame)).hypotheses
    top = max(hyps, key=lambda h: h.score)
    assert (top.node, top.kind) == ("service:db", "dependency_latency")
    assert "its one baseline point" in top.evidence[0].detail


def test_metric_evidence_shows_the_current_point_its_z_is_of():
    """The z is held by 10% of the current points, so the evidence shows that point's value and says which it
    is; the window's median (which one spike among three leaves where it was) is in the detail."""
    rng = np.random.default_rng(5)
    frame, times, cur = _metrics(rng)
    db = (frame.service == "db") & (frame.name == "latency_p95")
    first_three = frame.timestamp.isin(times[cur][:3])
    frame = frame[~frame.timestamp.isin(times[cur][3:])].copy()   # a current window of three samples
    frame.loc[db & first_three, "value"] = [100.0, 190.0, 101.0]
    (h,) = [h for h in get_generator("metrics").generate(bundle(metrics=frame)).hypotheses
            if (h.node, h.kind) == ("service:db", "dependency_latency")]
    (e,) = h.evidence
    assert e.current == 190.0 and e.value > 3 and abs(e.baseline - 100) < 5
    assert e.detail.startswith("latency_p95: its highest of 3 current points (median 101) vs the median of")

    frame, times, cur = _metrics(rng)                             # 72 current points: the 7th highest
    db = (frame.service == "db") & (frame.name == "latency_p95")
    frame.loc[db & frame.timestamp.isin(times[cur]), "value"] = np.arange(72.0) + 100
    e = [h for h in get_generator("metrics").generate(bundle(metrics=frame)).hypotheses
         if (h.node, h.kind) == ("service:db", "dependency_latency")][0].evidence[0]
    assert e.current == 165.0 and "its 7th highest of 72 current points (10% of them reach it;" in e.detail


def test_services_whose_series_lack_a_baseline_are_counted_as_uncompared():
    rng = np.random.default_rng(4)

    def new(times, cur):                # measured only since the current window began
        return pd.DataFrame({"timestamp": times[cur], "service": "new", "name": "latency_p95", "value": 100.0})

    def sparse(times, cur):             # one baseline point beside series that have hundreds
        keep = cur | (np.arange(len(times)) == 5)
        return pd.DataFrame({"timestamp": times[keep], "service": "db", "name": "errors", "value": 1.0})

    frame, times, _ = _metrics(rng, extra=(new, sparse))
    assert uncompared_services(bundle(metrics=frame)) == {"db": ["errors"], "new": ["latency_p95"]}
    one_sample = frame[(frame.timestamp >= CUR_START) | (frame.timestamp == times[5])]
    assert uncompared_services(bundle(metrics=one_sample)) == {"new": ["latency_p95"]}   # one sample each: all but new compared


def test_metrics_outside_both_windows_score_nothing():
    frame = pd.DataFrame({"timestamp": [BASE_START - pd.Timedelta(days=3)], "service": ["api"],
                          "name": ["latency_p95"], "value": [1.0]})
    assert score_series(bundle(metrics=frame)) == []
    assert get_generator("metrics").generate(bundle(metrics=frame)).hypotheses == []


def test_a_count_over_a_baseline_that_never_moved_changes_by_whole_steps():
    """An idle endpoint (zero requests all baseline) that gets one request now and then has moved by one
    step, not by the capped z of a zero scale; an endpoint woken up to 40 requests per step has moved a lot."""
    rng = np.random.default_rng(4)

    def counts(service, busy):
        def make(times, cur):
            value = np.zeros(len(times))
            now = np.flatnonzero(cur)
            value[now[:10] if busy == 1 else now] = busy
            return pd.DataFrame({"timestamp": times, "service": service, "name": "request_count", "value": value})
        return make

    frame, _, _ = _metrics(rng, extra=(counts("idle", 1), counts("woken", 40)))
    scores = {s.service: s for s in score_series(bundle(metrics=frame)) if s.name == "request_count"}
    assert scores["idle"].z == pytest.approx(1.0, abs=0.01)
    assert scores["woken"].bad_z > 30
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    assert ("service:woken", "resource_saturation") in hyps
    assert not [k for k in hyps if k[0] == "service:idle"]


def test_availability_drop_is_an_error_hypothesis():
    rng = np.random.default_rng(3)

    def avail(times, cur):
        return pd.DataFrame({"timestamp": times, "service": "pay", "name": "availability",
                             "value": np.where(cur, 80.0, 100.0)})

    frame, _, _ = _metrics(rng, extra=(avail,))
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    assert list(hyps) == [("service:pay", "dependency_errors")]
    assert hyps[("service:pay", "dependency_errors")].features["metric.error_z"] >= 15    # 20 points / 1 point, soft-capped


def test_metric_families():
    assert metric_family("error_rate") == ("errors", 1)
    assert metric_family("availability") == ("availability", -1)
    assert metric_family("latency_p99") == ("latency", 1)
    assert metric_family("memory_usage") == ("memory", 1)
    assert metric_family("request_count") == ("traffic", 0)
    assert metric_family("gc_pauses")[0] == "other"
    # what is left falls when it is bad; memory in use rises
    assert metric_family("node_memory_MemAvailable_bytes") == ("memory", -1)
    assert metric_family("go_memstats_alloc_bytes") == ("memory", 1)


@pytest.mark.parametrize("family, names", [
    ("latency", ["http.server.request.duration", "http_server_requests_seconds_max", "grpc_server_handling_seconds",
                 "istio_request_duration_milliseconds", "responseTime", "rt", "mrt", "latency-90", "ttfb_ms",
                 "http_p99", "duration_mean_seconds", "p95_latency_ms"]),
    ("errors", ["http_5xx_total", "request_timeouts", "errorCount", "err", "kube_pod_container_status_restarts_total",
                "rate(kube_pod_container_status_restarts_total)"]),
    ("availability", ["success_rate", "apdex_score", "sr"]),
    ("cpu", ["process_cpu_seconds_total", "container_cpu_usage_seconds_total", "CPU_util_pct"]),
    ("memory", ["container_memory_working_set_bytes", "jvm_heap_used", "rss", "Memory_used_pct"]),
    ("traffic", ["http_server_request_duration_seconds_count", "istio_request_duration_milliseconds_count",
                 "rate(http_server_request_duration_seconds_count)", "request_duration_seconds_bucket",
                 "http_server_requests_seconds_count", "requests_per_second", "istio_requests_total", "tps",
                 "workload", "TCP_conn", "node_network_receive_bytes_total", "https_requests", "approval_rate"]),
    ("other", ["process_start_time_seconds", "gc_pauses", "disk_io_util", "model_precision", "restart_time",
               "jvm_gc_pause_seconds_max", "go_gc_duration_seconds", "node_boot_time_seconds",
               "kafka_consumergroup_members", "rate(orders_total)"]),
])
def test_metric_names_from_other_sources_find_their_family(family, names):
    # OpenTelemetry's dotted names, Prometheus' unit suffixes, camelCase, the short forms of AIOps datasets;
    # short words count only whole ("rt" is not in "start", "tps" not in "https").
    assert {n: metric_family(n)[0] for n in names} == dict.fromkeys(names, family)


@pytest.mark.parametrize("labels", [
    {"outcome": "SERVER_ERROR", "uri": "/pay"}, {"otel.status_code": "ERROR"}, {"http.response.status_code": 503},
    {"status_code": "5xx"}, {"code": "500"}, {"error": "true"}, {"success": "false"}, {"error.type": "timeout"},
    {"grpc.status_code": "UNAVAILABLE"}, {"result": "failure"}, {"rpc_grpc_status_code": "14"},
    {"rpc.grpc.status_code": 13}, {"envoy_response_code_class": "5"}, {"response_code": "0"},
    {"response_flags": "UF,URX"}, {"response_flags": "UH"}])
def test_a_count_whose_labels_pick_out_failures_is_an_error_series(labels):
    # Exporters count failed requests under the request counter's name, with a label saying how they ended.
    assert series_family("http_server_requests_seconds_count", labels) == ("errors", 1)
    assert series_family("calls", labels) == ("errors", 1)


@pytest.mark.parametrize("labels", [
    {"outcome": "SUCCESS"}, {"outcome": "CLIENT_ERROR"}, {"http.response.status_code": "404"}, {"status": "200"},
    {"network": "internal"}, {"instance": "503"}, {"error": "false"}, {"success": "true"}, {},
    {"rpc.grpc.status_code": "5"}, {"code": "5"}, {"envoy_response_code_class": "4"}, {"response_flags": "-"},
    {"response_flags": "DC"}, {"grpc_response_code": "0"}, {"response_code": "200"}])
def test_a_count_of_other_requests_stays_traffic(labels):
    # client errors are the caller's; 'internal' or '503' mean nothing under a key that is not an outcome
    assert series_family("http_server_requests_seconds_count", labels) == ("traffic", 0)


def test_a_named_family_is_kept_whatever_the_labels():
    assert series_family("latency_p95", {"outcome": "SERVER_ERROR"}) == ("latency", 1)
    assert series_family("availability", {"status": "error"}) == ("availability", -1)
    # but one bucket of a histogram is a count of requests up to a bound, no latency (its mean speaks)
    assert series_family("http.server.request.duration", {"le": "0.5"}) == ("other", 0)
    assert series_family("http.server.request.duration", {"le": ""}) == ("latency", 1)


def test_failed_requests_counted_under_an_outcome_label_are_dependency_errors():
    # Micrometer's request counter: one series per outcome. The server errors rise, the successes do not.
    rng = np.random.default_rng(6)

    def requests(times, cur):
        ok = pd.DataFrame({"timestamp": times, "service": "pay", "name": "http_server_requests_seconds_count",
                           "outcome": "SUCCESS", "value": 1000 + rng.normal(0, 20, len(times))})
        failed = ok.assign(outcome="SERVER_ERROR", value=rng.poisson(np.where(cur, 60, 2)).astype(float))
        return pd.concat([ok, failed], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(requests,))
    frame["outcome"] = frame["outcome"].fillna("")
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    errors = hyps[("service:pay", "dependency_errors")]
    assert errors.features["metric.error_z"] >= 15 and abs(errors.features["metric.request_z"]) < 3
    assert errors.evidence[0].detail.startswith("http_server_requests_seconds_count[outcome=SERVER_ERROR]: ")
    assert hyps[("service:pay", "resource_saturation")].score < 3     # the traffic itself did not move


def _prometheus(rate_of, times, service="pay", name="http_requests_total", start=5e5, restart=None, **labels):
    """A Prometheus counter: the running total of ``rate_of(times)`` per second, from ``start`` (the process has
    run for a while), back to 0 at ``restart``."""
    ns = times.as_unit("ns").asi8
    seconds = np.diff(ns, prepend=ns[0] - 300 * 10**9) / 1e9
    total = start + np.cumsum(rate_of(times) * seconds)
    if restart is not None:
        after = times >= restart
        total[after] = total[after] - total[after][0] + rate_of(times)[after][0] * 300
    return pd.DataFrame({"timestamp": times, "service": service, "name": name, "value": total, **labels})


def test_a_prometheus_counter_is_scored_as_its_rate_across_a_restart():
    # Its level grows with the uptime: as it came, the busiest, longest-running service changed most.
    rng = np.random.default_rng(7)
    restart = CUR_START - pd.Timedelta(hours=5)

    def requests(times, cur):
        steady = _prometheus(lambda t: 20 + rng.normal(0, 0.5, len(t)), times, service="api", start=9e6,
                             restart=restart)
        busy = _prometheus(lambda t: np.where(t >= CUR_START, 60.0, 20.0) + rng.normal(0, 0.5, len(t)), times)
        return pd.concat([steady, busy], ignore_index=True)

    frame, times, _ = _metrics(rng, extra=(requests,))
    series = metric_series(bundle(metrics=frame))
    api = series.loc[(series["service"] == "api") & (series["name"] == "rate(http_requests_total)")]
    assert len(api) == len(times) - 1 and api["value"].between(18, 22).all()   # the restart read as one, not a fall
    assert api["_from"].iloc[0] == "http_requests_total, a counter: its increase per second"
    scores = {s.service: s for s in score_series(bundle(metrics=frame)) if s.name.startswith("rate(")}
    assert scores["pay"].bad_z > 30 and abs(scores["api"].z) < 3
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    assert ("service:pay", "resource_saturation") in hyps and ("service:api", "resource_saturation") not in hyps
    assert hyps[("service:pay", "resource_saturation")].evidence[0].detail.startswith(
        "rate(http_requests_total) (http_requests_total, a counter: its increase per second): ")


def test_a_histogram_s_sum_and_count_give_its_mean_latency():
    # Micrometer's timer as Prometheus exports it: _count and _sum counters, one bucket series per le.
    rng = np.random.default_rng(8)

    def timer(times, cur):
        calls = lambda t: 50 + rng.normal(0, 1, len(t))                                        # noqa: E731
        slow = np.where(times >= CUR_START, 0.4, 0.1)
        count = _prometheus(calls, times, service="db", name="http_server_requests_seconds_count")
        total = _prometheus(lambda t: calls(t) * slow, times, service="db", name="http_server_requests_seconds_sum",
                            start=5e4)
        bucket = _prometheus(calls, times, service="db", name="http_server_requests_seconds_bucket", le="0.5")
        return pd.concat([count, total, bucket], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(timer,))
    frame["le"] = frame["le"].fillna("")
    series = metric_series(bundle(metrics=frame))
    db = set(series.loc[series["service"] == "db", "name"])
    assert db == {"latency_p95", "cpu_usage", "rate(http_server_requests_seconds_count)",
                  "rate(http_server_requests_seconds_bucket)", "http_server_requests_seconds_mean"}
    mean = series.loc[series["name"] == "http_server_requests_seconds_mean"]
    assert mean["value"].between(0.05, 0.5).all() and mean["_from"].iloc[0] == (
        "rate(http_server_requests_seconds_sum) / rate(http_server_requests_seconds_count): the mean of each "
        "observation")
    scores = {s.name: s for s in score_series(bundle(metrics=frame)) if s.service == "db"}
    assert scores["http_server_requests_seconds_mean"].family == "latency"
    assert scores["http_server_requests_seconds_mean"].bad_z > 30
    assert scores["rate(http_server_requests_seconds_bucket)"].family == "other"   # one bucket: not traffic
    assert abs(scores["rate(http_server_requests_seconds_count)"].z) < 3


def test_a_service_whose_pods_a_rollout_replaced_is_compared_over_its_pods():
    # Every pod of 'pay' is new since an hour before the current window: no pod's series has a baseline.
    rng = np.random.default_rng(10)
    rollout = CUR_START - pd.Timedelta(hours=1)

    def pods(times, cur):
        rows = []
        for old, new in (("pay-7f9c-a", "pay-5d2e-a"), ("pay-7f9c-b", "pay-5d2e-b")):
            latency = 100 + rng.normal(0, 5, len(times)) + np.where(cur, 80, 0)
            rows.append(pd.DataFrame({"timestamp": times, "service": "pay", "name": "latency_p95",
                                      "pod": np.where(times < rollout, old, new), "value": latency}))
        for pod in ("db-0", "db-1"):   # pods that span both windows: compared each, not pooled
            rows.append(pd.DataFrame({"timestamp": times, "service": "db", "name": "latency_p95", "pod": pod,
                                      "value": 100 + rng.normal(0, 5, len(times))}))
        return pd.concat(rows, ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(pods,))
    frame["pod"] = frame["pod"].fillna("")
    b = bundle(metrics=frame)
    assert uncompared_services(b) == {}
    (pay,) = [s for s in score_series(b) if s.service == "pay"]
    assert pay.labels == "" and pay.bad_z > 10 and pay.source == "the mean of its 4 instances' series, none with " \
        "a baseline of its own"
    assert ("service:pay", "dependency_latency") in _by_key(get_generator("metrics").generate(b))
    # a series one of whose instances was compared is not pooled: only 'pay' was
    assert {s.service for s in score_series(b) if s.source.startswith("the mean")} == {"pay"}
    assert {s.labels for s in score_series(b) if s.service == "db" and s.name == "latency_p95"} == {"pod=db-0",
                                                                                                  "pod=db-1", ""}


def test_a_client_s_series_of_calls_to_a_service_that_sent_no_metrics_are_that_service_s():
    # Micrometer's client timer on checkout-api, counting the calls to session-store by outcome: session-store
    # itself (a managed cache) sends nothing. Its failures made checkout-api the cause.
    rng = np.random.default_rng(11)

    def client(times, cur):
        ok = pd.DataFrame({"timestamp": times, "service": "checkout-api", "name": "http_client_requests_seconds_count",
                           "clientName": "session-store", "outcome": "SUCCESS",
                           "value": 500 + rng.normal(0, 10, len(times))})
        failed = ok.assign(outcome="SERVER_ERROR", value=rng.poisson(np.where(cur, 80, 1)).astype(float))
        known = ok.assign(clientName="db", value=100 + rng.normal(0, 3, len(times)))   # db sends its own metrics
        spelled = [known.assign(clientName=name) for name in ("db:5432", " DB", "db.prod.svc.cluster.local")]
        return pd.concat([ok, failed, known, *spelled], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(client,))
    frame[["clientName", "outcome"]] = frame[["clientName", "outcome"]].fillna("")
    b = bundle(metrics=frame)
    series = metric_series(b)
    moved = series.loc[series["name"] == "http_client_requests_seconds_count"]
    assert set(moved.loc[moved["clientName"] == "session-store", "service"]) == {"session-store"}
    assert set(moved.loc[moved["clientName"] != "session-store", "service"]) == {"checkout-api"}   # db, however
    # spelled (a port, a case, a domain), sends its own metrics: its calls stay the caller's
    hyps = _by_key(get_generator("metrics").generate(b))
    errors = hyps[("service:session-store", "dependency_errors")]
    assert errors.features["metric.error_z"] > 10 and ("service:checkout-api", "dependency_errors") not in hyps
    assert ("measured by checkout-api, a client of a service that sent no server-side metrics"
            in errors.evidence[0].detail)


def test_a_mesh_sidecar_s_series_reported_for_the_caller_are_the_callee_s():
    # Istio with reporter=source only: every series is a caller's sidecar measuring its calls, so a slow cart
    # showed as its caller's latency. The destination_workload is the service measured.
    rng = np.random.default_rng(12)

    def mesh(times, cur):
        calls = pd.DataFrame({"timestamp": times, "service": "checkout", "name": "istio_request_duration_p95",
                              "reporter": "source", "destination_workload": "cart",
                              "destination_service": "cart.shop.svc.cluster.local",
                              "value": np.where(cur, 400.0, 50.0) + rng.normal(0, 2, len(times))})
        ingress = calls.assign(service="ingress", destination_workload="checkout",
                               destination_service="checkout.shop.svc.cluster.local")
        return pd.concat([calls, ingress], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(mesh,))
    series = metric_series(bundle(metrics=frame))
    mesh_rows = series.loc[series["name"] == "istio_request_duration_p95"]
    assert set(zip(mesh_rows["service"], mesh_rows["caller"])) == {("cart", "checkout"), ("checkout", "ingress")}
    hyps = _by_key(get_generator("metrics").generate(bundle(metrics=frame)))
    assert hyps[("service:cart", "dependency_latency")].features["metric.latency_z"] > 10
    # once cart's own sidecar reports its server side, checkout's view of it stays checkout's (checkout, which
    # still reports only as a caller, keeps getting ingress's view of it)
    server = mesh_rows.loc[mesh_rows["service"] == "cart"].drop(columns=["caller", "_from"]).assign(
        reporter="destination")
    series = metric_series(bundle(metrics=pd.concat([frame, server], ignore_index=True)))
    source = series.loc[(series["name"] == "istio_request_duration_p95") & (series["reporter"] == "source")]
    assert set(zip(source["destination_workload"], source["service"])) == {("cart", "checkout"),
                                                                           ("checkout", "checkout")}


def test_an_error_series_new_in_the_current_window_is_compared_with_zeros():
    # Prometheus exports code="503" from its first increment: a service that never failed had no such series.
    rng = np.random.default_rng(13)

    def requests(times, cur):
        ok = pd.DataFrame({"timestamp": times, "service": "email", "name": "http_requests_per_interval",
                           "code": "200", "value": 300 + rng.normal(0, 5, len(times))})
        failed = ok.assign(code="503", value=rng.poisson(40, len(times)).astype(float))[cur]
        new_endpoint = ok.assign(code="200", endpoint="/v2", value=10.0)[cur]   # new, but no failures
        return pd.concat([ok, failed, new_endpoint], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(requests,))
    frame[["code", "endpoint"]] = frame[["code", "endpoint"]].fillna("")
    b = bundle(metrics=frame)
    scores = [s for s in score_series(b) if s.service == "email"]
    assert {s.labels for s in scores} == {"code=200", "code=503"}          # the new endpoint is not compared
    failed = next(s for s in scores if s.labels == "code=503")
    assert failed.baseline == 0 and failed.bad_z > 10 and "read as 0 then" in failed.source
    assert ("service:email", "dependency_errors") in _by_key(get_generator("metrics").generate(b))


def test_a_sparse_total_beside_a_counter_of_the_same_name_is_a_counter():
    # The 503 series of a request counter rises once in a while: neither busy nor long counted, its running
    # total was scored as a level. Its 200 sibling is plainly a counter, and so is it.
    rng = np.random.default_rng(14)

    def requests(times, cur):
        ok = _prometheus(lambda t: 20 + rng.normal(0, 0.5, len(t)), times, name="istio_requests_total", code="200")
        steps = np.zeros(len(times))
        steps[::9] = 1.0
        failed = ok.assign(code="503", value=1.0 + np.cumsum(steps))
        return pd.concat([ok, failed], ignore_index=True)

    frame, _, _ = _metrics(rng, extra=(requests,))
    names = metric_series(bundle(metrics=frame)).groupby("code")["name"].unique()
    assert list(names["503"]) == ["rate(istio_requests_total)"] and list(names["200"]) == ["rate(istio_requests_total)"]


def test_counts_of_errors_are_not_shares_and_bytes_are_not_requests():
    from rca.generators.metrics import SeriesScore, counts_requests, is_share, service_features

    assert is_share("error_rate", "errors") and is_share("availability", "availability")
    assert is_share("5xx_percent", "errors")
    assert not is_share("error", "errors") and not is_share("errors_total", "errors")
    assert not is_share("rate(http_requests_total)", "errors")        # errors per second
    assert counts_requests("request_count") and not counts_requests("rate(container_network_receive_bytes_total)")

    def series(service, name, family, baseline, current):
        return SeriesScore(service, name, "", family, 10.0, 10.0, 10.0, baseline, current, 30, 3, None, current)

    # 8 -> 15 errors per interval is not 8 % -> 15 % failed; 72,000 bytes/s is not the request volume
    f = service_features([series("front", "error", "errors", 8.0, 15.0),
                          series("front", "request_count", "traffic", 500.0, 500.0),
                          series("cart", "error_rate", "errors", 0.01, 0.2),
                          series("cart", "rate(container_network_receive_bytes_total)", "traffic", 7e4, 7.2e4),
                          series("cart", "request_count", "traffic", 90.0, 100.0)])
    assert "metric.error_excess_share" not in f["front"]
    assert f["cart"]["_metric.error_excess_share"] == pytest.approx(0.19 * 100)


def test_a_count_per_interval_is_not_read_as_a_counter():
    # request_count alone (no unit, no _sum beside it) is as often a gauge; one that steps up stays as it came
    rng = np.random.default_rng(9)
    frame, times, cur = _metrics(rng, extra=(lambda t, c: pd.DataFrame(
        {"timestamp": t, "service": "api", "name": "request_count", "value": np.where(c, 40.0, 0.0)}),))
    assert metric_series(bundle(metrics=frame))["name"].isin(["request_count", "latency_p95", "cpu_usage"]).all()
    # ... and so is a requests_total per interval that stays 0 and then reads 1: it never falls, but a counter
    # rises in most steps or has counted for long
    idle = np.zeros(len(times))
    idle[-1] = 1.0
    frame = pd.concat([frame, pd.DataFrame({"timestamp": times, "service": "db", "name": "requests_total",
                                            "value": idle})], ignore_index=True)
    assert "requests_total" in set(metric_series(bundle(metrics=frame))["name"])
    # a running total that falls by less than half once (no restart: a gauge that happens to climb) stays too
    climbing = np.arange(len(times), dtype=float) + 100
    climbing[len(times) // 2:] -= 10
    frame = pd.concat([frame, pd.DataFrame({"timestamp": times, "service": "db", "name": "queue_total",
                                            "value": climbing})], ignore_index=True)
    names = set(metric_series(bundle(metrics=frame))["name"])
    assert "queue_total" in names and "rate(queue_total)" not in names


# --------------------------------------------------------------------------------------------------- KPIs
def _kpi(drop_from=None, drop=0.0):
    times = pd.date_range(BASE_START, CUR_START + pd.Timedelta(hours=6), freq="10min", inclusive="left")
    rng = np.random.default_rng(4)
    hour = times.hour + times.minute / 60
    value = 0.8 + 0.1 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 0.003, len(times))
    if drop_from is not None:
        value = value - drop * (times >= drop_from)
    return pd.DataFrame({"timestamp": times, "name": "approval_rate", "value": value})


def test_seasonal_kpi_matching_same_hours_gives_no_anomaly():
    # 08:00-14:00 sits on the rising half of the daily cycle: far from the daily mean, equal to the same hours
    out = get_generator("kpis").generate(bundle(kpis=_kpi()))
    assert out.anomalies == [] and out.hypotheses == []


def test_kpi_drop_found_with_onset():
    onset = CUR_START + pd.Timedelta(hours=2)
    out = get_generator("kpis").generate(bundle(kpis=_kpi(onset, 0.05)))
    (a,) = out.anomalies
    assert a.node == "kpi:approval_rate" and a.direction == "down" and a.onset == onset


def test_kpi_per_dimension_is_a_segment_anomaly():
    us, br = _kpi(), _kpi(CUR_START, 0.1)
    frame = pd.concat([us.assign(country="US"), br.assign(country="BR")], ignore_index=True)
    (a,) = get_generator("kpis").generate(bundle(kpis=frame)).anomalies
    assert a.node == "segment:country=BR" and a.direction == "down"


# ------------------------------------------------------------------------------------------------- events
def test_event_becomes_hypothesis_with_time_to_onset():
    onset = CUR_START + pd.Timedelta(hours=2)
    deploy = Event(timestamp=onset - pd.Timedelta(minutes=90), kind="model_deploy", target="model:fraud-scorer@v43")
    late = Event(timestamp=onset + pd.Timedelta(hours=1), kind="infra_change", target="service:db")
    out = get_generator("events").generate(bundle(kpis=_kpi(onset, 0.05), events=(deploy, late)))
    hyps = _by_key(out)
    h = hyps[("model:fraud-scorer@v43", "model_regression")]
    assert h.features["event.hours_before_onset"] == pytest.approx(1.5)
    assert h.features["event.in_current_window"] == 1.0 and h.score == pytest.approx(10 * 0.5 ** 0.25)
    svc = hyps[("service:db", "dependency_latency")]
    assert svc.features["event.hours_before_onset"] == pytest.approx(-1.0) and svc.score < h.score
    assert {k for n, k in hyps if n == "service:db"} == {"dependency_latency", "dependency_errors",
                                                          "resource_saturation"}


def test_pipeline_event_names_downstream_features_only_with_a_graph():
    ev = Event(timestamp=CUR_START, kind="pipeline_deploy", target="pipeline:payments")
    g = nx.DiGraph([("pipeline:payments", "feature:amount"), ("feature:amount", "model:m@v1"),
                    ("source:x", "feature:country")])
    got = event_targets(ev, g)
    assert {n for n, _ in got} == {"feature:amount"}
    assert (("feature:amount", CauseKind.TRAINING_SERVING_SKEW)) in got
    assert event_targets(ev, None) == []
    # no onset seen anywhere: the distance is to the current window's start
    h = get_generator("events").generate(bundle(events=(ev,), graph=g)).hypotheses[0]
    assert h.features["event.hours_before_onset"] == 0.0 and h.features["event.onset_observed"] == 0.0


def test_a_backfill_suggests_skew_downstream_and_nothing_suggests_a_change_of_the_world():
    ev = Event(timestamp=CUR_START, kind="data_backfill", target="source:orders_db")
    g = nx.DiGraph([("source:orders_db", "pipeline:p"), ("pipeline:p", "feature:amount")])
    assert event_targets(ev, g) == [("feature:amount", CauseKind.TRAINING_SERVING_SKEW)]
    for event_kind in ("pipeline_deploy", "schema_change", "data_backfill", "config_change", "a new kind"):
        for node in ("feature:amount", "model:m@v1", "service:db", "labels:m", "segment:country=BR"):
            kinds = cause_kinds_of_event(event_kind, node)
            assert not {CauseKind.DATA_DRIFT, CauseKind.CONCEPT_DRIFT, CauseKind.SEGMENT_SHIFT} & set(kinds)
    assert cause_kinds_of_event("infra_change", "service:db") == (
        CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS, CauseKind.RESOURCE_SATURATION)
    assert cause_kinds_of_event("model_deploy", "segment:country=BR") == ()


@pytest.mark.parametrize("name", ["events", "kpis", "metrics", "traces"])
def test_absent_family_gives_nothing(name):
    out = get_generator(name).generate(bundle())
    assert out.hypotheses == [] and out.anomalies == []


def test_weak_change_is_a_hypothesis_but_not_an_anomaly():
    """2 <= z < 3: a candidate the ranker may rank (recall), too weak to count as an anomaly or an onset."""
    rng = np.random.default_rng(4)

    def weak(times, cur):
        return pd.DataFrame({"timestamp": times, "service": "slowish", "name": "latency_avg",
                             "value": np.where(cur, 112.5, 100 + rng.normal(0, 5, len(times)))})

    frame, _, _ = _metrics(rng, extra=(weak,))
    score = next(s for s in score_series(bundle(metrics=frame)) if s.service == "slowish")
    assert 2.0 <= score.bad_z < 3.0 and score.onset is None
    out = get_generator("metrics").generate(bundle(metrics=frame))
    assert [(h.node, str(h.kind)) for h in out.hypotheses] == [("service:slowish", "dependency_latency")]
    assert out.hypotheses[0].score == pytest.approx(score.bad_z) and out.anomalies == []


def test_excess_failures_and_latency_weigh_in_request_volume():
    """A low-volume endpoint failing all of its few requests carries a small share of the incident's excess
    failures; the busy service failing 10% carries it all. Latency excess is weighted the same way."""
    from rca.generators.metrics import SeriesScore, service_features, symptom_excess_features

    def series(service, name, family, baseline, current):
        return SeriesScore(service, name, "", family, 10.0, 10.0, 10.0, baseline, current, 30, 3, None, current)

    scores = [series("busy", "availability", "availability", 100.0, 90.0),
              series("busy", "request_count", "traffic", 1000.0, 1000.0),
              series("busy", "latency_avg", "latency", 0.10, 0.15),
              series("tiny", "availability", "availability", 100.0, 0.0),
              series("tiny", "request_count", "traffic", 3.0, 2.0),
              series("tiny", "latency_avg", "latency", 0.10, 0.90),
              series("counts", "errors_total", "errors", 2.0, 400.0)]   # a count, not a share: no excess share
    f = service_features(scores)
    assert f["busy"]["metric.error_excess_share"] == 1.0
    assert f["tiny"]["metric.error_excess_share"] == pytest.approx(2 / 100)
    assert "metric.error_excess_share" not in f["counts"]
    assert f["tiny"]["metric.latency_log_ratio"] == pytest.approx(np.log2(9))     # 0.1 -> 0.9 s
    assert f["busy"]["metric.latency_excess_share"] == 1.0                      # 0.05 s x 1000 vs 0.8 s x 2
    assert f["tiny"]["metric.latency_excess_share"] == pytest.approx(1.6 / 50)

    # Against the service the symptom is measured on ("tiny" as the front end: everyone explains it fully).
    symptom_excess_features(f, ["busy"])
    assert f["tiny"]["metric.error_excess_vs_symptom"] == pytest.approx(2 / 100)
    assert f["busy"]["metric.latency_excess_vs_symptom"] == 1.0
    assert f["tiny"]["metric.latency_excess_vs_symptom"] == pytest.approx(1.6 / 50)
    symptom_excess_features(f, ["tiny"])
    assert f["busy"]["metric.error_excess_vs_symptom"] == 1.0 and f["tiny"]["metric.error_excess_vs_symptom"] == 1.0
    assert "metric.error_excess_vs_symptom" not in f["counts"]


def _symptom_bundle(rng, *, kpi_sign=1.0, symptom=("kpi:latency_avg", "up")):
    """A front end whose latency follows ``db`` through the current window; ``batch`` is slow all the time
    after the baseline (a difference between runs)."""
    times = pd.date_range(BASE_START, CUR_START + pd.Timedelta(hours=6), freq="30min", inclusive="left")
    cur = np.asarray(times >= CUR_START)
    after_baseline = np.asarray(times >= BASE_START + pd.Timedelta(days=1))
    wave = np.where(cur, rng.uniform(0.2, 1.0, len(times)), 0.0)
    frame = pd.concat([
        pd.DataFrame({"timestamp": times, "service": "db", "name": "latency_avg",
                      "value": 0.05 + 0.5 * wave + rng.normal(0, 0.005, len(times))}),
        pd.DataFrame({"timestamp": times, "service": "batch", "name": "latency_avg",
                      "value": np.where(after_baseline, 2.0, 0.3) + rng.normal(0, 0.05, len(times))}),
        pd.DataFrame({"timestamp": times, "service": "db", "name": "error_rate",
                      "value": 0.01 + 0.2 * wave + rng.normal(0, 0.002, len(times))}),
    ], ignore_index=True)
    kpis = pd.DataFrame({"timestamp": times, "name": symptom[0].split(":")[1],
                         "value": 1.0 + kpi_sign * (0.1 + 0.6 * wave + rng.normal(0, 0.01, len(times)))})
    incident = Incident.model_validate({**incident_of().model_dump(mode="json"),
                                        "symptom": {"node": symptom[0], "direction": symptom[1]}})
    return Bundle(incident=incident, metrics=frame, kpis=kpis)


def test_symptom_correlation_tells_a_following_cause_from_a_run_difference():
    from rca.generators.metrics import symptom_correlations

    corr = symptom_correlations(_symptom_bundle(np.random.default_rng(5)))
    assert corr["db"] > 0.9                      # rises and falls with the front end
    assert abs(corr["batch"]) < 0.6              # high the whole window: follows nothing
    out = _by_key(get_generator("metrics").generate(_symptom_bundle(np.random.default_rng(5))))
    assert out[("service:db", "dependency_latency")].features["metric.symptom_corr"] == pytest.approx(corr["db"])


def test_symptom_correlation_is_signed_by_bad_directions_and_needs_a_kpi():
    from rca.generators.metrics import symptom_correlations

    # availability falls as db's error rate rises: both bad, so positive; latency series are not its family
    b = _symptom_bundle(np.random.default_rng(6), kpi_sign=-1.0, symptom=("kpi:availability", "down"))
    gate = b.metrics[b.metrics["name"] == "error_rate"].assign(service="gate", value=1.0)   # failing throughout
    corr = symptom_correlations(Bundle(incident=b.incident, metrics=pd.concat([b.metrics, gate]), kpis=b.kpis))
    assert set(corr) == {"db", "gate"} and corr["db"] > 0.9
    assert corr["gate"] == 0.0                   # flat while the symptom moves: it follows nothing
    b = _symptom_bundle(np.random.default_rng(6))
    assert symptom_correlations(Bundle(incident=b.incident, metrics=b.metrics)) == {}


def test_renaming_metrics_to_another_conventions_names_leaves_the_answer_alone(tmp_path):
    # The same series under Prometheus / OpenTelemetry names: the ranked causes must not move.
    import shutil

    from rca.contract import load_bundle
    from rca.service import analyze
    from tests.conftest import REPO

    renamed = {"cpu_usage": "container_cpu_usage_seconds_total", "memory_usage": "container_memory_working_set_bytes",
               "latency_p95": "http_server_requests_seconds_max", "request_rate": "http.server.requestRate",
               "error_rate": "http_5xx_error_ratio"}
    root = shutil.copytree(REPO / "examples" / "feature-store-outage", tmp_path / "b")
    metrics = pd.read_parquet(root / "metrics.parquet")
    assert set(metrics["name"]) == set(renamed)
    before = analyze(load_bundle(root))
    metrics.assign(name=metrics["name"].map(renamed)).to_parquet(root / "metrics.parquet")
    after = analyze(load_bundle(root))
    assert [(c.node, c.kind, c.confidence) for c in after.causes] == [(c.node, c.kind, c.confidence)
                                                                      for c in before.causes]


def _events_bundle(*targets: str) -> Bundle:
    """Predictions of v1 then v2, a graph with a pipeline, and one event on each of ``targets`` (inline, loaded)."""
    ts = pd.date_range("2026-11-19T01:00:00Z", "2026-11-20T13:00:00Z", freq="10min")
    rows = [{"timestamp": t.isoformat(), "model_version": "v2" if t >= pd.Timestamp(CUR_START) else "v1",
             "score": 0.3} for t in ts]
    graph = {"directed": True, "nodes": [{"id": "pipeline:user_profile"}, {"id": "feature:age"}],
             "edges": [{"source": "pipeline:user_profile", "target": "feature:age"}]}
    events = [{"timestamp": "2026-11-20T07:30:00Z", "kind": "model_version_transition", "target": t} for t in targets]
    return bundle_from_dict({"incident": incident_of().model_dump(mode="json"), "predictions": rows,
                             "graph": graph, "events": events})


@pytest.mark.parametrize(("sent", "node"), [
    ("model:fraud-scorer@2", "model:fraud-scorer@v2"), ("models:/fraud-scorer/2", "model:fraud-scorer@v2"),
    ("model:Fraud_Scorer@V2", "model:fraud-scorer@v2"), ("pipeline:user-profile", "pipeline:user_profile"),
    ("model:fraud-scorer@v2", "model:fraud-scorer@v2")])
def test_an_event_target_spelled_by_another_tool_names_the_bundles_node(sent, node):
    """MLflow writes `models:/fraud-scorer/2` or a version without its `v`, Argo CD `user-profile` for graph.json's
    `user_profile`: the change was linked to nothing, or made a node of its own beside the predictions' version."""
    from rca.graph.build import bundle_nodes

    b = _events_bundle(sent)
    (event,) = b.events
    assert event.target == node and (event.model_extra or {}).get("target_sent", sent) == sent
    nodes = {n for n, _ in event_targets(event, b.graph)}
    assert nodes == ({"feature:age"} if node.startswith("pipeline:") else {node})
    assert not any(n.startswith(("models:", "model:fraud-scorer@2")) for n in bundle_nodes(b))


def test_an_event_target_that_names_no_node_stays_as_sent_and_validate_notes_it():
    from rca.graph.build import event_notes

    b = _events_bundle("pipeline:billing", "model:fraud-scorer@v3")
    assert [e.target for e in b.events] == ["model:fraud-scorer@v3", "pipeline:billing"]
    notes = event_notes(b)
    assert len(notes) == 2 and all("names no node of the bundle's signals or graph" in n for n in notes)
    assert event_notes(_events_bundle("models:/fraud-scorer/2")) == []
    b = _events_bundle("models:/fraud-scorer/7")
    assert [e.target for e in b.events] == ["model:fraud-scorer@7"]
    assert event_notes(b) == ["events.jsonl: target models:/fraud-scorer/7 (read as model:fraud-scorer@7) of the "
                              "model_version_transition event at 2026-11-20 07:30 names no node of the bundle's "
                              "signals or graph (did you mean model:fraud-scorer@v2, model:fraud-scorer@v1?): "
                              "no data of the bundle can back or clear a cause there"]
