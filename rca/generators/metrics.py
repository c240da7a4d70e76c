"""Service metrics: a robust change score per series, its onset, and which services changed first.

Every series (service, metric name, instance and other dimensions) is scored as in BARO and the "robust z
per metric" baselines: its current values against the baseline median, in units of the
baseline's robust scale (`rca.stats.robust.robust_scale`). Three guards keep poor series from dominating:

* the scale is floored at 5% of the baseline level and at the series' quantization step (counts move by 1,
  also when the baseline never moved: one request to an idle endpoint is one step, `count_step`);
  proportions (availability, error rates in [0, 1] or [0, 100]) are floored at one percentage point instead;
* a series needs 2 baseline points and 1 current point; how many it had is reported
  (``metric.n_points_baseline``, in the evidence), not a damping of the score, so incidents with a short
  baseline (a few minutes before the fault) still rank their services against each other. When no series
  of the bundle has 2 (the baseline window holds one sample), one is enough: every series is then compared
  with its single baseline value on the floors below, alike, rather than the bundle getting no answer;
* the score is taken at the 90th percentile of the current points' z (in the bad direction), so a change
  must hold for at least a tenth of the current window: one spike in a long window does not count, while
  a three-point window (5-minute samples, 15 minutes) is judged on its worst point, as BARO does.

A service is proposed as a cause from a family z of `WEAK_THRESHOLD` (2): a weak but present change keeps
the true cause among the candidates when its own signal is damped (a short window, a shifted baseline),
and the ranker places it by its score and graph position; only z >= `THRESHOLD` (3) makes an anomaly, an
onset and an "anomalous" node for the graph features.

Metric names map to families by keywords (latency, errors, availability, cpu, memory, traffic); each family
backs one cause kind on ``service:<name>``: latency -> dependency_latency, errors/availability ->
dependency_errors, cpu/memory/traffic rise -> resource_saturation. A service that changed is proposed with
every kind it has series for, not only the kinds whose own family moved (`_kind_series`): which family a
fault shows in is evidence for the ranker, not a gate. Every hypothesis of a service carries the service's
family z-scores, so a graph-aware ranker can compare a service with its callers and its kinds with each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.hosts import host_name, service_of, spelled_services
from rca.contract.models import CauseKind, Evidence
from rca.contract.nodes import node_id
from rca.contract.otlp import GRPC_SERVER_FAILURES
from rca.generators import register
from rca.generators.base import Anomaly, Candidates, Hypothesis, per_bundle
from rca.generators.windows import window_masks
from rca.stats.robust import count_step, resolution, robust_scale, soft_cap, sustained_onset

THRESHOLD = 3.0        # |robust z| from which a series counts as changed (the usual 3-sigma rule)
WEAK_THRESHOLD = 2.0  # a hypothesis (weak, ranked low by its score) from here; anomalies and onsets need THRESHOLD
MIN_BASELINE = 2
SUSTAINED_SHARE = 0.1   # share of the current points a change must hold for
REL_FLOOR = 0.05
Z_CAP = 50.0

# (family, words found anywhere in the name, whole words of the name, sign): sign +1 when a rise is bad, -1 when
# a fall is bad, 0 for either direction. Short words (``rt``, ``tps``) must be whole words: as parts of a name they
# would match ``start`` or ``https``. The first family that matches wins.
_FAMILIES = (
    ("errors", ("error", "fail", "fault", "exception", "5xx", "timeout", "unavailable"),
     ("err", "errs", "restarts", "crashloop", "crashloopbackoff"), 1),
    ("availability", ("availability", "success", "uptime", "apdex"), ("sr",), -1),
    ("latency", ("latency", "duration", "response_time", "elapsed"),
     ("rt", "mrt", "rtt", "ttfb", "p50", "p75", "p90", "p95", "p99", "p999"), 1),
    ("cpu", ("cpu",), (), 1),
    ("memory", ("memory", "heap", "swap"), ("mem", "memstats", "rss", "oom"), 1),
    ("traffic", ("request", "count", "rate", "throughput", "qps", "rps", "network", "receive", "transmit",
                 "workload", "bytes", "packets", "queue"), ("tps", "conn", "conns", "connection", "connections"), 0),
)
_PROPORTION = ("errors", "availability")
_TIME_UNITS = frozenset({"seconds", "second", "secs", "sec", "ms", "millis", "milliseconds", "microseconds"})
_NOT_A_TIME = frozenset({"count", "total", "bucket", "sum", "per", "rate", "start", "timestamp", "created", "last"})
"""A name in a unit of time (``http_server_requests_seconds_max``) is a latency unless it counts, sums or dates
(``..._seconds_count``, ``..._seconds_total``, ``requests_per_second``, ``process_start_time_seconds``): checked
after cpu and memory (``process_cpu_seconds_total``) and before traffic."""
_COUNTING = frozenset({"count", "total", "bucket", "sum"})
"""Last words of a name that counts or sums requests (a histogram's ``_count``, ``_bucket`` and ``_sum``, a
counter's ``_total``): never a latency, whatever else it says (``request_duration_seconds_count``)."""
_NOT_LATENCY = frozenset({"gc", "boot"})
"""Words of a name in seconds that no request waits on: garbage collection (``jvm_gc_pause_seconds``,
``go_gc_duration_seconds``) and the boot time."""
_LEFT = frozenset({"available", "avail", "free", "remaining", "idle"})
"""Words of a cpu or memory name that measure what is left (``node_memory_MemAvailable_bytes``): a fall is bad."""
_DERIVED = re.compile(r"^rate\((.*)\)$")


def _words(name: str) -> list[str]:
    """The lower-case words of a metric name: split at anything not a letter or digit and at camelCase humps.

    >>> _words("http.server.requestDuration-p99")
    ['http', 'server', 'request', 'duration', 'p99']
    """
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def metric_family(name: str) -> tuple[str, int]:
    """The family of a metric (or KPI) name and the direction that is bad (+1 up, -1 down, 0 either).

    Names from any source: snake_case (``latency_p95``), OpenTelemetry's dotted names
    (``http.server.request.duration``), Prometheus' unit suffixes (``http_server_requests_seconds_max``),
    camelCase (``responseTime``), short forms (``rt``, ``sr``, ``tps``). Anything else is ``("other", 0)``.
    """
    words = _words(_DERIVED.sub(r"\1", name))   # a counter's rate (`metric_series`) is of the counter's family
    joined = "_".join(words)
    timed = not (words[-1:] and words[-1] in _COUNTING) and not _NOT_LATENCY.intersection(words)
    for family, parts, whole, sign in _FAMILIES:
        if family == "latency" and not timed:
            continue
        # between memory and traffic: a time unit makes a latency (`_TIME_UNITS`)
        if (family == "traffic" and timed and _TIME_UNITS.intersection(words)
                and not _NOT_A_TIME.intersection(words)):
            return "latency", 1
        if any(k in joined for k in parts) or any(w in whole for w in words):
            return family, -1 if family in ("cpu", "memory") and _LEFT.intersection(words) else sign
    return "other", 0


_SHARE_WORDS = frozenset({"rate", "ratio", "percent", "percentage", "pct", "perc", "share", "fraction", "frac"})
_NOT_VOLUME = frozenset({"bytes", "byte", "packets", "network", "receive", "transmit", "queue", "conn", "conns",
                         "connection", "connections"})
"""Words of a traffic name that does not count requests (bytes, packets, queue lengths, open connections)."""


def is_share(name: str, family: str) -> bool:
    """Whether a series of this family may be a share of requests (when its values lie in [0, 1] or [0, 100]):
    any availability (``availability``, ``success_rate``, ``apdex``), an error name that says it is a share
    (``error_rate``, ``error_ratio``, ``5xx_percent``). Not a count of errors (``errors``, ``error``,
    ``http_5xx_total``: 8 errors are not 8 % failed) nor a counter's ``rate(...)`` (errors per second)."""
    if family == "availability":
        return True
    if family != "errors" or _DERIVED.match(name):
        return False
    words = _words(name)
    return bool(_SHARE_WORDS.intersection(words)) and not (words[-1:] and words[-1] in _COUNTING)


def counts_requests(name: str) -> bool:
    """Whether a traffic series counts requests (a volume), not bytes, packets, queued items or connections."""
    return not _NOT_VOLUME.intersection(_words(name))


_SIGNS = {family: sign for family, _, _, sign in _FAMILIES}
_ERROR_VALUES = frozenset({"error", "errors", "server_error", "status_code_error", "failure", "failed", "fail", "fault",
                           "exception", "timeout", "unavailable", "internal", "deadline_exceeded", "unimplemented",
                           "data_loss", "5xx"})
_GRPC_ERROR_CODES = frozenset(map(str, GRPC_SERVER_FAILURES))
"""`GRPC_SERVER_FAILURES` as a label's text, as ``rpc.grpc.status_code`` writes them."""
_OUTCOME_KEYS = frozenset({"outcome", "status", "result", "code", "state", "response", "error"})
"""Words of a label key whose values say how a request ended (``outcome``, ``otel.status_code``, ``error.type``):
only there does a value such as ``internal`` or ``timeout`` name a failure."""
_YES, _NO = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})
_UPSTREAM_FLAGS = frozenset({"UH", "UF", "UO", "NR", "URX", "UT", "UC", "UR", "LR", "NC", "UPE", "UMSDR", "OM", "DT"})
"""Envoy's response flags (Istio's ``response_flags``) for a request the upstream failed: no healthy host,
connection failure or reset, overflow, no route, retries exhausted, timeouts. ``DC`` (the downstream hung up),
``RL`` (rate limited, a 429) and ``-`` (none) are not the upstream's failures."""


