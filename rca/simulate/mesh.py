"""Metrics-only microservice incidents: a call graph, per-service metrics, a front-end KPI and one fault.

The model-serving worlds of `rca.simulate.incident` have 3-7 services in one request path. Real service
incidents often come from bigger meshes and with nothing but service metrics and a call graph (no traces,
predictions or histograms). This module simulates those:

* **World.** 8-40 services in 2-5 layers under one entry service; every service is called by one in a
  shallower layer, some by several. Each call edge has a share of the caller's requests that make it and is
  synchronous (the caller waits: the callee's latency adds up and its errors surface, in part, through the
  caller's retries and fallbacks) or asynchronous (neither propagates). Some endpoints are called by a small
  share of requests, so their percentiles and availability are computed from a handful of requests.
* **Requests.** Per time step and service, a sample of requests is rendered leaves first: its own
  processing time (log-normal) plus, for each synchronous callee it calls, one of that callee's rendered
  requests (latency and failure). Percentiles, mean latency, availability and request counts are computed
  from those requests; no metric is painted on directly.
* **Baselines as they come in practice.** The baseline is a few hours just before the incident, two or
  three steps before it, or a fault-free run recorded at another time (before or after). A run at another
  time differs from the incident's run everywhere a little (level shifts of every service) and at a few
  services a lot (a slow endpoint, an endpoint failing its few requests): chronic differences unrelated to
  the fault, listed as decoys in ``label.json``. Cells go missing; some services have no baseline at all.
* **Faults** (the label), on a service with a synchronous path to the entry: ``dependency_latency`` (added
  delay on a share of its requests), ``dependency_errors`` (its own requests fail), ``resource_saturation``
  (a flood of requests on a leaf: queueing latency, throttled requests, CPU up). The incident's symptom is
  the entry KPI the fault moves: latency up, or availability down (errors). Its strength varies through the
  current window (`fault_profile`: steady, ramping up, a burst that fades, wandering, a late start), while
  the run's chronic differences wobble per service on their own: a cause and its synchronous callers move
  with the symptom, a difference between runs does not.
* **Views of a call** (``views=True``, the recipe corpora that ask for them): service maps drawn from tracing
  (AWS X-Ray, Jaeger) have nodes that are not services but the client side of a call, typically the load
  balancer in front of a service (`View`). A view is a callee of its caller with no callees of its own, and
  measures the caller's requests to the service behind it: that service's latency plus a little overhead,
  its failures plus timeouts, and, when the service slows or fails, more of each (queueing and retries at
  the balancer amplify a change 1-5x). A view is never the cause. (Tried as training data on 2026-12-03 and
  not kept: `labeled_incidents/README.md`.)
* **Faults move traffic** (``traffic=True``, the recipe corpora that ask for it): callers retry a failed
  synchronous call up to three times (the failing service gets more requests, its callers wait longer), and a
  share of a service's own failures happen before it calls anything (it fails fast, so its callees get fewer
  requests). Without it, request counts change only with a flood or outside traffic. (Tried as training data
  on 2026-12-05 and not kept: `labeled_incidents/README.md`.)
* **Calls made once per item** (``fanout=True``, the recipe corpora that ask for it): about a third of the
  synchronous calls are made several times per request (a listing looking up each item, `Fanout`), so a
  delay at the callee reaches its caller several times over and the caller's latency grows by more than the
  cause's. On PetShop's real incidents some other service's mean latency rose by more than the cause's in 33 of
  36 latency and saturation cases; without fan-out a delay reaches a caller at most once per request.
* **Names and units vary by world**: three metric naming styles (``latency_p95``/``availability``/
  ``request_count`` in seconds, ``latency_p95_ms``/``error_rate``/``request_rate``, ``duration_*_seconds``
  /``success_rate``/``requests_total``), so nothing is learnt from one convention.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from rca.contract.models import CauseKind, Label
from rca.contract.timestamps import format_timestamp
from rca.errors import ConfigError
from rca.simulate.incident import CALENDAR_START
from rca.simulate.write import write_json, write_table

KINDS = (CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS, CauseKind.RESOURCE_SATURATION)
MAX_SAMPLE = 240           # rendered requests per service and step (percentiles of more add nothing)
_ENTRY = ("frontend", "gateway", "web", "storefront", "edge-api", "portal")
_MID = ("orders", "cart", "checkout", "catalog", "search", "users", "auth", "payments", "inventory", "shipping",
        "recommend", "pricing", "reviews", "notify", "profile", "billing", "ledger", "media", "session", "coupon",
        "listing", "adoption", "status", "geo", "fraud", "quotes", "loyalty", "ads")
_LEAF = ("db", "cache", "queue", "blob", "kv", "sql", "table", "lambda", "external", "search-index", "dns")
_SUFFIX = ("", "-svc", "_ECS", "_Lambda", "-api", "_remote")
# (latency names and unit scale, availability-like name and kind, request name and per-second flag)
_STYLES = (
    {"latency": {"latency_avg": "mean", "latency_p50": 50, "latency_p90": 90, "latency_p95": 95, "latency_p99": 99},
     "scale": 1.0, "ok": ("availability", "percent"), "requests": ("request_count", False), "cpu": False},
    {"latency": {"latency_p50_ms": 50, "latency_p95_ms": 95, "latency_p99_ms": 99}, "scale": 1000.0,
     "ok": ("error_rate", "fraction_failed"), "requests": ("request_rate", True), "cpu": True},
    {"latency": {"duration_mean_seconds": "mean", "duration_p90_seconds": 90}, "scale": 1.0,
     "ok": ("success_rate", "fraction_ok"), "requests": ("requests_total", False), "cpu": True},
)


@dataclass
class Mesh:
    """The services (index 0 is the entry), their calls and their healthy behaviour."""

    names: list[str]
    layer: np.ndarray
    calls: list[list[tuple[int, float, bool, float]]]   # per caller: (callee, share, synchronous, error pass-through)
    own_s: np.ndarray          # median own processing time, seconds
    sigma: np.ndarray          # log-normal spread of it
    err: np.ndarray            # own failure probability
    external: np.ndarray       # requests per step from outside the mesh
    entry_volume: float
    per_request: list[list[float]] | None = None   # per caller, per call: mean calls per request making it (`Fanout`)

    def calls_per_request(self, i: int, k: int) -> float:
        """How many times, on average, a request of ``i`` that makes its ``k``-th call makes it (1 without fan-out)."""
        return 1.0 if self.per_request is None else self.per_request[i][k]

    def volumes(self, external: np.ndarray | None = None) -> np.ndarray:
        """Expected requests per step of every service (callers before callees)."""
        vol = (self.external if external is None else external).astype(float).copy()
        vol[0] += self.entry_volume
        for i in np.argsort(self.layer, kind="stable"):
            for k, (j, share, _, _) in enumerate(self.calls[i]):
                vol[j] += vol[i] * share * self.calls_per_request(i, k)
        return vol

    def sync_reach(self) -> np.ndarray:
        """Per service, the largest product of call shares along a synchronous path to the entry (0: none)."""
        reach = np.zeros(len(self.names))
        reach[0] = 1.0
        for i in np.argsort(self.layer, kind="stable"):
            for j, share, sync, _ in self.calls[i]:
                if sync:
                    reach[j] = max(reach[j], reach[i] * share)
        return reach


@dataclass
class Traffic:
    """How failures move traffic (`simulate_mesh_incident` with ``traffic=True``)."""

    retries: list[list[int]]   # per caller, per call of ``Mesh.calls``: retries of a failed synchronous call
    early: np.ndarray          # per service, the share of its own failures that come before its calls

    @classmethod
    def plan(cls, mesh: Mesh, rng: np.random.Generator) -> Traffic:
        retries = [[int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1])) if sync else 0 for _, _, sync, _ in calls]
                   for calls in mesh.calls]
        return cls(retries, rng.uniform(0.0, 1.0, len(mesh.names)))

    def volumes(self, mesh: Mesh, regime: Regime) -> np.ndarray:
        """Expected requests per step of every service when failing calls are retried and early failures call
        nothing: the failure share each caller sees is worked out leaves first, the volumes callers first."""
        own = np.clip(mesh.err + regime.err, 0.0, 1.0)
        seen = own.copy()                               # share of a service's requests that fail
        for i in np.argsort(-mesh.layer, kind="stable"):
            for k, ((j, share, sync, passes), r) in enumerate(zip(mesh.calls[i], self.retries[i])):
                if sync:
                    fails, n = seen[j] ** (r + 1), mesh.calls_per_request(i, k)
                    seen[i] += share * passes * (fails if n == 1 else 1.0 - (1.0 - fails) ** n)
            seen[i] = min(seen[i], 1.0)
        vol = (mesh.external + regime.external).astype(float)
        vol[0] += mesh.entry_volume
        for i in np.argsort(mesh.layer, kind="stable"):
            for k, ((j, share, sync, _), r) in enumerate(zip(mesh.calls[i], self.retries[i])):
                attempts = sum(seen[j] ** a for a in range(r + 1)) if sync else 1.0
                vol[j] += vol[i] * share * (1.0 - self.early[i] * own[i]) * attempts * mesh.calls_per_request(i, k)
        return vol


class Fanout:
    """Calls made once per item (`simulate_mesh_incident` with ``fanout=True``): a listing that looks up each of
    its items, a page that fetches each of its widgets. On a synchronous call with fan-out, a request that makes
    the call makes it ``1 + Poisson(mean - 1)`` times, one after the other: the callee gets that many more
    requests, and a delay there reaches the caller that many times over, so a caller slows by more than the
    service that caused it (on real meshes often the largest change is a caller's, not the cause's)."""

    SHARE = 0.3                # of the synchronous calls
    MEAN = (2.0, 12.0)         # mean calls per request, log-uniform between these

    @classmethod
    def plan(cls, mesh: Mesh, rng: np.random.Generator) -> list[list[float]]:
        """`Mesh.per_request` for ``mesh``: 1 for most calls, a mean above 1 on about `SHARE` of the synchronous."""
        low, high = np.log(cls.MEAN[0]), np.log(cls.MEAN[1])
        return [[float(np.exp(rng.uniform(low, high))) if sync and rng.uniform() < cls.SHARE else 1.0
                 for _, _, sync, _ in calls] for calls in mesh.calls]


@dataclass
class View:
    """The client side of the calls ``caller -> callee`` (a load balancer, an uninstrumented endpoint's
    caller-side node): what the caller measures of those calls, with a change at the callee amplified."""

    name: str
    caller: int
    callee: int
    share: float               # of the caller's requests that make the call
    overhead_s: float          # the balancer's own time per request
    amplify_latency: float     # a latency change at the callee shows here this many times over
    amplify_errors: float      # and a failure-rate change
    timeout_x: float           # requests slower than this many times the callee's healthy median fail here


def plan_views(mesh: Mesh, rng: np.random.Generator, cause: int) -> list[View]:
    """One to three views on synchronous calls to services with dependencies of their own (a view of a leaf
    would be a second leaf changing like it, which no signal can tell apart); with probability 0.7 one of them
    fronts the cause or a service that calls it (the confusing case: the view changes more than the service
    behind it)."""
    edges = [(i, j, share) for i in range(len(mesh.names)) for j, share, sync, _ in mesh.calls[i]
             if sync and j and mesh.calls[j]]
    if not edges:
        return []
    reaches, grown = {cause}, True
    while grown:                               # services with a synchronous path to the cause
        more = {i for i in range(len(mesh.names)) for j, _, sync, _ in mesh.calls[i] if sync and j in reaches}
        grown, reaches = not more <= reaches, reaches | more
    on_path = [e for e in edges if e[1] in reaches]
    picked: list[tuple[int, int, float]] = []
    if on_path and rng.uniform() < 0.7:
        picked.append(on_path[int(rng.integers(len(on_path)))])
    for k in rng.permutation(len(edges))[:int(rng.integers(0 if picked else 1, 3))]:
        if edges[k] not in picked:
            picked.append(edges[k])
    style = int(rng.integers(3))
    views = []
    for n, (i, j, share) in enumerate(picked):
        base = mesh.names[j].split("_")[0].split("-")[0][:5]
        name = (f"{base}-lb{n}.elb.internal_remote", f"{mesh.names[j]}-client", f"ingress-{base}{n}")[style]
        views.append(View(name=name, caller=i, callee=j, share=share,
                          overhead_s=float(np.exp(rng.uniform(np.log(0.0005), np.log(0.005)))),
                          amplify_latency=float(np.exp(rng.uniform(0, np.log(5)))),
                          amplify_errors=float(np.exp(rng.uniform(0, np.log(5)))),
                          timeout_x=float(rng.uniform(8, 40))))
    return views


def render_views(views: list[View], step_out: list[dict], healthy: dict[int, tuple[float, float]],
                 rng: np.random.Generator) -> list[dict]:
    """Each view's step from its callee's rendered requests. ``healthy`` maps a callee to its healthy median
    latency and failure share (filled from the first step, which is a baseline step)."""
    out = []
    for v in views:
        callee = step_out[v.callee]
        lat_j, failed_j = callee["lat"], callee["failed_sample"]
        healthy.setdefault(v.callee, (float(np.median(lat_j)), float(failed_j.mean())))
        base_lat, base_fail = healthy[v.callee]
        count = int(rng.binomial(step_out[v.caller]["count"], v.share))
        pick = rng.integers(0, lat_j.size, int(min(max(count, 1), MAX_SAMPLE)))
        lat = (lat_j[pick] + v.overhead_s * rng.lognormal(0, 0.3, pick.size)
               + (v.amplify_latency - 1) * np.maximum(lat_j[pick] - base_lat, 0.0))
        extra = min(1.0, (v.amplify_errors - 1) * max(failed_j.mean() - base_fail, 0.0))
        failed = failed_j[pick] | (rng.uniform(size=pick.size) < extra) | (lat > v.timeout_x * base_lat)
        out.append({"count": count, "lat": lat, "failed": int(rng.binomial(count, failed.mean()))})
    return out


def build_mesh(rng: np.random.Generator) -> Mesh:
    n = int(rng.integers(8, 41))
    depth = int(rng.integers(2, 6))
    layer = np.concatenate([[0], np.sort(np.concatenate([np.arange(1, depth + 1),
                                                          rng.integers(1, depth + 1, n - 1 - depth)]))])
    leaves = set(np.flatnonzero(layer == depth)) | {i for i in range(1, n) if rng.uniform() < 0.15}
    names = _names(rng, n, leaves)
    calls: list[list[tuple[int, float, bool, float]]] = [[] for _ in range(n)]
    linked = set()

    def link(i: int, j: int) -> None:
        if j in {c for c, *_ in calls[i]}:
            return
        share = float(rng.uniform(0.005, 0.05)) if rng.uniform() < 0.15 else float(rng.uniform(0.15, 1.0))
        calls[i].append((j, share, bool(rng.uniform() < 0.85), float(rng.uniform(0.3, 1.0))))
        linked.add((i, j))

    for j in range(1, n):          # every service has a caller one layer up (or any shallower one)
        up = np.flatnonzero(layer == layer[j] - 1)
        up = up[[i not in leaves for i in up]] if any(i not in leaves for i in up) else up
        link(int(rng.choice(up)), j)
    for i in range(n):             # and some extra calls downward
        if i in leaves and i != 0:
            continue
        deeper = np.flatnonzero(layer > layer[i])
        for j in rng.choice(deeper, min(len(deeper), int(rng.poisson(0.8))), replace=False) if len(deeper) else []:
            link(i, int(j))
    leafish = np.array([i in leaves for i in range(n)])
    own = np.exp(rng.uniform(np.log(0.002), np.log(0.08), n)) * np.where(leafish, 0.5, 1.0)
    return Mesh(names=names, layer=layer, calls=calls, own_s=own, sigma=rng.uniform(0.2, 0.7, n),
                err=np.where(rng.uniform(size=n) < 0.3, rng.uniform(0, 0.005, n), 0.0),
                external=np.where(rng.uniform(size=n) < 0.15, np.exp(rng.uniform(0, np.log(200), n)), 0.0),
                entry_volume=float(np.exp(rng.uniform(np.log(60), np.log(3000)))))


def _names(rng: np.random.Generator, n: int, leaves: set[int]) -> list[str]:
    suffix = _SUFFIX[int(rng.integers(len(_SUFFIX)))]
    out, used = [str(rng.choice(_ENTRY))], set()
    for i in range(1, n):
        pool = _LEAF if i in leaves else _MID
        base = str(rng.choice(pool))
        name = f"{base}{suffix}" if i not in leaves else f"{str(rng.choice(_MID))}-{base}"
        k = 2
        while name in used or name == out[0]:
            name, k = f"{base}{k}{suffix}", k + 1
        used.add(name)
        out.append(name)
    return out


@dataclass
class Regime:
    """What differs in one run of the mesh: per-service multipliers and extra failure probabilities."""

    own: np.ndarray
    err: np.ndarray
    external: np.ndarray
    cpu: np.ndarray
    delay_s: np.ndarray        # added delay (seconds) on a share of requests
    delay_share: np.ndarray

    @classmethod
    def healthy(cls, n: int) -> Regime:
        return cls(np.ones(n), np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n))

    def copy(self) -> Regime:
        return Regime(*(a.copy() for a in (self.own, self.err, self.external, self.cpu, self.delay_s,
                                            self.delay_share)))

    def shifted(self, before: Regime, after: Regime, weight: float | np.ndarray) -> Regime:
        """This regime plus ``weight`` times the change from ``before`` to ``after`` (0: none, 1: all of it;
        one weight, or one per service).

        Multipliers move geometrically, rates and volumes linearly; an added delay keeps its size and
        reaches ``weight`` times the share of requests.
        """
        w = np.maximum(np.asarray(weight, dtype=float), 0.0)
        out = self.copy()
        out.own *= (after.own / before.own) ** w
        out.cpu *= (after.cpu / before.cpu) ** w
        out.err = np.clip(out.err + w * (after.err - before.err), 0.0, 1.0)
        out.external = np.maximum(out.external + w * (after.external - before.external), 0.0)
        delayed = after.delay_s != before.delay_s
        out.delay_s = np.where(delayed, after.delay_s, out.delay_s)
        out.delay_share = np.clip(out.delay_share + w * (after.delay_share - before.delay_share), 0.0, 1.0)
        return out


def render_step(mesh: Mesh, regime: Regime, rng: np.random.Generator, load: float,
                traffic: Traffic | None = None) -> list[dict]:
    """One time step: per service its request count, latency sample, failures and CPU (with ``traffic``:
    failed calls retried, early failures calling nothing)."""
    n = len(mesh.names)
    usual = mesh.volumes()
    volume = (mesh.volumes(mesh.external + regime.external) if traffic is None
              else traffic.volumes(mesh, regime)) * load
    counts = rng.poisson(volume)
    samples: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n
    out: list[dict] = [{}] * n
    for i in np.argsort(-mesh.layer, kind="stable"):     # leaves first
        m = int(min(max(counts[i], 1), MAX_SAMPLE))
        lat = rng.lognormal(np.log(mesh.own_s[i] * regime.own[i]), mesh.sigma[i], m)
        delayed = rng.uniform(size=m) < regime.delay_share[i]
        lat = lat + delayed * regime.delay_s[i] * rng.uniform(0.8, 1.2, m)
        failed = rng.uniform(size=m) < mesh.err[i] + regime.err[i]
        early = failed & (rng.uniform(size=m) < traffic.early[i]) if traffic is not None else None
        for k, (j, share, sync, passes) in enumerate(mesh.calls[i]):
            if not sync or samples[j] is None:
                continue
            calls = rng.uniform(size=m) < share
            if early is not None:
                calls &= ~early
            pick = rng.integers(0, samples[j][0].size, m)
            lat = lat + calls * samples[j][0][pick]
            failing = calls & samples[j][1][pick]
            if (per_request := mesh.calls_per_request(i, k)) > 1:     # one call per item, in turn
                more = rng.poisson(per_request - 1, m)
                for r in range(1, int(more.max(initial=0)) + 1):
                    pick = rng.integers(0, samples[j][0].size, m)
                    again = calls & (more >= r)
                    lat = lat + again * samples[j][0][pick]
                    failing |= again & samples[j][1][pick]
            for _ in range(traffic.retries[i][k] if traffic is not None else 0):   # a retry: one more attempt
                pick = rng.integers(0, samples[j][0].size, m)
                lat = lat + failing * samples[j][0][pick]
                failing &= samples[j][1][pick]
            failed |= failing & (rng.uniform(size=m) < passes)
        samples[i] = (lat, failed)
        utilisation = min(0.97, 0.25 * regime.cpu[i] * (volume[i] / max(usual[i], 1e-9)))
        out[i] = {"count": int(counts[i]), "lat": lat, "failed": int(rng.binomial(counts[i], failed.mean())),
                  "cpu": float(np.clip(rng.normal(utilisation * 100, 3), 0, 100)), "failed_sample": failed}
    return out


def saturate(mesh: Mesh, regime: Regime, i: int, flood: float) -> None:
    """A request flood of ``flood`` times a service's volume: queueing latency, throttling, CPU."""
    base = mesh.volumes()[i]
    regime.external[i] += flood * base
    regime.own[i] *= 1 + 0.6 * flood ** 1.3
    regime.err[i] += min(0.3, 0.01 * flood ** 1.5)
    regime.cpu[i] *= 1 + flood


