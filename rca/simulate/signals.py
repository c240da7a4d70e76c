"""Rendering a simulated incident into the contract's signal families (plain dicts and column arrays).

Tables come out as ``{column: numpy array}`` so `rca.simulate.write` can write them with fixed Parquet
options; JSON documents come out as plain dicts and lists in a stable order.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from rca.contract.timestamps import format_timestamp
from rca.simulate.traffic import MINUTE_MS, Sim, logit
from rca.simulate.world import Feature


def _iso_ms(sim: Sim, ms: int) -> str:
    return format_timestamp(sim.world.baseline_start + timedelta(milliseconds=int(ms - sim.t0_ms)))


def training_scores(sim: Sim) -> np.ndarray:
    return 1 / (1 + np.exp(-(sim.intercept + logit(sim, sim.train, sim.model_weights))))


def decision_mask(sim: Sim, scores: np.ndarray) -> np.ndarray:
    """Rows where the model's decision is taken (approved, ad served, offer made...)."""
    if sim.threshold is None:
        sim.threshold = float(np.quantile(training_scores(sim), 1 - min(0.5, 2 * sim.world.positive_rate)))
    thr = sim.threshold
    return scores < thr if "approval" in sim.world.decision_kpi else scores >= thr


# ------------------------------------------------------------------------------------------- predictions
def predictions(sim: Sim, rows: np.ndarray, *, with_labels: bool, trace_ids: dict[int, str]) -> dict:
    w = sim.world
    table: dict[str, object] = {
        "timestamp": sim.ts_ms[rows],
        "model_version": np.asarray(sim.versions, dtype=object)[sim.version[rows]],
        "score": sim.score[rows],
    }
    if with_labels:
        table["label"] = sim.label_obs[rows]
    table["latency_ms"] = sim.request_ms[rows]
    table["trace_id"] = np.asarray([trace_ids.get(int(r)) for r in rows], dtype=object)
    table[w.dimension] = np.asarray(w.levels, dtype=object)[sim.level[rows]]
    if w.second_dimension is not None and sim.second_level is not None:
        table[w.second_dimension[0]] = np.asarray(w.second_dimension[1], dtype=object)[sim.second_level[rows]]
    return table


# -------------------------------------------------------------------------------------------- histograms
def edges_for(f: Feature, train: np.ndarray) -> list[float]:
    if f.ftype == "ratio":
        return [round(x, 2) for x in np.linspace(0, 1, 11)]
    if f.ftype == "flag":
        return [-0.5, 0.5, 1.5]
    inner = np.quantile(train, np.linspace(0, 1, 13)[1:-1])
    top = float(np.max(train))
    if f.ftype == "count":
        cuts = np.unique(np.floor(inner)) + 0.5
        return [-0.5, *[float(c) for c in cuts if -0.5 < c < top + 0.5], top + 0.5]
    cuts = np.unique(np.round(inner, 2))
    hi = float(np.round(top * 1.05 + 0.01, 2))
    return [0.0, *[float(c) for c in cuts if 0 < c < hi], hi]


def _numeric(f: Feature, x: np.ndarray, edges: list[float]) -> dict:
    null = np.isnan(x)
    v = x[~null]
    counts, _ = np.histogram(v, bins=edges)
    out = {"edges": edges, "counts": counts.astype(int).tolist(), "underflow": int(np.sum(v < edges[0])),
           "overflow": int(np.sum(v > edges[-1])), "nulls": int(null.sum()), "total": int(len(x))}
    if len(v):
        out["mean"] = round(float(np.mean(v)), 4)
    return out


def _categorical(sim: Sim, f: Feature, x: np.ndarray) -> dict:
    names = list(f.categories) + list(sim.new_categories.get(f.name, ()))
    null = np.isnan(x)
    codes = x[~null].astype(int)
    counts = np.bincount(codes, minlength=len(names))
    keep = np.flatnonzero(counts)
    return {"categories": [names[i] for i in keep], "counts": counts[keep].astype(int).tolist(),
            "nulls": int(null.sum()), "total": int(len(x))}