def series_family(name: str, labels: dict[str, object]) -> tuple[str, int]:
    """`metric_family` of a series, with its labels: a count or rate whose labels pick out failed requests is an
    error series (bad when it rises), as the same count named ``server_errors_total`` would be.

    Labels that pick out failures, as exporters write them: a value naming an error under a key naming an
    outcome or status (`_OUTCOME_KEYS`: Micrometer's ``outcome=SERVER_ERROR``, OpenTelemetry's
    ``otel.status_code=ERROR`` and ``error.type=timeout``, gRPC's ``grpc.status_code=UNAVAILABLE``),
    a 5xx status code under a key naming a status or code (``http.response.status_code=503``; Envoy's
    ``response_code_class=5``), a server-failure gRPC code as a number (``rpc.grpc.status_code=14``), Envoy's
    and Istio's ``response_code=0`` (no response: the connection failed) and upstream failure
    ``response_flags`` (`_UPSTREAM_FLAGS`), or a flag (``error=true``, ``success=false``). Client errors (4xx)
    are the caller's, and stay traffic. A series with an ``le`` label is one bucket of a histogram: ``other`` (the
    histogram's mean, `metric_series`, speaks for it).

    >>> series_family("http_server_requests_seconds_count", {"outcome": "SERVER_ERROR", "uri": "/pay"})
    ('errors', 1)
    >>> series_family("http.server.request.count", {"http.response.status_code": "200"})
    ('traffic', 0)
    """
    present = {k: v for k, v in labels.items() if not (pd.isna(v) or v == "")}
    if "le" in present:   # one bucket of a histogram (a count of the requests up to that bound): the mean speaks
        return "other", 0
    family, sign = metric_family(name)
    if family not in ("traffic", "other"):
        return family, sign
    for key, value in present.items():
        words, text = _words(str(key)), "_".join(_words(str(value)))
        if ((text in _ERROR_VALUES and _OUTCOME_KEYS & set(words))
                or (re.fullmatch(r"5(\d\d|xx)", text) and {"status", "code"} & set(words))
                or (text in ("5", "5xx") and "class" in words)                       # envoy_response_code_class
                or (text in _GRPC_ERROR_CODES and "grpc" in words and {"status", "code"} & set(words))
                or (text == "0" and {"response", "code"} <= set(words) and "grpc" not in words)   # envoy: no reply
                or (words[-2:] == ["response", "flags"] and _UPSTREAM_FLAGS & set(str(value).upper().split(",")))
                or (words[-1:] in (["error"], ["failed"], ["fault"]) and text in _YES)
                or (words[-1:] in (["success"], ["ok"], ["succeeded"]) and text in _NO)):
            return "errors", _SIGNS["errors"]
    return family, sign