@dataclass
class Plan:
    kind: CauseKind
    cause: int
    magnitude: float
    baseline_mode: str
    decoys: list[dict]


def simulate_mesh_incident(out_dir: Path, *, seed: int, kind: CauseKind | str | None = None,
                           detected_at: datetime | None = None, incident_id: str | None = None,
                           views: bool = False, traffic: bool = False, fanout: bool = False,
                           baseline_steps: int | None = None) -> Label:
    """Simulate one metrics-only service incident and write its bundle (with ``label.json``).

    Parameters
    ----------
    out_dir : a new or empty directory.
    seed : everything follows from it; the same arguments give byte-identical files.
    kind : ``dependency_latency``, ``dependency_errors`` or ``resource_saturation``; random when None.
    detected_at : end of the current window; 2026-01-05 plus a random offset when None.
    incident_id : ``incident.json`` id; ``mesh-<seed>`` when None.
    views : add one to three `View` nodes (their own random stream: without them the bundle is what it was).
    traffic : failed calls are retried and early failures call nothing (`Traffic`, planned from its own random
        stream; without it the bundle is what it was).
    fanout : some synchronous calls are made once per item, several times per request (`Fanout`, planned from its
        own random stream; without it the bundle is what it was).
    baseline_steps : the baseline is this many steps just before the current window (mode ``short``; 1 = a
        baseline of one sample) instead of a randomly chosen one (`bench/transfer.py` measures the ranker on
        such baselines). The mesh, naming style, sampling step, current-window length, cause kind and cause
        service are those of the same seed without it; the rest follows from the baseline mode.

    Returns
    -------
    Label
        What was written to ``label.json``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError("out_dir", str(out_dir), "a new or empty directory")
    rng = np.random.default_rng(seed)
    kind = CauseKind(kind) if kind is not None else KINDS[int(rng.integers(len(KINDS)))]
    if kind not in KINDS:
        raise ConfigError("kind", str(kind), "one of " + ", ".join(map(str, KINDS)))
    if baseline_steps is not None and baseline_steps < 1:
        raise ConfigError("baseline_steps", str(baseline_steps), "at least 1")
    detected_at = detected_at or CALENDAR_START + timedelta(hours=int(rng.integers(0, 24 * 360)))
    mesh = build_mesh(rng)
    if fanout:
        mesh = replace(mesh, per_request=Fanout.plan(mesh, np.random.default_rng([seed, 11])))
    style = _STYLES[int(rng.integers(len(_STYLES)))]
    step = int(rng.choice([1, 2, 5, 5, 10]))
    n_current = int(rng.integers(3, 10))
    plan, healthy, plain, incident_run, faulty = _plan(mesh, rng, kind, "short" if baseline_steps else None)
    view_rng = np.random.default_rng([seed, 5])
    view_list = plan_views(mesh, view_rng, plan.cause) if views else []
    view_healthy: dict[int, tuple[float, float]] = {}
    moved = Traffic.plan(mesh, np.random.default_rng([seed, 7])) if traffic else None

    cur_end = detected_at.replace(second=0, microsecond=0)
    cur_start = cur_end - timedelta(minutes=step * n_current)
    if plan.baseline_mode == "short":
        n_base = int(rng.integers(2, 4))
        n_base = baseline_steps or n_base
        base_start = cur_start - timedelta(minutes=step * n_base)
    else:
        n_base = int(rng.integers(36, 73)) if step <= 5 else int(rng.integers(18, 37))
        if plan.baseline_mode == "before":
            base_start = cur_start - timedelta(minutes=step * n_base)
        else:                                   # another, fault-free run, days to months away
            days = int(rng.integers(2, 150)) * (1 if rng.uniform() < 0.6 else -1)
            base_start = cur_start + timedelta(days=days) - timedelta(minutes=step * n_base)
    base_end = base_start + timedelta(minutes=step * n_base)

    rows: list[tuple] = []
    view_rows: list[tuple] = []                 # kept apart: views only add rows, the services' are what they were
    phase = rng.uniform(0, 2 * np.pi)
    strength = fault_profile(rng, n_current)
    for k in range(n_base):
        when = base_start + timedelta(minutes=step * k)
        load = 1 + 0.1 * np.sin(phase + when.hour / 24 * 2 * np.pi) + rng.normal(0, 0.03)
        _add_step(rows, view_rows, mesh, view_list, view_healthy, render_step(mesh, healthy, rng, load, moved),
                  view_rng, style, step, when)
    for k in range(n_current):
        when = cur_start + timedelta(minutes=step * k)
        load = 1 + 0.1 * np.sin(phase + when.hour / 24 * 2 * np.pi) + rng.normal(0, 0.03)
        # the fault waxes and wanes (strength), the run's own differences wobble independently of it
        wobble = rng.lognormal(0, 0.3, len(mesh.names))
        regime = plain.shifted(plain, incident_run, wobble).shifted(incident_run, faulty, strength[k])
        _add_step(rows, view_rows, mesh, view_list, view_healthy, render_step(mesh, regime, rng, load, moved),
                  view_rng, style, step, when)
    kpi_rows = [r for r in rows if r[1] == mesh.names[0]]
    rows = _drop_cells(rows, rng, mesh, base_start, base_end, plan.cause)
    rows += [r for r in view_rows if view_rng.uniform() >= 0.1]

    out_dir.mkdir(parents=True, exist_ok=True)
    symptom = _symptom(kind, style)
    write_json(out_dir / "incident.json", {
        "id": incident_id or f"mesh-{seed}", "model": "service-mesh", "detected_at": format_timestamp(cur_end),
        "baseline": {"start": format_timestamp(base_start), "end": format_timestamp(base_end)},
        "current": {"start": format_timestamp(cur_start), "end": format_timestamp(cur_end)},
        "symptom": symptom})
    write_table(out_dir / "metrics.parquet", _columns(rows, ("timestamp", "service", "name", "value")))
    write_table(out_dir / "kpis.parquet", _columns([(t, name, v) for t, _, name, v in kpi_rows],
                                                   ("timestamp", "name", "value")))
    if rng.uniform() < 0.9:
        write_json(out_dir / "graph.json", _graph(mesh, sorted({name for _, _, name, _ in kpi_rows}), view_list))
    onset = cur_start + timedelta(minutes=step * int(np.argmax(strength >= 0.5)))
    cause = {"node": f"service:{mesh.names[plan.cause]}", "kind": str(kind),
             "onset": format_timestamp(onset), "magnitude": f"{plan.magnitude:.3g}",
             "notes": _fault_note(kind, mesh, plan)}
    label = {"causes": [cause], "source": "simulated", "notes": cause["notes"], "seed": seed,
             "missing": ["predictions", "histograms", "traces", "events"], "decoys": plan.decoys,
             "baseline": plan.baseline_mode}
    if view_list:
        label["views"] = [{"node": f"service:{v.name}", "of": f"service:{mesh.names[v.callee]}",
                           "caller": f"service:{mesh.names[v.caller]}"} for v in view_list]
    write_json(out_dir / "label.json", label)
    return Label.model_validate(label)


def fault_profile(rng: np.random.Generator, n: int) -> np.ndarray:
    """How strong the fault is at each of the ``n`` current steps (1 = its planned magnitude).

    Real faults are rarely a clean step: they ramp up, burst and fade as load shifts or retries pile up, or
    start partway into the window. One of: steady, ramping up, a burst that fades, wandering, a late start;
    each with a little step-to-step noise.
    """
    k = np.arange(n) / max(n - 1, 1)
    shape = str(rng.choice(["steady", "ramp", "fade", "wander", "late"], p=[0.2, 0.2, 0.25, 0.2, 0.15]))
    if shape == "steady":
        base = np.ones(n)
    elif shape == "ramp":
        base = 0.25 + 0.75 * k
    elif shape == "fade":
        base = 1.0 - 0.75 * k
    elif shape == "wander":
        base = rng.uniform(0.2, 1.0, n)
    else:
        base = np.where(np.arange(n) >= int(rng.integers(1, max(2, n - 1))), 1.0, 0.05)
    strength = base * rng.lognormal(0, 0.15, n)
    return strength / strength.max()


def _plan(mesh: Mesh, rng: np.random.Generator, kind: CauseKind, mode: str | None = None
          ) -> tuple[Plan, Regime, Regime, Regime, Regime]:
    """The fault plan and four regimes: healthy (the baseline), the incident's run without and with its
    chronic differences, and that run with the fault at full strength. ``mode`` forces the baseline mode
    (the random one is drawn all the same)."""
    n = len(mesh.names)
    reach = mesh.sync_reach()
    pool = np.flatnonzero((reach >= 0.08) & (np.arange(n) > 0))
    if kind is CauseKind.RESOURCE_SATURATION:
        leafish = [i for i in pool if not mesh.calls[i]]
        pool = np.array(leafish) if leafish else pool
    if not len(pool):
        pool = np.arange(1, n)
    cause = int(rng.choice(pool))
    drawn = str(rng.choice(["before", "other_run", "short"], p=[0.35, 0.45, 0.2]))
    mode = mode or drawn
    healthy, incident_run = Regime.healthy(n), Regime.healthy(n)
    decoys: list[dict] = []
    if mode == "other_run":                     # the two runs differ a little everywhere...
        incident_run.own *= rng.lognormal(0, 0.12, n)
    plain = incident_run.copy()                 # (the run before its chronic differences: they wobble apart)
    if mode == "other_run":                     # ...and a lot at a few
        for j in rng.choice(np.arange(1, n), min(n - 1, int(rng.integers(1, 6))), replace=False):
            if j == cause:
                continue
            what = _chronic(mesh, incident_run, int(j), rng)
            decoys.append({"node": f"service:{mesh.names[j]}", "what": what})
    elif rng.uniform() < 0.6:                   # a same-run decoy: a noisy, unrelated blip
        j = int(rng.integers(1, n))
        if j != cause:
            decoys.append({"node": f"service:{mesh.names[j]}", "what": _chronic(mesh, incident_run, j, rng)})
    faulty = incident_run.copy()
    if kind is CauseKind.DEPENDENCY_LATENCY:
        magnitude = float(np.exp(rng.uniform(np.log(0.03), np.log(2.0))))
        faulty.delay_s[cause] = magnitude
        faulty.delay_share[cause] = rng.uniform(0.3, 1.0)
    elif kind is CauseKind.DEPENDENCY_ERRORS:
        magnitude = float(np.exp(rng.uniform(np.log(0.01), np.log(0.6))))
        faulty.err[cause] += magnitude
    else:
        magnitude = float(rng.uniform(1.5, 8.0))
        saturate(mesh, faulty, cause, magnitude)
    return Plan(kind, cause, magnitude, mode, decoys), healthy, plain, incident_run, faulty


def _chronic(mesh: Mesh, regime: Regime, j: int, rng: np.random.Generator) -> str:
    """A difference between runs unrelated to the fault: slow, failing or throttled."""
    roll = rng.uniform()
    if roll < 0.5:
        factor = float(rng.uniform(2, 8))
        regime.own[j] *= factor
        return f"own latency x{factor:.1f} in the incident's run"
    if roll < 0.8:
        rate = float(rng.uniform(0.05, 1.0))
        regime.err[j] += rate
        return f"fails {rate:.0%} of its own requests in the incident's run"
    regime.external[j] += float(rng.uniform(0.5, 3)) * max(mesh.volumes()[j], 1.0)
    return "more outside traffic in the incident's run"


def _add_step(rows: list[tuple], view_rows: list[tuple], mesh: Mesh, views: list[View], view_healthy: dict,
              step_out: list[dict], view_rng: np.random.Generator, style: dict, step: int, when: datetime) -> None:
    """One step's metric rows: the services' into ``rows``, the views' (`render_views`) into ``view_rows``."""
    rows.extend(_metric_rows(mesh.names, step_out, style, step, when))
    if views:
        view_rows.extend(_metric_rows([v.name for v in views], render_views(views, step_out, view_healthy, view_rng),
                                      style, step, when, cpu=False))


