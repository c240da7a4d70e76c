"""A `World`'s truths as long metric rows (timestamp, service, name, value, labels), named as each source does.

cAdvisor and kube-state-metrics (cumulative counters per pod, restarts), Prometheus histograms (``_bucket`` with
``le``, ``_sum``, ``_count``; an error series exported only from its first observation), Istio's standard metrics
(one series per edge and reporter), RCAEval's wide tables melted to long, OpenTelemetry's HTTP server histogram,
and runtime and node noise (Go and JVM garbage collection, file descriptors, node disks) with optional decoys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import erf

from bench.qa_bundles.metric_world import World, pod_names, quantiles

BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]


def rows(t, service: str, name: str, value, **labels) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": t, "service": service, "name": name, "value": np.asarray(value, float),
                         **labels})


def counter(rate, step: int, rng: np.random.Generator, *, start: float | None = None, integer: bool = False,
            resets=None) -> np.ndarray:
    """A running total of a per-second rate (Poisson counts when ``integer``), restarting from 0 where ``resets``."""
    increments = rate * step
    if integer:
        increments = rng.poisson(np.clip(increments, 0, None)).astype(float)
    start = rng.uniform(2e3, 5e4) if start is None else start
    increments = np.maximum(increments, 0)
    total = start + np.cumsum(increments)
    if resets is not None and resets.any():
        last = np.maximum.accumulate(np.where(resets, np.arange(len(total)), -1))
        since = last >= 0
        total[since] -= total[last[since]] - increments[last[since]]
    return total


def restart_points(restarts: np.ndarray) -> np.ndarray:
    return np.r_[False, np.diff(np.asarray(restarts)) > 0]


def cadvisor(world: World, step: int, *, namespace: str = "sock-shop", replicas: int = 2, restart_offset: int = 0,
             kube_state: bool = True) -> list[pd.DataFrame]:
    """cAdvisor's container series per pod (every pod carries its service's truth), and kube-state-metrics'
    restart count (``restart_offset``: restarts the pod had before the incident)."""
    rng, t = world.rng, world.t
    out = []
    for s in world.services:
        resets = restart_points(world.restarts[s])
        for pod in pod_names(s, replicas):
            labels = {"namespace": namespace, "pod": pod, "container": s}
            cpu = np.clip(world.cpu[s] * (1 + 0.05 * rng.standard_normal(len(t))), 0.001, None)
            out.append(rows(t, s, "container_cpu_usage_seconds_total", counter(cpu, step, rng, resets=resets),
                            **labels))
            out.append(rows(t, s, "container_memory_working_set_bytes",
                            world.memory[s] * (1 + 0.01 * rng.standard_normal(len(t))), **labels))
            periods = counter(np.full(len(t), 10.0), step, rng, integer=True, resets=resets)
            throttled = counter(10.0 * world.throttled[s], step, rng, integer=True, resets=resets,
                                start=rng.uniform(0, 200))
            out.append(rows(t, s, "container_cpu_cfs_periods_total", periods, **labels))
            out.append(rows(t, s, "container_cpu_cfs_throttled_periods_total", throttled, **labels))
            out.append(rows(t, s, "container_network_receive_bytes_total",
                            counter(world.rx[s] / replicas, step, rng), namespace=namespace, pod=pod,
                            interface="eth0"))
            out.append(rows(t, s, "container_spec_memory_limit_bytes", np.full(len(t), world.memory_limit[s]),
                            **labels))
            if kube_state:
                out.append(rows(t, s, "kube_pod_container_status_restarts_total",
                                world.restarts[s] + restart_offset, **labels))
    return out


def _lognormal_cdf(x: float, mean: np.ndarray, sigma: float = 0.5) -> np.ndarray:
    mu = np.log(np.maximum(mean, 1e-9)) - sigma * sigma / 2
    return 0.5 * (1 + erf((np.log(x) - mu) / (sigma * np.sqrt(2))))


def histogram(world: World, service: str, step: int, name: str, *, unit_scale: float, buckets: list, ok: dict,
              failed: dict, latency_ms, rps, errors, with_buckets: bool = True) -> list[pd.DataFrame]:
    """A Prometheus histogram's series for the successful and the failed requests of one service. The failed
    series start at their first observation, as a client library exports a labelled series."""
    rng, t = world.rng, world.t
    out = []
    for labels, share in ((ok, 1 - errors), (failed, errors)):
        n = rng.poisson(np.clip(rps * share * step, 0, None)).astype(float)
        seconds = latency_ms / 1000.0 * unit_scale
        count = np.cumsum(n) + (0 if labels is failed else rng.integers(1e4, 1e6))
        first = 0
        if labels is failed:
            seen = np.flatnonzero(count > 0)
            if seen.size == 0:
                continue
            first = seen[0]
        kept = slice(first, None)
        out.append(rows(t[kept], service, f"{name}_count", count[kept], **labels))
        out.append(rows(t[kept], service, f"{name}_sum", np.cumsum(n * seconds)[kept], **labels))
        if with_buckets:
            for bound in [*buckets, np.inf]:
                share_below = np.ones(len(t)) if bound == np.inf else _lognormal_cdf(bound, seconds)
                out.append(rows(t[kept], service, f"{name}_bucket", np.cumsum(np.round(n * share_below))[kept],
                                le="+Inf" if bound == np.inf else repr(float(bound)), **labels))
    return out


def _applications(world: World) -> list[str]:
    """The services that export request metrics: not the databases nor the broker."""
    return [s for s in world.services if not s.endswith("-db") and s != "rabbitmq"]


def _app_histograms(world: World, step: int, name: str, labels: dict, status: str, **options) -> list[pd.DataFrame]:
    """Each application's request histogram ``name``, its successes and failures told apart by the label ``status``
    (``200``, ``500``) beside ``labels``."""
    out = []
    for s in _applications(world):
        out += histogram(world, s, step, name, unit_scale=1.0, buckets=BUCKETS_S, ok={**labels, status: "200"},
                         failed={**labels, status: "500"}, latency_ms=world.latency_ms[s], rps=world.rps[s],
                         errors=world.errors[s], **options)
    return out


def sockshop_app(world: World, step: int) -> list[pd.DataFrame]:
    """Sock Shop's own ``request_duration_seconds`` histogram, labelled by status code."""
    return _app_histograms(world, step, "request_duration_seconds", {"method": "get", "route": "/"}, "status_code")