@dataclass(frozen=True)
class SeriesScore:
    """The change score of one metric series."""

    service: str
    name: str
    labels: str            # instance and other dimensions, ``k=v`` joined, '' when none
    family: str
    z: float               # signed robust z held by >= 10% of the current points, soft-capped at 50
    bad_z: float           # z in the family's bad direction (|z| for two-sided families)
    z_max: float           # largest signed current-point z (by magnitude), undamped
    baseline: float        # median of the baseline points
    current: float         # median of the current points
    n_baseline: int
    n_current: int
    onset: pd.Timestamp | None
    held: float            # the current point whose z is ``z`` (before the cap): the value to check
    source: str = ""       # what a derived series (`metric_series`) was computed from, '' for a series as it came


COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_UNITS = _TIME_UNITS | {"bytes"}
MIN_COUNTER_POINTS = 8   # fewer noisy points of a gauge can rise in every step by chance (1 in 40320 for 8)
KEY = ("service", "name")


@per_bundle
def metric_series(bundle: Bundle) -> pd.DataFrame | None:
    """The metrics table as it is scored: Prometheus counters as rates, histograms and summaries as their means.

    * A client-side series of calls to a service that sent no metrics is that service's (`_client_series_to_peers`).
    * A series named as Prometheus names a counter (``_total``, ``_bucket``, or a ``_sum`` or ``_count`` beside
      its partner or after a unit: a histogram's or a summary's) whose values never fall but to reset (to at most
      half, at most once in 10 steps: a process restarting), over at least `MIN_COUNTER_POINTS` points, and that
      rises in most steps or has a level that dwarfs its steps, is a running total: its level says how long the
      process has run, not how busy it is. It becomes ``rate(<name>)``, the
      increase per second from the point before (after a reset, the value itself, as Prometheus' ``rate()``
      reads one); its first point goes.
    * A ``<base>_sum`` beside a ``<base>_count`` of the same service and labels (a histogram's or a summary's, as
      rates or as they came) becomes ``<base>_mean``, sum over count at each time: the mean latency of
      ``http_server_requests_seconds``. The sum alone is no quantity a reviewer reads (it grows with the
      traffic and with the latency); the count stays, as the requests.

    Any other series is as it came. A column ``_from`` says what a derived series was computed from ('' for the
    others), for the evidence. Computed once per bundle: the generator, the symptom correlations and the list
    of uncompared services read the same series.
    """
    frame = bundle.metrics
    if frame is None or frame.empty:
        return frame
    frame = _client_series_to_peers(frame.assign(_from=""))
    names = frame["name"].astype(str)
    if not names.str.endswith(COUNTER_SUFFIXES).any():
        return frame
    labels = [c for c in frame.columns if c not in ("timestamp", "service", "name", "value") and not c.startswith("_")]
    series = pd.MultiIndex.from_arrays([frame["service"].astype(str), names])      # factorized: no loop over rows
    present = list(series.unique())
    pairs = ({(svc, n.removesuffix("_sum")) for svc, n in present if n.endswith("_sum")}
             & {(svc, n.removesuffix("_count")) for svc, n in present if n.endswith("_count")})
    candidate = series.isin([key for key in present if _may_count(*key, pairs)])
    if candidate.any():
        rates = _counter_rates(frame.loc[candidate], [*KEY, *labels])
        if rates is not None:   # else the rows as they came, in their order (float sums over them depend on it)
            frame = pd.concat([frame.drop(index=rates.attrs["replaced"]), rates], ignore_index=True)
    return _histogram_means(frame, labels)


PEER_LABELS = frozenset({("peer", "service"), ("server", "address"), ("client", "name"), ("net", "peer", "name"),
                         ("http", "host"), ("destination", "workload"), ("destination", "service", "name"),
                         ("destination", "app"), ("destination", "service"), ("dst", "deployment"),
                         ("dst", "service")})
"""Label keys (as words) naming the service a client-side series measures calls to: OpenTelemetry's
``peer.service``, ``server.address`` and ``net.peer.name``, Micrometer's ``clientName``, ``http.host``, Istio's
``destination_workload``, ``destination_service_name``, ``destination_app`` and ``destination_service``,
Linkerd's ``dst_deployment`` and ``dst_service``."""
CLIENT_SIDE = {("reporter",): "source", ("direction",): "outbound"}
"""A label (key as words: value) that marks a series as measured by the caller: Istio's ``reporter=source``,
Linkerd's ``direction=outbound``. A name with the word ``client`` does as well."""


def _client_series_to_peers(frame: pd.DataFrame) -> pd.DataFrame:
    """Client-side series (a name with the word ``client``: ``http_client_requests_seconds``,
    ``http.client.request.duration``; a `CLIENT_SIDE` label: a mesh's sidecar reporting for the caller) of calls
    to a service that sent no server-side metrics of its own are that service's: the caller's view is the only one
    of a database, a cache, a third-party API or a service whose sidecar reports only for callers, and a slow or
    failing one made its caller the cause. Their ``service`` becomes the peer their `PEER_LABELS` label names
    (`rca.contract.hosts.host_name`: without a port or a Kubernetes service domain, as traces name peers), a
    ``caller`` label keeps who measured them, and the evidence says so. As traces do it for spans
    (`rca.contract.otlp`). A peer named as a service that sent server-side metrics, in another spelling (a port, a
    domain, another case), is that service: the series stays with its caller."""
    keys = [c for c in frame.columns if tuple(_words(str(c))) in PEER_LABELS]
    if not keys:
        return frame
    # a workload's name before a mesh's fully qualified one (Istio sends both): the first key given wins
    keys.sort(key=lambda c: tuple(_words(str(c))) in (("destination", "service"), ("dst", "service")))
    names = frame["name"].astype(str)
    client = names.map({n: "client" in _words(n) for n in names.unique()}).to_numpy(dtype=bool, copy=True)
    for c in frame.columns:
        side = CLIENT_SIDE.get(tuple(_words(str(c))))
        if side is not None:
            client |= (frame[c].astype("string").str.lower() == side).fillna(False).to_numpy(dtype=bool)
    if not client.any():
        return frame
    known = spelled_services(set(frame.loc[~client, "service"].astype(str)))
    raw = pd.Series("", index=frame.index, dtype=object)
    for key in reversed(keys):   # the first key given wins
        value = frame[key].astype("string").fillna("").astype(object)
        raw = raw.where(value == "", value)
    names = {r: host_name(r) for r in raw.unique()}
    unknown = [r for r, name in names.items() if name and service_of(name, known) is None]
    moved = client & raw.isin(unknown).to_numpy()
    peer = raw.map(names)
    if not moved.any():
        return frame
    out = frame.assign(caller=pd.Series(pd.NA, index=frame.index, dtype="string"))
    out.loc[moved, "caller"] = frame.loc[moved, "service"].astype(str).to_numpy()
    out["service"] = out["service"].astype(object)
    out.loc[moved, "service"] = peer[moved].to_numpy()
    out.loc[moved, "_from"] = ("measured by " + out.loc[moved, "caller"].astype(str)
                               + ", a client of a service that sent no server-side metrics")
    return out