def _metric_rows(names: list[str], step_out: list[dict], style: dict, step: int, when: datetime, *,
                 cpu: bool = True) -> list[tuple]:
    ts = int(when.timestamp() * 1000)
    scale = style["scale"]
    rows = []
    for i, name in enumerate(names):
        s = step_out[i]
        count = s["count"]
        req_name, per_second = style["requests"]
        rows.append((ts, name, req_name, count / (step * 60) if per_second else float(count)))
        if count == 0:
            continue
        lat = s["lat"]
        for metric, q in style["latency"].items():
            value = lat.mean() if q == "mean" else np.percentile(lat, q)
            rows.append((ts, name, metric, float(value * scale)))
        ok_name, ok_kind = style["ok"]
        failed = s["failed"] / count
        rows.append((ts, name, ok_name, {"percent": 100 * (1 - failed), "fraction_failed": failed,
                                         "fraction_ok": 1 - failed}[ok_kind]))
        if style["cpu"] and cpu:
            rows.append((ts, name, "cpu_usage", s["cpu"]))
    return rows


def _drop_cells(rows: list[tuple], rng: np.random.Generator, mesh: Mesh, base_start: datetime,
                base_end: datetime, cause: int) -> list[tuple]:
    """5-15% of cells missing; up to two services (not the entry, not the cause) without any baseline row."""
    keep = rng.uniform(size=len(rows)) >= rng.uniform(0.05, 0.15)
    lo, hi = int(base_start.timestamp() * 1000), int(base_end.timestamp() * 1000)
    others = np.array([j for j in range(1, len(mesh.names)) if j != cause])
    no_base = {mesh.names[j] for j in rng.choice(others, int(rng.integers(0, 3)), replace=False)}
    return [r for r, k in zip(rows, keep) if k and not (r[1] in no_base and lo <= r[0] < hi)]


