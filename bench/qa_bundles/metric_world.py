"""The metric bundles' world: three call graphs, a fault, and each service's true signals over time.

A service's latency is its own time plus 0.8 of each callee's, its error ratio compounds its callees' (calls
are synchronous), and its callers' request rates add up down the graph. A fault changes one service's own
signals from three minutes into the current window; decoys change another's without harming anyone. The
writers (`bench.qa_bundles.metric_styles`) then name these truths as each source does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

END = pd.Timestamp("2026-11-20T14:00:00Z")
"""Detection time: the current window ends here."""

TOPOLOGIES = {
    "sockshop": {"entry": "front-end", "calls": {
        "front-end": ["catalogue", "carts", "orders", "user"],
        "orders": ["payment", "shipping", "carts", "user", "orders-db"],
        "catalogue": ["catalogue-db"], "carts": ["carts-db"], "user": ["user-db"],
        "shipping": ["rabbitmq"], "queue-master": ["rabbitmq"]},
        "jvm": {"carts", "orders", "shipping", "queue-master"}, "go": {"front-end", "catalogue", "payment", "user"}},
    "boutique": {"entry": "frontend", "calls": {
        "frontend": ["productcatalogservice", "currencyservice", "cartservice", "recommendationservice",
                     "adservice", "checkoutservice", "shippingservice"],
        "checkoutservice": ["paymentservice", "emailservice", "currencyservice", "cartservice",
                            "productcatalogservice", "shippingservice"],
        "cartservice": ["redis-cart"], "recommendationservice": ["productcatalogservice"]},
        "jvm": {"adservice"}, "go": {"frontend", "productcatalogservice", "checkoutservice", "shippingservice"}},
    "trainticket": {"entry": "ts-ui-dashboard", "calls": {
        "ts-ui-dashboard": ["ts-travel-service", "ts-order-service", "ts-auth-service"],
        "ts-travel-service": ["ts-route-service", "ts-train-service", "ts-ticketinfo-service", "ts-seat-service"],
        "ts-ticketinfo-service": ["ts-basic-service"], "ts-basic-service": ["ts-station-service", "ts-price-service"],
        "ts-seat-service": ["ts-order-service"], "ts-order-service": ["ts-order-mongo"]},
        "jvm": {"ts-travel-service", "ts-order-service", "ts-route-service", "ts-train-service",
                "ts-ticketinfo-service", "ts-basic-service", "ts-station-service", "ts-price-service",
                "ts-seat-service", "ts-auth-service"},
        "go": set()},
}
"""Sock Shop, Online Boutique and Train Ticket as the QA drew them: who calls whom, and which services run on a
JVM or on Go (their runtime metrics differ)."""


def services(topology: dict) -> list[str]:
    named = set(topology["calls"])
    for callees in topology["calls"].values():
        named |= set(callees)
    return sorted(named)


def bottom_up(topology: dict) -> list[str]:
    """Every service after all it calls: the order in which latency and errors propagate."""
    order, seen = [], set()

    def visit(service: str) -> None:
        if service in seen:
            return
        seen.add(service)
        for callee in topology["calls"].get(service, []):
            visit(callee)
        order.append(service)

    for service in services(topology):
        visit(service)
    return order


def windows(step_s: int, *, baseline_hours: int = 3, current_minutes: int = 20):
    """``(time grid, baseline start, current start)``: a 3 h baseline right before a 20 min current window."""
    current_start = END - pd.Timedelta(minutes=current_minutes)
    baseline_start = current_start - pd.Timedelta(hours=baseline_hours)
    return pd.date_range(baseline_start, END, freq=f"{step_s}s", inclusive="left"), baseline_start, current_start


@dataclass
class World:
    """Each service's true signals on the time grid ``t`` (arrays of its length), and the generator that drew
    them, which the writers keep drawing their noise from."""

    t: pd.DatetimeIndex
    topology: dict
    services: list[str]
    on: np.ndarray               # after the fault's onset
    rng: np.random.Generator
    rps: dict
    latency_ms: dict             # own time plus the callees'
    errors: dict                 # error ratio, callees' failures included
    cpu: dict                    # cores
    throttled: dict              # share of CFS periods throttled
    memory: dict                 # bytes
    memory_limit: dict
    restarts: dict               # cumulative
    rx: dict                     # received bytes per second


def simulate(topology: dict, fault: tuple[str, str, float], t: pd.DatetimeIndex, current_start: pd.Timestamp, *,
             seed: int, decoys: tuple = (), never_fails: tuple = ()) -> World:
    """The world with ``fault = (kind, service, magnitude)`` from 3 minutes into the current window.

    kinds: ``cpu_hog`` (CPU at the limit, own time x magnitude), ``mem_leak`` (magnitude MiB more per 10 minutes,
    one OOM kill if it reaches the limit; GC pressure slows it), ``net_delay`` (+magnitude ms), ``packet_loss``
    (error ratio +magnitude, own time x1.6), ``crash_loop`` (a restart every 8 points, failing 3 points each time),
    ``errors`` (error ratio +magnitude). decoys: ``(kind, service, magnitude)`` with kind ``cpu_batch`` (CPU +m
    cores), ``mem_step`` (memory x m) or ``traffic`` (requests x m), none of them harmful. ``never_fails``: services
    with no error at all before the fault (so an exporter has no error series for them in the baseline).
    """
    rng = np.random.default_rng(seed)
    n = len(t)
    onset = current_start + pd.Timedelta(minutes=3)
    on = np.asarray(t >= onset)
    ramp = np.clip(np.asarray((t - onset).total_seconds()) / 600.0, 0, None)   # 1 ten minutes after the onset
    names = services(topology)
    rps = {s: np.zeros(n) for s in names}
    daily = 1 + 0.15 * np.sin(np.arange(n) / n * 2 * np.pi)
    rps[topology["entry"]] = 40 * daily * (1 + 0.05 * rng.standard_normal(n))
    if "queue-master" in names:
        rps["queue-master"] = 5 * (1 + 0.05 * rng.standard_normal(n))
    for caller in reversed(bottom_up(topology)):
        for callee in topology["calls"].get(caller, []):
            rps[callee] = rps[callee] + rps[caller] * 0.8
    kind, target, magnitude = fault
    own = {s: rng.uniform(3, 25) for s in names}
    own = {s: own[s] * (1 + 0.08 * rng.standard_normal(n)) for s in names}
    own_errors = {s: np.clip(0.001 + 0.0007 * rng.standard_normal(n), 0, None) for s in names}
    for s in never_fails:
        own_errors[s][:] = 0.0
    cpu_limit = 1.0
    cpu = {s: 0.004 * rps[s] + 0.02 + 0.01 * rng.standard_normal(n) for s in names}
    memory_limit = {s: 512 * 2**20 for s in names}
    memory = {s: rng.uniform(120, 260) * 2**20 * (1 + 0.01 * rng.standard_normal(n)) for s in names}
    restarts = {s: np.zeros(n) for s in names}
    if kind == "cpu_hog":
        cpu[target] = np.where(on, cpu_limit * (0.97 + 0.02 * rng.random(n)), cpu[target])
        own[target] = np.where(on, own[target] * magnitude, own[target])
    elif kind == "mem_leak":
        grow = np.where(on, ramp * magnitude * 2**20, 0)
        m = memory[target] + grow
        over = m > memory_limit[target] * 0.98
        if over.any():                      # killed once, the new process climbs again from its fresh size
            k = int(np.argmax(over))
            m[k:] = memory[target][k:] + (grow[k:] - grow[k])
            restarts[target][k:] += 1
            own_errors[target][k:k + 2] = 0.5
        memory[target] = m
        pressure = np.clip(m / memory_limit[target] - 0.5, 0, None)
        own[target] = own[target] * (1 + 1.5 * pressure)
        cpu[target] = cpu[target] + 0.15 * pressure
    elif kind == "net_delay":
        own[target] = np.where(on, own[target] + magnitude, own[target])
    elif kind == "packet_loss":
        own_errors[target] = np.where(on, own_errors[target] + magnitude * (0.8 + 0.4 * rng.random(n)),
                                      own_errors[target])
        own[target] = np.where(on, own[target] * 1.6, own[target])
    elif kind == "crash_loop":
        for i in np.flatnonzero(on)[::8]:
            restarts[target][i:] += 1
            own_errors[target][i:i + 3] = magnitude
        cpu[target] = np.where(on, cpu[target] * 0.6, cpu[target])
    elif kind == "errors":
        own_errors[target] = np.where(on, own_errors[target] + magnitude * (0.9 + 0.2 * rng.random(n)),
                                      own_errors[target])
    else:
        raise ValueError(f"fault kind {kind!r}; expected cpu_hog, mem_leak, net_delay, packet_loss, crash_loop "
                         "or errors")
    for decoy, service, size in decoys:
        if decoy == "cpu_batch":
            cpu[service] = np.where(on, cpu[service] + size, cpu[service])
        elif decoy == "mem_step":
            memory[service] = np.where(on, memory[service] * size, memory[service])
        elif decoy == "traffic":
            rps[service] = np.where(on, rps[service] * size, rps[service])
        else:
            raise ValueError(f"decoy kind {decoy!r}; expected cpu_batch, mem_step or traffic")
    latency, errors = {}, {}
    for s in bottom_up(topology):
        total, ok = own[s].copy(), 1 - np.clip(own_errors[s], 0, 1)
        for callee in topology["calls"].get(s, []):
            total = total + 0.8 * latency[callee]
            ok = ok * (1 - 0.9 * errors[callee])
        latency[s], errors[s] = total, np.clip(1 - ok, 0, 1)
    throttled = {s: np.clip((cpu[s] / cpu_limit - 0.7) / 0.3, 0, 1) * 0.9 + 0.01 * rng.random(n) for s in names}
    rx = {s: rps[s] * 1800 * (1 + 0.05 * rng.standard_normal(n)) for s in names}
    return World(t=t, topology=topology, services=names, on=on, rng=rng, rps=rps, latency_ms=latency, errors=errors,
                 cpu=cpu, throttled=throttled, memory=memory, memory_limit=memory_limit, restarts=restarts, rx=rx)


def quantiles(mean_ms: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy p50, p90, p99 of a latency whose mean is ``mean_ms``."""
    n = len(mean_ms)
    return (mean_ms * 0.8 * (1 + 0.04 * rng.standard_normal(n)), mean_ms * 1.7 * (1 + 0.06 * rng.standard_normal(n)),
            mean_ms * 3.0 * (1 + 0.1 * rng.standard_normal(n)))


def pod_names(service: str, replicas: int = 2) -> list[str]:
    """Kubernetes-style pod names (``carts-7d9fbq2xk-4xz8n``), the same in every run (seeded by the name)."""
    rng = np.random.default_rng(zlib.crc32(service.encode()))
    letters = list("bcdfghjklmnpqrstvwxz2456789")
    template = "".join(rng.choice(letters, 9))
    return [f"{service}-{template}-{''.join(rng.choice(letters, 5))}" for _ in range(replicas)]


def graph(topology: dict, symptom: str) -> dict:
    """``graph.json`` (node-link): each callee points at its caller, the entry at the symptom."""
    edges = [{"source": f"service:{callee}", "target": f"service:{caller}"}
             for caller, callees in topology["calls"].items() for callee in callees]
    edges.append({"source": f"service:{topology['entry']}", "target": symptom})
    nodes = [{"id": f"service:{s}", "kind": "service"} for s in services(topology)] + [{"id": symptom, "kind": "kpi"}]
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "edges": edges}