def _may_count(service: str, name: str, pairs: set[tuple[str, str]]) -> bool:
    """Whether a series may be a Prometheus counter by its name: ``_total`` or ``_bucket``, or the ``_sum`` or
    ``_count`` of a histogram or summary: the service has both (``pairs``), or a unit comes before the suffix
    (``http_server_requests_seconds_count``). A ``request_count`` alone is as often a count per interval, a gauge."""
    if name.endswith(("_total", "_bucket")):
        return True
    stem = name.removesuffix("_sum").removesuffix("_count")
    words = _words(stem)
    return stem != name and ((service, stem) in pairs or bool(words) and words[-1] in _UNITS)


def _counter_rates(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """The rate rows of the series of ``frame`` (rows named as counters) that are running totals (`metric_series`),
    all series at once; None when none is. ``attrs["replaced"]``: the index of the rows they replace."""
    gid = frame.groupby(keys, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    t = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((t, gid))
    gid, t = gid[order], t[order]
    v = frame["value"].to_numpy(dtype=float)[order]
    n_groups = int(gid.max()) + 1
    same = gid[1:] == gid[:-1]                       # a step inside one series
    d = np.diff(v)
    step_gid = gid[1:][same]
    ds, v0, v1 = d[same], v[:-1][same], v[1:][same]
    count = lambda mask: np.bincount(step_gid[mask], minlength=n_groups)   # noqa: E731
    points = np.bincount(gid, minlength=n_groups)
    finite = np.bincount(gid, weights=np.isfinite(v), minlength=n_groups) == points
    falls, rises = ds < 0, ds > 0
    n_steps, n_rises, n_falls = count(np.ones_like(ds, bool)), count(rises), count(falls)
    bad_falls = count(falls & (v1 > 0.5 * v0))
    first = v[np.flatnonzero(np.r_[True, ~same])]   # each series' first value (ids 0..n-1, sorted)
    median_rise = pd.Series(ds[rises]).groupby(step_gid[rises]).median().reindex(range(n_groups)).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = n_rises / np.maximum(n_steps, 1) >= 0.5
        long_counted = (first > 0) & (10 * median_rise <= first)
    # A total that never falls but to reset (to at most half, at most once in 10 steps), rising in most steps (a
    # busy counter) or with a level that dwarfs its steps (one that has counted for long); a count per interval
    # that stays 0 and then reads 1 never falls either, and is a gauge.
    monotone = (points >= MIN_COUNTER_POINTS) & finite & (n_rises > 0) & (bad_falls == 0) & (n_falls * 10 <= n_steps)
    counter = monotone & (busy | long_counted)
    # A sparse total (the code="503" series that rose twice) beside a counter of the same service and name (its
    # code="200" series) is the same counter, under other label values.
    metric = frame.groupby(list(KEY), sort=False, observed=True, dropna=False).ngroup().to_numpy()[order]
    metric_of = np.zeros(n_groups, dtype=np.int64)
    metric_of[gid] = metric
    counter |= monotone & np.isin(metric_of, metric_of[counter])
    if not counter.any():
        return None
    seconds = np.diff(t)[same] / 1e9
    keep = counter[step_gid] & (seconds > 0)
    rate = np.where(falls, v1, ds)[keep] / seconds[keep]
    rows = frame.iloc[order[1:][same][keep]]
    names = rows["name"].astype(str)
    was = rows["_from"].astype(str)
    out = rows.assign(value=rate, name="rate(" + names + ")",
                      _from=names + ", a counter: its increase per second" + np.where(was != "", "; " + was, ""))
    out.attrs["replaced"] = frame.index[order[np.isin(gid, np.flatnonzero(counter))]]
    return out


def _histogram_means(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """`metric_series`' second step: each ``<base>_sum`` with a ``<base>_count`` becomes ``<base>_mean``."""
    unique = frame["name"].astype(str).unique()       # a few names: the string work is done on them
    plain = {n: _DERIVED.sub(r"\1", n) for n in unique}
    sum_names = [n for n, p in plain.items() if p.endswith("_sum")]
    count_names = [n for n, p in plain.items() if p.endswith("_count")]
    if not (sum_names and count_names):
        return frame
    is_sum, is_count = frame["name"].isin(sum_names), frame["name"].isin(count_names)
    on = ["service", *labels, "timestamp", "_stem", "_rated"]
    stem = {n: plain[n].removesuffix("_sum").removesuffix("_count") for n in (*sum_names, *count_names)}
    rated = {n: n.startswith("rate(") for n in stem}
    sums, counts = frame.loc[is_sum], frame.loc[is_count]
    sums = sums.assign(_stem=sums["name"].map(stem), _rated=sums["name"].map(rated))
    counts = counts.assign(_stem=counts["name"].map(stem), _rated=counts["name"].map(rated))
    both = sums.merge(counts[[*on, "value", "name"]], on=on, suffixes=("", "_count"))
    both = both.loc[both["value_count"] > 0]
    if both.empty:
        return frame
    means = both.assign(value=both["value"] / both["value_count"], name=both["_stem"] + "_mean",
                        _from=both["name"] + " / " + both["name_count"] + ": the mean of each observation")
    paired = sums.merge(both[["service", *labels, "_stem", "_rated"]].drop_duplicates(),
                        on=["service", *labels, "_stem", "_rated"], how="left", indicator=True)
    drop = frame.index[is_sum][(paired["_merge"] == "both").to_numpy()]
    return pd.concat([frame.drop(index=drop), means[frame.columns]], ignore_index=True)


@per_bundle
def score_series(bundle: Bundle, *, threshold: float = THRESHOLD) -> list[SeriesScore]:
    """Robust change scores of every metric series (`metric_series`) with enough baseline and current points.

    Computed once per bundle (`per_bundle`): the events generator dates events against the same onsets.
    """
    frame = metric_series(bundle)
    if frame is None or frame.empty:
        return []
    masks = window_masks(frame["timestamp"], bundle.incident)
    keep = masks.baseline | masks.region
    frame = frame.loc[keep].assign(_base=masks.baseline[keep], _cur=masks.current[keep])
    label_cols = [c for c in frame.columns if c not in ("timestamp", "service", "name", "value")
                  and not c.startswith("_")]
    frame = frame.sort_values("timestamp", kind="stable")
    frame["_base_value"] = frame["_base"] & np.isfinite(frame["value"].to_numpy(dtype=float))
    groups = frame.groupby(["service", "name", *label_cols], sort=True, observed=True, dropna=False)
    most = int(groups["_base_value"].sum().max()) if len(frame) else 0
    min_baseline = MIN_BASELINE if most >= MIN_BASELINE else 1   # a one-sample baseline: the best there is
    instance = [c for c in label_cols if INSTANCE_WORDS & set(_words(str(c)))]
    others = [c for c in label_cols if c not in instance]
    out, compared, uncompared = [], set(), {}   # by series: service, name and the labels but the instance ones
    based = frame.loc[frame["_base_value"], ["service", "name", *others]].drop_duplicates()
    measured = {_key_text(row[:2]) for row in based.itertuples(index=False)}
    measured_series = {_key_text(row) for row in based.itertuples(index=False)}
    for key, g in groups:
        score = _score_one(key, label_cols, g, threshold, min_baseline)
        values = dict(zip(["service", "name", *label_cols], key))
        series = tuple(values[c] for c in ("service", "name", *others))
        if score is None and _key_text(key[:2]) in measured and _key_text(series) not in measured_series:
            score = _new_failures(key, label_cols, g, frame, threshold, min_baseline)
        if score is not None:
            out.append(score)
            compared.add(_key_text(series))
        elif instance:
            uncompared.setdefault(_key_text(series), (series, []))[1].append(g)
    for text, (series, instances) in uncompared.items():
        if text not in compared and len(instances) >= 2:
            pooled = _pooled_score(series, others, instances, threshold, min_baseline)
            out += [pooled] if pooled is not None else []
    return out


def _new_failures(key, label_cols, g: pd.DataFrame, frame: pd.DataFrame, threshold: float,
                  min_baseline: int) -> SeriesScore | None:
    """The score of an error series that is new in the current window, against a baseline of zeros.

    Prometheus exports a label combination from its first increment: a service that never failed has no
    ``code="503"`` series until it fails. When the same service's metric of that name was measured in the
    baseline (other label values: its ``code="200"`` series) and no instance of this series was, its absence
    then says there were no such failures: it is compared with zeros at those times. Only an error series
    (`series_family`), and not a new pod's (its service's other pods were measured: `_pooled_score` reads it): a
    new series of another kind (a new endpoint) says nothing of its past. None otherwise."""
    if series_family(str(key[1]), dict(zip(label_cols, key[2:])))[0] != "errors":
        return None
    sibling = frame.loc[(frame["service"] == key[0]) & (frame["name"] == key[1]) & frame["_base_value"]]
    times = np.unique(sibling["timestamp"].to_numpy())
    zeros = pd.DataFrame({"timestamp": times, "value": 0.0, "_base": True, "_cur": False, "_base_value": True})
    rows = pd.concat([zeros, g[["timestamp", "value", "_base", "_cur", "_base_value"]]], ignore_index=True)
    rows = rows.sort_values("timestamp", kind="stable", ignore_index=True)
    why = f"new in the current window; no such series in the baseline, while {key[1]} was measured: read as 0 then"
    rows["_from"] = why if not g["_from"].iloc[0] else f"{g['_from'].iloc[0]}; {why}"
    return _score_one(key, label_cols, rows, threshold, min_baseline)


INSTANCE_WORDS = frozenset({"instance", "pod", "host", "hostname", "container", "replica", "node"})
"""Words of a label key that names one process of a service (``instance``, ``pod``, ``k8s.pod.name``,
``service.instance.id``, ``host.name``): a rollout replaces its values."""


def _pooled_score(series: tuple, others: list[str], instances: list[pd.DataFrame], threshold: float,
                  min_baseline: int) -> SeriesScore | None:
    """The score of a series none of whose instances could be compared, pooled over its instances.

    A rollout shortly before the incident replaces every pod: each pod's series has no baseline of its own, and
    the service's metrics went uncompared, the engine blind where incidents start most often. Such a series
    (``series``: its service, name and ``others`` labels; ``instances``: the rows of each of its instances, as
    told apart by the `INSTANCE_WORDS` labels) is scored as the mean, at each time, of the values its instances
    report, the old ones' in the baseline against the new ones' now."""
    rows = pd.concat(instances, ignore_index=True)
    pooled = rows.groupby("timestamp", sort=True).agg(value=("value", "mean"), _base=("_base", "first"),
                                                      _cur=("_cur", "first")).reset_index()
    pooled["_base_value"] = pooled["_base"] & np.isfinite(pooled["value"].to_numpy(dtype=float))
    pooled["_from"] = f"the mean of its {len(instances)} instances' series, none with a baseline of its own"
    return _score_one(series, others, pooled, threshold, min_baseline)


def _key_text(values) -> str:
    """One series' key values as `score_series` tells series apart for pooling (a null as '')."""
    return "\x1f".join("" if pd.isna(v) else str(v) for v in values)


def _labels_text(labels: dict) -> str:
    """A series' labels as `SeriesScore.labels` writes them: ``k=v`` joined, the empty ones left out."""
    return ",".join(f"{c}={v}" for c, v in labels.items() if pd.notna(v) and v != "")


def uncompared_services(bundle: Bundle) -> dict[str, list[str]]:
    """Services with metric series measured in the current window that `score_series` could not compare,
    because their baseline window held too few of their points (a service new since then, a gap in the
    collection), each with the names of those series, sorted. The engine is blind there: a reviewer should know.

    A series counts as compared when any of its label variants (instances) was scored.
    """
    frame = metric_series(bundle)
    if frame is None or frame.empty:
        return {}
    current = window_masks(frame["timestamp"], bundle.incident).current
    measured = frame.loc[current & np.isfinite(frame["value"].to_numpy(dtype=float)), ["service", "name"]]
    scored = {(s.service, s.name) for s in score_series(bundle)}
    out: dict[str, list[str]] = {}
    for service, name in sorted(set(zip(measured["service"].astype(str), measured["name"].astype(str)))):
        if (service, name) not in scored:
            out.setdefault(service, []).append(name)
    return out


def _score_one(key, label_cols, g: pd.DataFrame, threshold: float, min_baseline: int) -> SeriesScore | None:
    values = g["value"].to_numpy(dtype=float)
    is_base = g["_base"].to_numpy()
    is_cur = g["_cur"].to_numpy()
    base = values[g["_base_value"].to_numpy()]
    cur = values[is_cur & np.isfinite(values)]
    if base.size < min_baseline or cur.size < 1:
        return None
    service, name = str(key[0]), str(key[1])
    family, sign = series_family(name, dict(zip(label_cols, key[2:])))
    floor, rel_floor = max(1e-9, resolution(base)), REL_FLOOR
    top = max(base.max(), cur.max())
    if is_share(name, family) and 0 <= min(base.min(), cur.min()) and top <= 100:
        # A proportion's level says nothing of its noise (99% available is not "noisier" than 1%
        # failing): the floor is one percentage point instead.
        floor, rel_floor = max(floor, 0.01 if top <= 1 else 1.0), 0.0
    else:
        floor = max(floor, count_step(base, cur))   # counts move by 1, even from a baseline that never moved
    med = float(np.median(base))
    scale = robust_scale(base, rel_floor=rel_floor, abs_floor=floor)
    point_z = (cur - med) / scale
    z_max = float(point_z[np.argmax(np.abs(point_z))])
    held = _sustained_point(point_z, sign)
    z = float(soft_cap(point_z[held], Z_CAP))
    bad_z = abs(z) if sign == 0 else sign * z
    onset = None
    if bad_z >= threshold:
        region = ~is_base & np.isfinite(values)
        rz = (values[region] - med) / scale
        flags = np.abs(rz) >= threshold if sign == 0 else sign * rz >= threshold
        i = sustained_onset(flags)
        onset = g["timestamp"].to_numpy()[region][i] if i is not None else g["timestamp"][is_cur].iloc[0]
        onset = pd.Timestamp(onset, tz="UTC") if pd.Timestamp(onset).tzinfo is None else pd.Timestamp(onset)
    labels = _labels_text(dict(zip(label_cols, key[2:])))
    return SeriesScore(service, name, labels, family, z, bad_z, z_max, med, float(np.median(cur)),
                       int(base.size), int(cur.size), onset, float(cur[held]), str(g["_from"].iloc[0]))


def _sustained_point(point_z: np.ndarray, sign: int) -> int:
    """Index of the current point whose z at least `SUSTAINED_SHARE` of the current points reach in the bad
    direction (the k-th largest z for a rise, the k-th smallest for a fall, k = `sustained_rank`).

    For a two-sided family the direction is the one whose sustained value is larger in magnitude.

    >>> int(_sustained_point(np.array([0.5, 9.0, 1.0]), +1)), int(_sustained_point(np.array([0.5, -9.0, 1.0]), 0))
    (1, 1)
    """
    k = sustained_rank(point_z.size)
    order = np.argsort(point_z, kind="stable")
    up, down = order[-k], order[k - 1]   # k-th largest, k-th smallest
    if sign > 0:
        return int(up)
    if sign < 0:
        return int(down)
    return int(up if abs(point_z[up]) >= abs(point_z[down]) else down)


def sustained_rank(n_current: int) -> int:
    """How many current points must reach a change: `SUSTAINED_SHARE` of them, at least one."""
    return max(1, int(round(SUSTAINED_SHARE * n_current)))


def service_features(scores: list[SeriesScore]) -> dict[str, dict[str, float]]:
    """Per-service ranker features from the series scores (family z's, onset rank, point counts)."""
    by_service: dict[str, list[SeriesScore]] = {}
    for s in scores:
        by_service.setdefault(s.service, []).append(s)
    onsets = {svc: min((s.onset for s in ss if s.onset is not None), default=None)
              for svc, ss in by_service.items()}
    ordered = sorted({t for t in onsets.values() if t is not None})
    rank_of = {t: i + 1 for i, t in enumerate(ordered)}
    out = {}
    for svc, ss in by_service.items():
        fam = {}
        for s in ss:
            fam[s.family] = max(fam.get(s.family, -np.inf), s.bad_z)
        request_z = max((s.z for s in ss if s.family == "traffic"), key=abs, default=0.0)
        changed = sum(s.bad_z >= THRESHOLD for s in ss)
        t = onsets[svc]
        out[svc] = {
            "metric.robust_z_max": max(abs(s.z) for s in ss),
            "metric.latency_z": fam.get("latency", 0.0),
            "metric.error_z": max(fam.get("errors", 0.0), fam.get("availability", 0.0)),
            "metric.cpu_z": fam.get("cpu", 0.0),
            "metric.memory_z": fam.get("memory", 0.0),
            "metric.request_z": request_z,
            "metric.changed_series_share": changed / len(ss),
            "metric.onset_rank": float(rank_of[t]) if t is not None else float(len(ordered) + 1),
            "metric.onset_rank_share": (rank_of[t] if t is not None else len(ordered) + 1) / (len(ordered) + 1),
            "metric.n_points_current": float(np.median([s.n_current for s in ss])),
            "metric.n_points_baseline": float(np.median([s.n_baseline for s in ss])),
        }
    _impact_features(by_service, out)
    return out


def _impact_features(by_service: dict[str, list[SeriesScore]], out: dict[str, dict[str, float]]) -> None:
    """Effect sizes in the metrics' own units, and how much of the incident's excess each service carries.

    ``metric.latency_log_ratio``: the largest log2(current / baseline median) over the service's latency
    series (0 = unchanged, 1 = doubled). ``metric.latency_excess_share`` and ``metric.error_excess_share``:
    the service's excess latency (current minus baseline, averaged over its latency series) or excess failed
    requests (failed share now minus before) times its current request volume, over the largest such excess
    among the incident's services. The volume is a request count or rate (`counts_requests`), not bytes or
    connections; a count of failed requests is no share (`is_share`) and gets none: its unit need not be the
    volume's. A service that failed 2 requests cannot explain a front end that failed
    200; a slow endpoint called 3 times adds little waiting in total. NaN when the service lacks the series.
    """
    lat_excess, err_excess = {}, {}
    for svc, ss in by_service.items():
        volume = max((s.current for s in ss if s.family == "traffic" and counts_requests(s.name)), default=np.nan)
        lat = [s for s in ss if s.family == "latency" and s.baseline > 0]
        if lat:
            out[svc]["metric.latency_log_ratio"] = max(float(np.log2(max(s.current, 1e-12) / s.baseline))
                                                       for s in lat)
            lat_excess[svc] = float(np.mean([max(s.current - s.baseline, 0.0) for s in lat])) * (
                volume if np.isfinite(volume) else 1.0)
        fails = [_failed_share(s) for s in ss if is_share(s.name, s.family)]
        fails = [f for f in fails if f is not None]
        if fails and np.isfinite(volume):
            err_excess[svc] = max(max(now - before, 0.0) for before, now in fails) * volume
    for name, excess in (("metric.latency_excess_share", lat_excess), ("metric.error_excess_share", err_excess)):
        top = max(excess.values(), default=0.0)
        for svc, value in excess.items():
            out[svc][name] = value / top if top > 0 else 0.0
            out[svc][f"_{name}"] = value            # the raw excess, in the metrics' units (not a ranker feature)


def symptom_excess_features(features: dict[str, dict[str, float]], feeders: list[str]) -> None:
    """How much of the symptom's own excess each service could account for, in place.

    ``feeders`` are the services the symptom KPI is measured on (its callers in the declared graph). For a
    service, ``metric.latency_excess_vs_symptom`` is its excess latency times volume over the largest
    feeder's, capped at 1 (1 = enough added waiting to explain the symptom's; a synchronous callee that caused
    it has at least as much), and ``metric.error_excess_vs_symptom`` the same for failed requests. Absent when
    no feeder has metrics of that family.
    """
    for name in ("metric.latency_excess_share", "metric.error_excess_share"):
        target = max((features[f][f"_{name}"] for f in feeders if f in features and f"_{name}" in features[f]),
                     default=0.0)
        if target <= 0:
            continue
        out_name = name.replace("_share", "_vs_symptom")
        for svc, f in features.items():
            if f"_{name}" in f:
                f[out_name] = min(f[f"_{name}"] / target, 1.0)


MIN_CORR_POINTS = 3


def symptom_correlations(bundle: Bundle) -> dict[str, float]:
    """Per service, how closely its series move with the symptom KPI during the incident.

    For every metric series of the symptom's families (latency series for a latency KPI, error and
    availability series for an availability or error KPI; every series when the KPI's family is unknown),
    the Pearson correlation with the symptom's ``kpi:<name>`` series over the onset region (the current
    window and, when the baseline comes first, the time between them), signed so that both moving in their
    bad directions counts as positive (|r| for a series or symptom with no bad direction). A service gets
    the mean over its series (the largest of several 3-point correlations is near 1 by chance). Points are
    matched to the KPI's timestamps, nearest within half the KPI's sampling step.

    Why: a cause and its synchronous callers rise and fall together with the symptom while the fault waxes
    and wanes; a difference between two runs (a slow batch job, a baseline recorded months away) is high
    throughout and does not follow the symptom. It is a ratio in [-1, 1], the same on any system. A series
    that stays flat while the symptom moves counts 0. Services with fewer than `MIN_CORR_POINTS` matched
    points get none (NaN to the ranker); so does every service when the symptom is not a KPI in ``kpis`` or
    the KPI itself is flat.
    """
    sym = bundle.incident.symptom
    frame, kpis = metric_series(bundle), bundle.kpis
    if sym is None or not sym.node.startswith("kpi:") or frame is None or frame.empty or kpis is None:
        return {}
    kpi_name = sym.node.split(":", 1)[1]
    k = kpis.loc[kpis["name"] == kpi_name]
    k = k.loc[window_masks(k["timestamp"], bundle.incident).region]
    y = k.groupby("timestamp", sort=True)["value"].mean()
    if len(y) < MIN_CORR_POINTS:
        return {}
    family, family_sign = metric_family(kpi_name)
    sym_sign = {"up": 1, "down": -1}.get(sym.direction, family_sign)
    families = _SYMPTOM_FAMILIES.get(family)
    frame = frame.loc[window_masks(frame["timestamp"], bundle.incident).region]
    slots_t = y.index.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    step = np.median(np.diff(slots_t))          # len(y) >= MIN_CORR_POINTS
    t = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    pos = np.clip(np.searchsorted(slots_t, t), 1, len(slots_t) - 1)
    nearest = np.where(np.abs(t - slots_t[pos - 1]) <= np.abs(slots_t[pos] - t), pos - 1, pos)
    ok = np.abs(t - slots_t[nearest]) <= step / 2
    label_cols = [c for c in frame.columns if c not in ("timestamp", "service", "name", "value")
                  and not c.startswith("_")]
    slotted = frame.loc[ok, ["service", "name", *label_cols, "value"]].assign(_slot=nearest[ok])
    yv = y.to_numpy(dtype=float)
    per_service: dict[str, list[float]] = {}
    for key, g in slotted.groupby(["service", "name", *label_cols], sort=True, observed=True, dropna=False):
        fam, sign = series_family(str(key[1]), dict(zip(label_cols, key[2:])))
        if families is not None and fam not in families:
            continue
        x = np.full(len(yv), np.nan)
        means = g.groupby("_slot")["value"].mean()
        x[means.index.to_numpy()] = means.to_numpy(dtype=float)
        both = np.isfinite(x) & np.isfinite(yv)
        if both.sum() < MIN_CORR_POINTS or np.ptp(yv[both]) == 0:
            continue
        if np.ptp(x[both]) == 0:                 # flat while the symptom moves: follows nothing
            r = 0.0
        else:
            r = float(np.corrcoef(x[both], yv[both])[0, 1])
            r = abs(r) if sign == 0 or sym_sign == 0 else r * sign * sym_sign
        per_service.setdefault(str(key[0]), []).append(r)
    return {svc: float(np.mean(rs)) for svc, rs in per_service.items()}


_SYMPTOM_FAMILIES = {"latency": ("latency",), "errors": _PROPORTION, "availability": _PROPORTION}


def _failed_share(s: SeriesScore) -> tuple[float, float] | None:
    """(baseline, current) share of failed requests from an availability or error-rate series, None for counts."""
    top = max(s.baseline, s.current)
    if min(s.baseline, s.current) < 0 or top > 100:
        return None
    scale = 100.0 if top > 1 else 1.0
    before, now = s.baseline / scale, s.current / scale
    return (1 - before, 1 - now) if s.family == "availability" else (before, now)


_KIND_FAMILIES = {
    CauseKind.DEPENDENCY_LATENCY: ("latency",),
    CauseKind.DEPENDENCY_ERRORS: ("errors", "availability"),
    CauseKind.RESOURCE_SATURATION: ("cpu", "memory", "traffic"),
}


@register("metrics")
class MetricsGenerator:
    """Robust change scores of service metrics -> service hypotheses and anomalies."""

    name = "metrics"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def generate(self, bundle: Bundle) -> Candidates:
        scores = score_series(bundle, threshold=self.threshold)
        out = Candidates()
        if not scores:
            return out
        features = service_features(scores)
        symptom = bundle.incident.symptom.node if bundle.incident.symptom is not None else None
        if symptom is not None and bundle.graph is not None and symptom in bundle.graph:
            symptom_excess_features(features, [n.split(":", 1)[1] for n in bundle.graph.predecessors(symptom)
                                               if n.startswith("service:")])
        for svc, corr in symptom_correlations(bundle).items():
            if svc in features:
                features[svc]["metric.symptom_corr"] = corr
        by_service: dict[str, list[SeriesScore]] = {}
        for s in scores:
            by_service.setdefault(s.service, []).append(s)
        for svc in sorted(by_service):
            ss = by_service[svc]
            node = node_id("service", svc)
            for kind, cand in _kind_series(ss).items():
                best = max(cand, key=lambda s: s.bad_z, default=None)
                kind_z = best.bad_z if best is not None else 0.0
                out.hypotheses.append(Hypothesis(
                    node=node, kind=kind, generator=self.name, score=max(kind_z, 0.0),
                    onset=best.onset if best is not None else None,
                    evidence=_kind_evidence(cand, self.threshold),
                    features={**features[svc], "metric.kind_z": kind_z}))
            strongest = max(ss, key=lambda s: abs(s.z))
            if abs(strongest.z) >= self.threshold:
                out.anomalies.append(Anomaly(
                    node=node, signal="metrics", score=abs(strongest.z),
                    onset=min((s.onset for s in ss if s.onset is not None), default=None),
                    direction="up" if strongest.z > 0 else "down", evidence=[_evidence(strongest)]))
        return out


def _kind_series(ss: list[SeriesScore]) -> dict[CauseKind, list[SeriesScore]]:
    """The cause kinds to propose for one service, each with the series that back it.

    Empty when no kind's series reach `WEAK_THRESHOLD`. Otherwise every kind the service has series of is
    proposed, also one whose own series barely moved: a fault's kind and the family it shows in most often
    differ (errors surface as retries and timeouts, so as latency; a saturated store as slow responses), and
    the kind is the ranker's to tell from ``metric.kind_z`` and the family z's every hypothesis carries, not a
    gate's. A traffic fall is a symptom of trouble upstream, not saturation: only rises back that kind.
    """
    kinds = {}
    for kind, families in _KIND_FAMILIES.items():
        measured = [s for s in ss if s.family in families]
        if measured:
            kinds[kind] = [s for s in measured if s.family != "traffic" or s.z > 0]
    if max((s.bad_z for cand in kinds.values() for s in cand), default=-np.inf) < WEAK_THRESHOLD:
        return {}
    return kinds


def _kind_evidence(cand: list[SeriesScore], threshold: float) -> list[Evidence]:
    """Up to 3 of the kind's series that changed (z >= ``threshold``), strongest first; when none did, its
    strongest series all the same, so a reviewer sees how little this kind's own signal moved."""
    ordered = sorted(cand, key=lambda s: -s.bad_z)
    return [_evidence(s) for s in ordered[:3] if s.bad_z >= threshold] or [_evidence(s) for s in ordered[:1]]


def _evidence(s: SeriesScore) -> Evidence:
    name = (f"{s.name}[{s.labels}]" if s.labels else s.name) + (f" ({s.source})" if s.source else "")
    return Evidence(signal="metrics", test="robust_z", value=round(s.z, 4), baseline=s.baseline, current=s.held,
                    onset=s.onset.to_pydatetime() if s.onset is not None else None,
                    detail=f"{name}: {_which_point(s)} vs "
                           + (f"the median of {s.n_baseline} baseline points" if s.n_baseline > 1
                              else "its one baseline point"))


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``... ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _which_point(s: SeriesScore) -> str:
    """Which current point the evidence's ``current`` is, e.g. ``its highest of 3 current points (median
    0.011)``: the z is that point's, so that is the value a reviewer checks, not the window's median.

    >>> s = SeriesScore("api", "latency_p95", "", "latency", 4.0, 4.0, 4.0, 1.0, 1.1, 60, 30, None, 2.0)
    >>> _which_point(s)
    'its 3rd highest of 30 current points (10% of them reach it; median 1.1)'
    """
    if s.n_current == 1:
        return "its one current point"
    k = sustained_rank(s.n_current)
    sign = _SIGNS.get(s.family, 0)
    side = "highest" if sign > 0 or (sign == 0 and s.held >= s.baseline) else "lowest"
    if k == 1:
        return f"its {side} of {s.n_current} current points (median {s.current:.3g})"
    return (f"its {ordinal(k)} {side} of {s.n_current} current points ({SUSTAINED_SHARE:.0%} of them reach it; "
            f"median {s.current:.3g})")