def _symptom(kind: CauseKind, style: dict) -> dict:
    if kind is CauseKind.DEPENDENCY_ERRORS:
        name, what = style["ok"]
        return {"node": f"kpi:{name}", "direction": "up" if what == "fraction_failed" else "down"}
    return {"node": f"kpi:{next(iter(style['latency']))}", "direction": "up"}


def _graph(mesh: Mesh, kpis: list[str], views: list[View]) -> dict:
    nodes = [{"id": f"service:{s}", "kind": "service"} for s in mesh.names]
    nodes += [{"id": f"service:{v.name}", "kind": "service"} for v in views]
    nodes += [{"id": f"kpi:{k}", "kind": "kpi"} for k in kpis]
    edges = [{"source": f"service:{mesh.names[j]}", "target": f"service:{mesh.names[i]}"}
             for i in range(len(mesh.names)) for j, *_ in sorted(mesh.calls[i])]
    edges += [{"source": f"service:{v.name}", "target": f"service:{mesh.names[v.caller]}"} for v in views]
    edges += [{"source": f"service:{mesh.names[0]}", "target": f"kpi:{k}"} for k in kpis]
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "edges": edges}


def _columns(rows: list[tuple], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    out = {}
    for name, values in zip(names, cols):
        out[name] = np.array(values, dtype=object if name in ("service", "name") else None)
    return out


def _fault_note(kind: CauseKind, mesh: Mesh, plan: Plan) -> str:
    svc = mesh.names[plan.cause]
    if kind is CauseKind.DEPENDENCY_LATENCY:
        return f"{plan.magnitude * 1000:.0f} ms added to requests of {svc}"
    if kind is CauseKind.DEPENDENCY_ERRORS:
        return f"{svc} fails {plan.magnitude:.1%} of its requests"
    return f"request flood of {plan.magnitude:.1f}x the usual volume on {svc}"