def histograms(sim: Sim) -> list[dict]:
    w = sim.world
    bucket = sim.minute // 60
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(w.hours + 1))
    lines = []
    for f in w.features:
        kind = "numeric" if f.numeric else "categorical"
        edges = edges_for(f, sim.train[f.name]) if f.numeric else None
        body = _numeric(f, sim.train[f.name], edges) if f.numeric else _categorical(sim, f, sim.train[f.name])
        lines.append({"feature": f.name, "role": "training", "type": kind, "dtype": f.dtype, **body})
        x_all = sim.served[f.name][order]
        for b in range(w.hours):
            x = x_all[bounds[b]:bounds[b + 1]]
            start_ms = sim.t0_ms + b * 60 * MINUTE_MS
            end_ms = start_ms + 60 * MINUTE_MS
            dtype = f.dtype
            if f.name in sim.serving_dtype and end_ms > sim.serving_dtype[f.name][0]:
                dtype = sim.serving_dtype[f.name][1]
            body = _numeric(f, x, edges) if f.numeric else _categorical(sim, f, x)
            lines.append({"feature": f.name, "role": "serving", "start": _iso_ms(sim, start_ms),
                          "end": _iso_ms(sim, end_ms), "type": kind, "dtype": dtype, **body})
    return lines


def feature_samples(sim: Sim, rows: np.ndarray, n_training: int) -> dict:
    """A raw sample: serving rows from ``rows`` and training rows dated in the 30 days before the baseline."""
    rng, w = sim.rng, sim.world
    train_rows = np.sort(rng.choice(sim.n_train, min(n_training, sim.n_train), replace=False))
    train_ts = np.sort(sim.t0_ms - rng.integers(1, 30 * 24 * 60, len(train_rows)) * MINUTE_MS)
    table: dict[str, object] = {"timestamp": np.concatenate([train_ts, sim.ts_ms[rows]]),
                                "role": np.asarray(["training"] * len(train_rows) + ["serving"] * len(rows),
                                                   dtype=object)}
    for f in w.features:
        x = np.concatenate([sim.train[f.name][train_rows], sim.served[f.name][rows]])
        if f.numeric:
            table[f.name] = x
        else:
            names = np.asarray(list(f.categories) + list(sim.new_categories.get(f.name, ())), dtype=object)
            codes = np.nan_to_num(x, nan=0).astype(int)
            table[f.name] = np.where(np.isnan(x), None, names[codes])
    return table


# ------------------------------------------------------------------------------------------------- KPIs
def kpi_values(sim: Sim, name: str, rows: np.ndarray) -> float | None:
    """One KPI over the requests in ``rows`` (boolean mask); None when it is undefined there."""
    w = sim.world
    if not rows.any():
        return None
    decided = decision_mask(sim, sim.score[rows])
    if name == w.decision_kpi:
        return float(np.mean(decided))
    if name == "requests":
        return float(rows.sum() * 25)  # the population is a 1-in-25 sample of traffic
    if name == "p95_latency_ms":
        return float(np.quantile(sim.request_ms[rows], 0.95))
    if name == w.outcome_kpi:  # losses let through for approvals; the event's own rate otherwise
        positives = sim.label_true[rows]
        return float(np.mean(positives * decided)) if "approval" in w.decision_kpi else float(np.mean(positives))
    if name == "model_precision":
        flagged = ~decided if "approval" in w.decision_kpi else decided
        labels = sim.label_obs[rows][flagged]
        labels = labels[~np.isnan(labels)]
        return float(np.mean(labels)) if len(labels) else None
    raise ValueError(f"unknown KPI {name!r}")