def otel_app(world: World, step: int) -> list[pd.DataFrame]:
    """OpenTelemetry's ``http.server.request.duration`` as the Prometheus exporter names it (no buckets)."""
    return _app_histograms(world, step, "http_server_request_duration_seconds",
                           {"http_request_method": "GET", "http_route": "/"}, "http_response_status_code",
                           with_buckets=False)


def istio(world: World, step: int, reporters: tuple[str, ...] = ("destination",), *, namespace: str = "default",
          error_code: str = "503", flags: str = "-") -> list[pd.DataFrame]:
    """``istio_requests_total`` and ``istio_request_duration_milliseconds`` per edge (the ingress gateway calls
    the entry). The service column is the destination workload on ``reporter=destination`` rows and the source
    workload on ``reporter=source`` rows."""
    topology = world.topology
    edges = [("istio-ingressgateway", topology["entry"])] + [(caller, callee) for caller, callees
                                                             in topology["calls"].items() for callee in callees]
    rng, t = world.rng, world.t
    out = []
    for source, destination in edges:
        callers = [c for c, callees in topology["calls"].items() if destination in callees]
        rps = world.rps[destination] / (1 if source == "istio-ingressgateway" else max(1, len(callers)))
        errors = world.errors[destination]
        for reporter in reporters:
            service = destination if reporter == "destination" else source
            edge = {"reporter": reporter, "source_workload": source, "source_workload_namespace": namespace,
                    "destination_workload": destination, "destination_workload_namespace": namespace,
                    "destination_service": f"{destination}.{namespace}.svc.cluster.local", "request_protocol": "http"}
            ok = {**edge, "response_code": "200", "response_flags": "-"}
            failed = {**edge, "response_code": error_code, "response_flags": flags}
            for labels, share in ((ok, 1 - errors), (failed, errors)):
                n = rng.poisson(np.clip(rps * share * step, 0, None)).astype(float)
                count = np.cumsum(n) + (rng.integers(1e4, 1e6) if labels is ok else 0)
                seen = np.flatnonzero(count > 0)
                if seen.size:
                    out.append(rows(t[seen[0]:], service, "istio_requests_total", count[seen[0]:], **labels))
            latency = world.latency_ms[destination] * (1.0 if reporter == "destination" else 1.05)
            out += histogram(world, service, step, "istio_request_duration_milliseconds", unit_scale=1000.0,
                             buckets=BUCKETS_MS, ok=ok, failed=failed, latency_ms=latency, rps=rps, errors=errors)
    return out


