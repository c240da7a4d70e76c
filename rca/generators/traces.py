"""Traces: which service got slow or started failing, and whether the whole server is starved.

From the span table (`rca.contract.bundle`) it derives, per span, the self-time (duration minus the time its direct
children cover: the union of their intervals, clipped to the span's) and whether an error is the span's own (no
child failed too).
Per service it compares baseline and current windows:

* latency: the per-trace self-time spent in the service; the test is the difference of medians over its
  large-sample standard error (``1.2533 * sigma / sqrt(n)`` per window, sigma robust) -> ``dependency_latency``;
* errors: the share of the service's spans with an own error, a pooled two-proportion z -> ``dependency_errors``;
* breadth: the share of the service's operations whose self-time rose and the share of current traces whose
  self-time in the service is above the baseline p95. A service slow across nearly all operations and
  traces is also proposed as ``resource_saturation``; the dispersion ratio (relative IQR, current over
  baseline) helps a ranker tell queueing (dispersion grows) from an added fixed delay (it shrinks);
* attribution: the service's rise in mean self-time per trace divided by the rise in mean end-to-end
  (root span) duration, an additive attribution that is exact when sibling calls do not overlap.

It also reports each entry service's end-to-end latency and error rate as anomalies (the symptom).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence
from rca.contract.nodes import node_id
from rca.contract.otlp import CALLER_KINDS
from rca.generators import register
from rca.generators.base import Anomaly, Candidates, Hypothesis
from rca.generators.windows import window_masks
from rca.stats.robust import MAD_TO_SIGMA, soft_cap, sustained_onset, two_proportion_z

THRESHOLD = 3.0
MIN_RATIO = 1.1          # a latency rise smaller than 10% is not worth naming, however significant
BROAD = 0.5              # shares of operations and traces above which a slowdown is "across the service"
MIN_SPANS = 5
N_BUCKETS = 24           # time buckets of the onset search
MEDIAN_SE = 1.2533141373155001   # sqrt(pi / 2): sd of a sample median = MEDIAN_SE * sigma / sqrt(n)


def prepare_spans(spans: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    """Spans with ``self_ms``, ``own_error``, ``own_work`` (`own_work`) and ``w`` (0 baseline, 1 current, 2 other
    onset region)."""
    s = spans[["service", "operation", "trace_id", "span_id", "parent_span_id", "start", "duration_ms", "error",
               "kind"]]
    masks = window_masks(s["start"], bundle.incident)
    w = np.full(len(s), -1, dtype=np.int8)
    w[masks.region] = 2
    w[masks.current] = 1
    w[masks.baseline] = 0
    keep = w >= 0
    s = s.loc[keep].copy()
    s["w"] = w[keep]
    # integer codes once: grouping and joining on strings is what costs time on large span tables
    s["trace_id"] = pd.factorize(s["trace_id"])[0]
    codes, _ = pd.factorize(pd.concat([s["span_id"], s["parent_span_id"]], ignore_index=True))
    s["span_id"], s["parent_span_id"] = codes[:len(s)], codes[len(s):]
    is_root = (spans["parent_span_id"] == "").to_numpy()[keep]
    s["is_root"] = is_root
    idx = pd.MultiIndex.from_arrays([s["trace_id"], s["span_id"]])
    child = s[~is_root].assign(covered_ms=_covered_ms(s, idx, ~is_root))
    agg = child.groupby(["trace_id", "parent_span_id"], sort=False).agg(child_ms=("covered_ms", "sum"),
                                                                        child_err=("error", "any"))
    got = agg.reindex(idx)
    s["self_ms"] = np.clip(s["duration_ms"].to_numpy() - got["child_ms"].fillna(0.0).to_numpy(), 0.0, None)
    s["own_error"] = s["error"].to_numpy() & ~got["child_err"].fillna(False).to_numpy(dtype=bool)
    for col in ("service", "operation"):
        s[col] = s[col].astype(str).astype("category")
    s["own_work"] = own_work(s)
    return s


def own_work(s: pd.DataFrame) -> np.ndarray:
    """Which spans measure a service's own work: all but its CLIENT and PRODUCER spans (`CALLER_KINDS`), unless a
    service has no other span in one of the windows (a peer that exported no spans, measured by its callers' CLIENT
    spans given to it; a job that only calls out), when all its spans do.

    A CLIENT span's self-time is the network and the callee's queue around the server span under it, a PRODUCER
    span's the hand-off to a broker: not the caller's work, and a mid-tier service has several per request, so a
    median over all its spans is the median of those gaps and does not move when the service itself slows down.
    The span-level statistics (``self_p50_ratio`` and its evidence, ``self_p95_ratio``, the operations' shares)
    are taken over these spans; the per-trace self-time the z tests keeps every span (the attribution of the
    end-to-end rise must add up). Per span rather than per trace, so that the ratio says how much slower one unit
    of the service's work got, whatever the number of calls a request makes."""
    work = ~np.isin(s["kind"].to_numpy(), CALLER_KINDS)
    windows = pd.Series(work & (s["w"].to_numpy() <= 1)).groupby([s["service"].to_numpy(), s["w"].to_numpy()])
    has = windows.any().unstack(fill_value=False)
    measured = has.get(0, False) & has.get(1, False)
    return work | ~s["service"].map(measured).fillna(False).to_numpy(dtype=bool)


def _covered_ms(s: pd.DataFrame, idx: pd.MultiIndex, is_child: np.ndarray) -> np.ndarray:
    """For each child span (``is_child`` rows of ``s``, whose ``(trace_id, span_id)`` is ``idx``), the milliseconds
    of its parent's interval it covers that no child before it (by start) of the same parent covers: summed per
    parent, the length of the union of the children's intervals clipped to the parent's.

    The parent's self-time is what this union leaves: concurrent children (a fan-out) wait together, so summing
    their durations clipped the parent's self-time to 0 whatever the parent did itself, and a child whose clock
    runs ahead or behind (another host) counted time outside its parent. A child inside its parent that overlaps
    no earlier sibling covers exactly its duration, as before."""
    child = s[is_child]
    start = ((s["start"] - s["start"].min()) / pd.Timedelta(milliseconds=1)).to_numpy()
    end = start + s["duration_ms"].to_numpy()
    first = ~idx.duplicated()   # a span id given twice (Zipkin's shared client and server span): its first span
    parent = idx[first].get_indexer(pd.MultiIndex.from_arrays([child["trace_id"], child["parent_span_id"]]))
    parent = np.where(parent >= 0, np.flatnonzero(first)[parent], -1)
    found = parent >= 0         # a parent outside the windows is not measured: nothing to clip to
    c_start, c_end = start[is_child], end[is_child]
    lo = np.where(found, np.maximum(c_start, start[parent]), c_start)
    hi = np.where(found, np.minimum(c_end, end[parent]), c_end)
    order = np.lexsort((lo, parent))
    frame = pd.DataFrame({"p": parent[order], "hi": hi[order]})
    # the latest end of the siblings that started earlier (-inf for a parent's first child)
    before = frame.groupby("p", sort=False)["hi"].cummax().groupby(frame["p"], sort=False).shift(1)
    reach = np.empty(len(order))
    reach[order] = before.fillna(-np.inf).to_numpy()
    reach[~found] = -np.inf
    fresh = np.maximum(hi - np.maximum(lo, reach), 0.0)
    exact = (lo == c_start) & (hi == c_end) & (reach <= c_start)
    return np.where(exact, child["duration_ms"].to_numpy(), fresh)


def _median_z(stats: pd.DataFrame) -> pd.Series:
    """Difference of medians (current - baseline) over its standard error, for a frame with columns
    ``(med, sigma, n)`` per window (MultiIndex last level ``w`` in {0, 1})."""
    b = stats.xs(0, level="w")
    c = stats.xs(1, level="w")
    b, c = b.align(c, join="inner")
    se = MEDIAN_SE * np.sqrt(b["sigma"] ** 2 / b["n"] + c["sigma"] ** 2 / c["n"])
    floor = 0.01 * b["med"].abs() + 1e-9   # a 1% difference of medians is never more than one standard error
    return (c["med"] - b["med"]) / np.maximum(se, floor)


def _robust_stats(frame: pd.DataFrame, keys: list[str], col: str) -> pd.DataFrame:
    g = frame.groupby(keys, observed=True, sort=True)[col]
    med = g.transform("median")
    dev = (frame[col] - med).abs()
    out = pd.DataFrame({"med": g.median(), "n": g.size(), "p50": g.quantile(0.5), "p95": g.quantile(0.95),
                        "p99": g.quantile(0.99), "q25": g.quantile(0.25), "q75": g.quantile(0.75)})
    out["sigma"] = dev.groupby([frame[k] for k in keys], observed=True, sort=True).median() * MAD_TO_SIGMA
    iqr_sigma = (out["q75"] - out["q25"]) / 1.3489795003921634
    out["sigma"] = out["sigma"].where(out["sigma"] > 0, iqr_sigma)
    return out


def _ratio(stats: pd.DataFrame, col: str) -> pd.Series:
    b = stats.xs(0, level="w")[col]
    c = stats.xs(1, level="w")[col]
    b, c = b.align(c, join="inner")
    return c / np.maximum(b, 1e-9)


def _onsets(frame: pd.DataFrame, keys: list[str], col: str, base: pd.DataFrame, services, *, errors=False):
    """Sustained onset per service over time buckets of the onset region (current + before it)."""
    region = frame[frame["w"] >= 1]
    if region.empty:
        return {}
    t = region["start"].astype("int64").to_numpy()
    edges = np.linspace(t.min(), t.max() + 1, N_BUCKETS + 1)
    bucket = np.searchsorted(edges, t, side="right") - 1
    g = region.assign(_b=bucket).groupby([*keys, "_b"], observed=True, sort=True)[col]
    out = {}
    if errors:
        per = pd.DataFrame({"k": g.sum(), "n": g.size()})
    else:
        per = pd.DataFrame({"med": g.median(), "n": g.size()})
    for svc in services:
        if svc not in per.index.get_level_values(0):
            continue
        p = per.xs(svc, level=0)
        if errors:
            kb, nb = base.loc[svc, "k"], base.loc[svc, "n"]
            z = np.array([two_proportion_z(kb, nb, k, n) for k, n in zip(p["k"], p["n"])])
        else:
            b = base.loc[svc]
            se = MEDIAN_SE * b["sigma"] * np.sqrt(1 / b["n"] + 1 / p["n"].to_numpy())
            z = (p["med"].to_numpy() - b["med"]) / np.maximum(se, 0.01 * abs(b["med"]) + 1e-9)
        i = sustained_onset(z >= THRESHOLD)
        if i is not None:
            out[svc] = pd.Timestamp(int(edges[p.index[i]]), tz="UTC")
    return out


def service_table(bundle: Bundle) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-service baseline-vs-current statistics of the traces.

    Returns
    -------
    (table, roots, onsets): ``table`` indexed by service with the ratios, z statistics, shares and counts
    used as ranker features; ``roots`` the same for entry services' end-to-end latency and errors; ``onsets``
    maps ``("latency"|"errors"|"e2e", service)`` to a timestamp. Empty frames when the bundle has no traces.
    """
    if bundle.spans is None or bundle.spans.empty:
        return pd.DataFrame(), pd.DataFrame(), {}
    s = prepare_spans(bundle.spans, bundle)
    both = s[s["w"] <= 1]
    if not ((both["w"] == 0).any() and (both["w"] == 1).any()):
        return pd.DataFrame(), pd.DataFrame(), {}
    per_trace = s.groupby(["trace_id", "service", "w"], observed=True, sort=False, as_index=False)["self_ms"].sum()
    per_trace = per_trace.merge(s.groupby("trace_id", sort=False)["start"].min().rename("start"),
                                left_on="trace_id", right_index=True)
    pt = per_trace[per_trace["w"] <= 1]
    self_stats = _robust_stats(pt, ["service", "w"], "self_ms")
    dur_stats = _robust_stats(both, ["service", "w"], "duration_ms")
    work = both[both["own_work"]]
    span_self = _robust_stats(work, ["service", "w"], "self_ms")
    ok = (self_stats["n"] >= MIN_SPANS).groupby(level="service").sum() == 2
    services = ok.index[ok]
    if services.empty:
        return pd.DataFrame(), pd.DataFrame(), {}
    t = pd.DataFrame(index=services)
    t["self_z"] = _median_z(self_stats)
    t["self_p50_ratio"] = _ratio(span_self, "p50")
    t["self_p50_baseline_ms"] = span_self["p50"].xs(0, level="w")
    t["self_p50_current_ms"] = span_self["p50"].xs(1, level="w")
    t["self_p95_ratio"] = _ratio(span_self, "p95")
    t["p50_ratio"] = _ratio(dur_stats, "p50")
    t["p95_ratio"] = _ratio(dur_stats, "p95")
    t["p99_ratio"] = _ratio(dur_stats, "p99")
    rel_iqr = (self_stats["q75"] - self_stats["q25"]) / np.maximum(self_stats["med"], 1e-9)
    t["dispersion_ratio"] = _ratio(rel_iqr.to_frame("d"), "d")

    # breadth: operations (of own work) whose self-time rose, traces above the baseline p95
    op_stats = _robust_stats(work, ["service", "operation", "w"], "self_ms")
    op_n = op_stats["n"].unstack("w")
    op_ok = op_n.index[(op_n.get(0, 0) >= MIN_SPANS) & (op_n.get(1, 0) >= MIN_SPANS)]
    op_z = _median_z(op_stats).reindex(op_ok)
    op_up = (op_z >= THRESHOLD) & (_ratio(op_stats, "p50").reindex(op_ok) >= MIN_RATIO)
    t["ops_affected_share"] = op_up.groupby(level="service").mean()
    t["n_operations"] = op_up.groupby(level="service").size()
    base_p95 = self_stats["p95"].xs(0, level="w")
    cur = pt[pt["w"] == 1]
    above = cur["self_ms"].to_numpy() > cur["service"].map(base_p95).to_numpy(dtype=float)
    t["traces_affected_share"] = pd.Series(above, index=cur["service"].to_numpy()).groupby(level=0).mean()

    # attribution of the end-to-end increase
    n_traces = both.groupby("w")["trace_id"].nunique()
    per_trace_mean = both.groupby(["service", "w"], observed=True)["self_ms"].sum().unstack("w").fillna(0.0)
    per_trace_mean = per_trace_mean / n_traces
    roots_all = s[s["is_root"]]
    roots = roots_all[roots_all["w"] <= 1]
    e2e = roots.groupby("w")["duration_ms"].mean()
    e2e_delta = float(e2e.get(1, np.nan) - e2e.get(0, np.nan))
    delta = per_trace_mean.get(1, 0.0) - per_trace_mean.get(0, 0.0)
    t["self_ms_per_trace_delta"] = delta
    t["share_of_e2e_increase"] = np.clip(delta / e2e_delta, -1.0, 1.5) if e2e_delta > 0 else 0.0
    t["e2e_delta_ms"] = e2e_delta if np.isfinite(e2e_delta) else 0.0

    # own errors
    err = both.groupby(["service", "w"], observed=True)["own_error"].agg(k="sum", n="size")
    ek, en = err["k"].unstack("w").reindex(services).fillna(0), err["n"].unstack("w").reindex(services).fillna(0)
    t["error_rate_baseline"] = ek[0] / en[0]
    t["error_rate_current"] = ek[1] / en[1]
    t["error_rate_delta"] = t["error_rate_current"] - t["error_rate_baseline"]
    t["error_z"] = [two_proportion_z(ek.at[v, 0], en.at[v, 0], ek.at[v, 1], en.at[v, 1]) for v in services]
    t["n_spans_current"] = en[1]
    t["n_spans_baseline"] = en[0]
    t = t.fillna({"ops_affected_share": 0.0, "traces_affected_share": 0.0, "dispersion_ratio": 1.0,
                  "n_operations": 0.0})

    lat = t.index[(t["self_z"] >= THRESHOLD) & (t["self_p50_ratio"].fillna(0) >= MIN_RATIO)].tolist()
    erring = t.index[(t["error_z"] >= THRESHOLD) & (t["error_rate_delta"] > 0)].tolist()
    onsets = {("latency", v): o for v, o in _onsets(per_trace, ["service"], "self_ms",
                                                    self_stats.xs(0, level="w"), lat).items()}
    err_base = pd.DataFrame({"k": ek[0], "n": en[0]})
    errs = s[s["w"] >= 1].assign(k=lambda f: f["own_error"].astype(float))
    onsets.update({("errors", v): o for v, o in _onsets(errs, ["service"], "k", err_base, erring,
                                                        errors=True).items()})

    t["is_entry"] = 0.0
    if not ((roots["w"] == 0).any() and (roots["w"] == 1).any()):  # no root in a window: parent ids in a cycle
        no_roots = pd.DataFrame(columns=["z", "p95_ratio", "error_z", "error_rate_baseline", "error_rate_current"])
        return t, no_roots, onsets
    # entry services: the end-to-end symptom
    root_stats = _robust_stats(roots, ["service", "w"], "duration_ms")
    rt = pd.DataFrame({"z": _median_z(root_stats), "p95_ratio": _ratio(root_stats, "p95")})
    rerr = roots.groupby(["service", "w"], observed=True)["error"].agg(k="sum", n="size")
    rk, rn = rerr["k"].unstack("w").reindex(rt.index).fillna(0), rerr["n"].unstack("w").reindex(rt.index).fillna(0)
    rt["error_z"] = [two_proportion_z(rk.at[v, 0], rn.at[v, 0], rk.at[v, 1], rn.at[v, 1]) for v in rt.index]
    rt["error_rate_baseline"], rt["error_rate_current"] = rk[0] / rn[0], rk[1] / rn[1]
    slow_roots = rt.index[rt["z"] >= THRESHOLD].tolist()
    onsets.update({("e2e", v): o for v, o in _onsets(roots_all, ["service"], "duration_ms",
                                                     root_stats.xs(0, level="w"), slow_roots).items()})
    t["is_entry"] = t.index.isin(rt.index).astype(float)
    return t, rt, onsets


_FEATURES = ("p95_ratio", "p99_ratio", "self_p50_ratio", "self_p95_ratio", "error_rate_delta", "share_of_e2e_increase",
             "traces_affected_share", "ops_affected_share", "dispersion_ratio", "self_z", "error_z", "is_entry")


@register("traces")
class TracesGenerator:
    """Slow or failing services from traces -> dependency_latency / dependency_errors / resource_saturation."""

    name = "traces"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        t, rt, onsets = service_table(bundle)
        if t.empty:
            return out
        for svc, row in t.iterrows():
            node = node_id("service", svc)
            feats = {f"trace.{k}": float(np.nan_to_num(row[k], nan=0.0)) for k in _FEATURES}
            if row["self_z"] >= self.threshold and row["self_p50_ratio"] >= MIN_RATIO:
                onset = onsets.get(("latency", svc))
                ev = Evidence(signal="traces", test="median_self_time_z", value=round(float(row["self_z"]), 4),
                              p_value=float(norm.sf(row["self_z"])), baseline=float(row["self_p50_baseline_ms"]),
                              current=float(row["self_p50_current_ms"]),
                              onset=onset, detail=(f"self-time p50 x{row['self_p50_ratio']:.2f}, p95 "
                                                   f"x{row['self_p95_ratio']:.2f}; "
                                                   f"{row['share_of_e2e_increase']:.0%} of the end-to-end rise"))
                score = float(soft_cap(row["self_z"]))
                # Queueing widens the relative spread of times (dispersion ratio > 1); an added fixed delay
                # narrows it. The shape shifts weight between the two readings; both stay on the list.
                disp = float(np.nan_to_num(row["dispersion_ratio"], nan=1.0))
                out.hypotheses.append(Hypothesis(node=node, kind=CauseKind.DEPENDENCY_LATENCY, generator=self.name,
                                                 score=score * min(1.0, 1.0 / max(disp, 1e-9)), onset=onset,
                                                 evidence=[ev], features=feats))
                if row["ops_affected_share"] >= BROAD and row["traces_affected_share"] >= BROAD:
                    out.hypotheses.append(Hypothesis(
                        node=node, kind=CauseKind.RESOURCE_SATURATION, generator=self.name,
                        score=score * float(row["traces_affected_share"]) * min(1.0, disp), onset=onset,
                        evidence=[ev], features=dict(feats)))
            if row["error_z"] >= self.threshold and row["error_rate_delta"] > 0:
                onset = onsets.get(("errors", svc))
                ev = Evidence(signal="traces", test="two_proportion_z", value=round(float(row["error_z"]), 4),
                              p_value=float(norm.sf(row["error_z"])), baseline=float(row["error_rate_baseline"]),
                              current=float(row["error_rate_current"]), onset=onset,
                              detail="share of spans with an error of their own (no failing child)")
                out.hypotheses.append(Hypothesis(node=node, kind=CauseKind.DEPENDENCY_ERRORS, generator=self.name,
                                                 score=float(soft_cap(row["error_z"])), onset=onset, evidence=[ev],
                                                 features=feats))
        for svc, row in rt.iterrows():
            for test, z, up in (("median_e2e_latency_z", row["z"], True), ("e2e_error_rate_z", row["error_z"], True)):
                if z >= self.threshold and up:
                    onset = onsets.get(("e2e", svc)) if test.startswith("median") else None
                    out.anomalies.append(Anomaly(
                        node=node_id("service", svc), signal="traces", score=float(soft_cap(z)), onset=onset,
                        direction="up", evidence=[Evidence(signal="traces", test=test, value=round(float(z), 4),
                                                           p_value=float(norm.sf(z)), onset=onset)]))
        return out