def kpis(sim: Sim, names: tuple[str, ...]) -> dict:
    w = sim.world
    hour = sim.minute // 60
    cols: dict[str, list] = {"timestamp": [], "name": [], "value": [], w.dimension: []}
    for h in range(w.hours):
        in_hour = hour == h
        for li, level in enumerate(w.levels):
            rows = in_hour & (sim.level == li)
            for name in names:
                value = kpi_values(sim, name, rows)
                if value is None:
                    continue
                cols["timestamp"].append(sim.t0_ms + h * 60 * MINUTE_MS)
                cols["name"].append(name)
                cols["value"].append(round(value, 5))
                cols[w.dimension].append(level)
    return {k: np.asarray(v, dtype=object if k in ("name", w.dimension) else None) for k, v in cols.items()}


def symptom(sim: Sim, names: tuple[str, ...]) -> dict:
    """The KPI that moved most (robust z of the current hours against the baseline hours)."""
    w = sim.world
    hour = sim.minute // 60
    current_from = w.hours - int((w.current_end - w.current_start).total_seconds() // 3600)
    best = (0.0, names[0], "down")
    for name in names:
        series = np.array([np.nan if (v := kpi_values(sim, name, hour == h)) is None else v
                           for h in range(w.hours)])
        base, cur = series[:current_from], series[current_from:]
        base, cur = base[~np.isnan(base)], cur[~np.isnan(cur)]
        if len(base) < 3 or not len(cur):
            continue
        spread = float(np.std(base)) or 1e-9
        z = (float(np.mean(cur)) - float(np.mean(base))) / spread
        if abs(z) > abs(best[0]):
            best = (z, name, "up" if z > 0 else "down")
    return {"node": f"kpi:{best[1]}", "direction": best[2]}


# ---------------------------------------------------------------------------------------------- metrics
def metrics(sim: Sim, step_minutes: int) -> dict:
    rng, w = sim.rng, sim.world
    n_steps = sim.minutes // step_minutes
    ts = sim.t0_ms + np.arange(n_steps) * step_minutes * MINUTE_MS

    def per_step(a: np.ndarray) -> np.ndarray:
        return a[: n_steps * step_minutes].reshape(n_steps, step_minutes).mean(axis=1)

    load = per_step(sim.load)
    parts: dict[str, list] = {"timestamp": [], "service": [], "instance": [], "name": [], "value": []}
    for s in w.services:
        base_rps = float(rng.uniform(20, 400))
        cpu0, mem0 = float(rng.uniform(0.15, 0.45)), float(rng.uniform(0.3, 0.6))
        lat = per_step(sim.latency_factor[s.name])
        err = per_step(sim.error_prob[s.name])
        cpu_extra = per_step(sim.cpu_extra[s.name])
        for i in range(s.instances):
            noise = lambda scale: rng.normal(0, scale, n_steps)  # noqa: E731
            values = {
                "cpu_usage": np.clip(cpu0 * (0.5 + 0.5 * load) + cpu_extra + noise(0.02), 0.01, 1.0),
                "memory_usage": np.clip(mem0 + 0.4 * cpu_extra + np.cumsum(noise(0.002)), 0.05, 1.0),
                "latency_p95": s.median_ms * lat * (1 + 0.15 * (load - 1)) * np.exp(1.645 * s.sigma)
                * np.exp(noise(0.06)),
                "request_rate": base_rps * load / s.instances * np.exp(noise(0.03)),
                "error_rate": np.clip(err + noise(0.0008), 0, 1),
            }
            digits = {"cpu_usage": 3, "memory_usage": 3, "latency_p95": 1, "request_rate": 1, "error_rate": 4}
            for name, v in values.items():
                parts["timestamp"].append(ts)
                parts["service"].append(np.full(n_steps, s.name, dtype=object))
                parts["instance"].append(np.full(n_steps, f"{s.name}-{i}", dtype=object))
                parts["name"].append(np.full(n_steps, name, dtype=object))
                parts["value"].append(np.round(v, digits[name]))
    return {k: np.concatenate(v) for k, v in parts.items()}