def rcaeval(world: World, step: int) -> list[pd.DataFrame]:
    """RCAEval's wide table (``<service>_cpu``, ``_mem``, ``_latency-50``, ``_latency-90``, ``_workload``,
    ``_error``; CPU in percent of a core, memory in MiB, latency in seconds) melted to long rows."""
    rng, t = world.rng, world.t
    wide = {"time": t}
    for s in world.services:
        p50, p90, _ = quantiles(world.latency_ms[s], rng)
        wide[f"{s}_cpu"] = world.cpu[s] * 100 * (1 + 0.03 * rng.standard_normal(len(t)))
        wide[f"{s}_mem"] = world.memory[s] / 2**20
        wide[f"{s}_latency-50"] = p50 / 1000
        wide[f"{s}_latency-90"] = p90 / 1000
        wide[f"{s}_workload"] = rng.poisson(world.rps[s] * step).astype(float)
        wide[f"{s}_error"] = rng.poisson(world.rps[s] * world.errors[s] * step).astype(float)
    long = pd.DataFrame(wide).melt(id_vars="time", var_name="column", value_name="value")
    long[["service", "name"]] = long["column"].str.rsplit("_", n=1, expand=True)
    return [long.rename(columns={"time": "timestamp"})[["timestamp", "service", "name", "value"]]]


def runtime_noise(world: World, step: int, *, gc_decoy: str | None = None, disk_decoy: str | None = None,
                  nodes: tuple[str, ...] = ("ip-10-0-1-23", "ip-10-0-2-41")) -> list[pd.DataFrame]:
    """Go and JVM runtime series, open file descriptors and node series; ``gc_decoy``'s garbage collection and
    ``disk_decoy``'s free disk change in the current window without harming anyone."""
    rng, t, on = world.rng, world.t, world.on
    n = len(t)
    out = []
    for s in world.services:
        pod = pod_names(s, 1)[0]
        if s in world.topology["go"]:
            out.append(rows(t, s, "go_goroutines", np.round(40 + world.rps[s] * 0.5 + rng.normal(0, 3, n)), pod=pod))
            for q, base in (("0", 2e-5), ("0.25", 4e-5), ("0.5", 6e-5), ("0.75", 9e-5), ("1", 4e-4)):
                pause = base * (1 + 0.3 * rng.random(n))
                if gc_decoy == s:
                    pause = np.where(on, pause * 6, pause)
                out.append(rows(t, s, "go_gc_duration_seconds", pause, pod=pod, quantile=q))
        if s in world.topology["jvm"]:
            pauses = rng.poisson(0.2 * step, n).astype(float)
            duration = 0.012 * (1 + 0.2 * rng.random(n))
            if gc_decoy == s:
                duration = np.where(on, duration * 8, duration)
                pauses = np.where(on, pauses * 3, pauses)
            labels = {"pod": pod, "action": "end of minor GC", "cause": "G1 Evacuation Pause"}
            out.append(rows(t, s, "jvm_gc_pause_seconds_count", np.cumsum(pauses) + 500, **labels))
            out.append(rows(t, s, "jvm_gc_pause_seconds_sum", np.cumsum(pauses * duration) + 6, **labels))
            out.append(rows(t, s, "jvm_gc_pause_seconds_max", duration * 1.5, **labels))
            out.append(rows(t, s, "jvm_memory_used_bytes", world.memory[s] * 0.6, pod=pod, area="heap",
                            id="G1 Old Gen"))
        out.append(rows(t, s, "process_open_fds", np.round(60 + rng.normal(0, 2, n)), pod=pod))
    for node in nodes:
        free = 40e9 - np.arange(n) * 1e5 + rng.normal(0, 5e6, n)
        if disk_decoy == node:
            free = np.where(on, free - np.cumsum(on) * 3e8, free)
        instance = f"{node}:9100"
        out.append(rows(t, node, "node_filesystem_avail_bytes", free, instance=instance, device="/dev/nvme0n1p1",
                        mountpoint="/", fstype="xfs"))
        out.append(rows(t, node, "node_memory_MemAvailable_bytes", 8e9 + rng.normal(0, 5e7, n), instance=instance))
        out.append(rows(t, node, "node_load1", 1.5 + rng.normal(0, 0.2, n), instance=instance))
    return out
