"""Rendering requests through the world: segments, features, service calls, versions, scores and labels.

`Sim` holds the state of one incident as arrays over a population of requests and a minute grid. Faults and
decoys (`rca.simulate.faults`, `rca.simulate.decoys`) change it through hooks called between the stages, so a
fault propagates the way a real one does: a slow feature store makes lookups time out, the features it
serves take their defaults, scores move, and the KPIs computed from them follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rca.simulate.world import Feature, World

MINUTE_MS = 60_000


class Hooks(Protocol):
    """What a fault or a decoy may change; every hook is optional (see `rca.simulate.faults.Fault`)."""

    def world_shape(self, sim: Sim) -> None: ...
    def true_features(self, sim: Sim) -> None: ...
    def served_features(self, sim: Sim) -> None: ...
    def scoring(self, sim: Sim) -> None: ...
    def labels(self, sim: Sim) -> None: ...
    def observed_labels(self, sim: Sim) -> None: ...


@dataclass
class Sim:
    world: World
    rng: np.random.Generator
    n: int
    n_train: int
    t0_ms: int = 0
    minutes: int = 0
    load: np.ndarray = field(default_factory=lambda: np.zeros(0))
    level_share: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (minutes, levels)
    latency_factor: dict[str, np.ndarray] = field(default_factory=dict)
    error_prob: dict[str, np.ndarray] = field(default_factory=dict)
    cpu_extra: dict[str, np.ndarray] = field(default_factory=dict)
    minute: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    ts_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    level: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    second_level: np.ndarray | None = None
    train: dict[str, np.ndarray] = field(default_factory=dict)
    true: dict[str, np.ndarray] = field(default_factory=dict)
    served: dict[str, np.ndarray] = field(default_factory=dict)
    serving_dtype: dict[str, tuple[int, str]] = field(default_factory=dict)  # feature -> (from ms, dtype)
    new_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)  # names of codes >= len(levels)
    zstats: dict[str, tuple[float, float]] = field(default_factory=dict)
    svc_latency: dict[str, np.ndarray] = field(default_factory=dict)
    svc_error: dict[str, np.ndarray] = field(default_factory=dict)
    failed: dict[str, np.ndarray] = field(default_factory=dict)  # lookup timed out or errored
    versions: list[str] = field(default_factory=list)
    version: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    version_noise: dict[int, dict[str, float]] = field(default_factory=dict)
    model_weights: dict[str, float] = field(default_factory=dict)
    true_weights: dict[str, float] = field(default_factory=dict)
    true_weight_after: dict[str, tuple[int, float]] = field(default_factory=dict)  # concept drift
    model_null: dict[str, np.ndarray] = field(default_factory=dict)  # rows whose value the model cannot parse
    intercept: float = 0.0
    threshold: float | None = None  # the decision threshold on the score (from the training scores)
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    label_true: np.ndarray = field(default_factory=lambda: np.zeros(0))
    label_obs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    request_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    events: list[dict] = field(default_factory=list)

    def minute_of(self, when) -> int:
        return int((int(when.timestamp() * 1000) - self.t0_ms) // MINUTE_MS)

    def after(self, minute: int) -> np.ndarray:
        return self.minute >= minute

    def ramp(self, start: int, length: int) -> np.ndarray:
        """Per request: 0 before ``start``, rising linearly to 1 over ``length`` minutes."""
        return np.clip((self.minute - start) / max(length, 1), 0.0, 1.0)


# ------------------------------------------------------------------------------------------ distributions
def sample_feature(rng: np.random.Generator, f: Feature, n: int, *, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """Draw ``n`` values of a feature; ``shift`` (per row, in standard units) moves the distribution."""
    shift = np.broadcast_to(np.asarray(shift, dtype=float), (n,))
    if f.ftype == "amount":
        mu, sigma = f.params
        return np.round(np.exp(rng.normal(mu + shift * sigma, sigma)), 2)
    if f.ftype == "count":
        lam, dispersion = f.params
        lam_row = lam * np.exp(0.5 * shift)
        return rng.negative_binomial(dispersion, dispersion / (dispersion + lam_row)).astype(float)
    if f.ftype == "ratio":
        a, b = f.params
        return np.round(rng.beta(a * np.exp(0.6 * shift), b), 4)
    if f.ftype == "flag":
        p = f.params[0]
        logit = np.log(p / (1 - p)) + shift
        return (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(float)
    probs = np.asarray(f.level_probs, dtype=float)
    probs = probs / probs.sum()
    base = rng.choice(len(probs), n, p=probs)
    if not np.any(shift):
        return base.astype(float)
    tilted = probs * np.exp(0.8 * np.arange(len(probs)) / len(probs) * 3)
    tilted /= tilted.sum()
    alt = rng.choice(len(probs), n, p=tilted)
    use_alt = rng.uniform(size=n) < np.clip(np.abs(shift) / 2, 0, 1)
    return np.where(use_alt, alt, base).astype(float)


def transform(f: Feature, x: np.ndarray) -> np.ndarray:
    """The model's own preprocessing of a numeric feature (before standardization)."""
    if f.ftype in ("amount", "count"):
        return np.log1p(np.maximum(x, 0))
    return x


def standardized(sim: Sim, f: Feature, x: np.ndarray) -> np.ndarray:
    """Model input: standardized numeric values, or per-level effects; nulls and unknown levels give 0."""
    if f.ftype == "category":
        effects = np.asarray(f.level_effects)
        codes = np.nan_to_num(x, nan=-1).astype(int)
        ok = (codes >= 0) & (codes < len(effects))
        return np.where(ok, effects[np.clip(codes, 0, len(effects) - 1)], 0.0)
    mean, std = sim.zstats[f.name]
    z = (transform(f, x) - mean) / std
    return np.clip(np.nan_to_num(z, nan=0.0), -8, 8)


# ------------------------------------------------------------------------------------------------ stages
def setup(sim: Sim) -> None:
    w = sim.world
    sim.t0_ms = int(w.baseline_start.timestamp() * 1000)
    sim.minutes = w.hours * 60
    hour_of_day = (w.baseline_start.hour + np.arange(sim.minutes) / 60.0) % 24
    sim.load = 1 + w.diurnal_amplitude * np.cos(2 * np.pi * (hour_of_day - w.diurnal_peak_hour) / 24)
    sim.level_share = np.tile(w.level_shares, (sim.minutes, 1))
    for s in w.services:
        sim.latency_factor[s.name] = np.ones(sim.minutes)
        sim.error_prob[s.name] = np.full(sim.minutes, float(sim.rng.uniform(0.0005, 0.004)))
        sim.cpu_extra[s.name] = np.zeros(sim.minutes)
    sim.versions = list(w.versions)
    for f in w.features:
        sim.model_weights[f.name] = f.weight
        sim.true_weights[f.name] = f.weight * float(sim.rng.uniform(0.85, 1.15))


def requests(sim: Sim) -> None:
    """Request times (diurnal), their segments, and the training sample."""
    w, rng = sim.world, sim.rng
    p = sim.load / sim.load.sum()
    sim.minute = np.sort(rng.choice(sim.minutes, sim.n, p=p))
    sim.ts_ms = sim.t0_ms + sim.minute * MINUTE_MS + rng.integers(0, MINUTE_MS, sim.n)
    shares = sim.level_share[sim.minute]
    cum = np.cumsum(shares, axis=1)
    sim.level = np.minimum((rng.uniform(size=(sim.n, 1)) > cum).sum(axis=1), len(w.levels) - 1)
    if w.second_dimension is not None:
        sim.second_level = rng.choice(len(w.second_dimension[1]), sim.n, p=[0.45, 0.3, 0.15, 0.1])
    for f in w.features:
        sim.train[f.name] = sample_feature(rng, f, sim.n_train)
        if f.numeric:
            t = transform(f, sim.train[f.name])
            sim.zstats[f.name] = (float(np.mean(t)), float(np.std(t)) or 1.0)


def true_features(sim: Sim) -> None:
    w = sim.world
    hour_of_day = (w.baseline_start.hour + sim.minute / 60.0) % 24
    seasonal = 0.25 * np.cos(2 * np.pi * (hour_of_day - w.diurnal_peak_hour) / 24)
    for f in w.features:
        shift = seasonal if f.name == w.seasonal_feature else 0.0
        sim.true[f.name] = sample_feature(sim.rng, f, sim.n, shift=shift)


def service_calls(sim: Sim) -> None:
    """Latency and errors of every service call; a feature lookup that times out or errors fails."""
    rng, w = sim.rng, sim.world
    load_effect = 1 + 0.15 * (sim.load[sim.minute] - 1)
    total = np.zeros(sim.n)
    for s in w.services:
        lat = s.median_ms * sim.latency_factor[s.name][sim.minute] * load_effect * np.exp(
            rng.normal(0, s.sigma, sim.n))
        err = rng.uniform(size=sim.n) < sim.error_prob[s.name][sim.minute]
        timed_out = np.zeros(sim.n, bool) if s.timeout_ms is None else lat > s.timeout_ms
        if s.timeout_ms is not None:
            lat = np.minimum(lat, s.timeout_ms)
        sim.svc_latency[s.name], sim.svc_error[s.name] = np.round(lat, 3), err
        sim.failed[s.name] = timed_out | err
        total += lat
    sim.request_ms = np.round(total, 1)


def served_features(sim: Sim) -> None:
    """What the model receives: the true values, with failed lookups replaced by each feature's default."""
    rng = sim.rng
    for f in sim.world.features:
        x = sim.true[f.name].copy()
        x[rng.uniform(size=sim.n) < 0.002] = np.nan  # a trickle of nulls is normal
        if f.service is not None:
            x[sim.failed[f.service]] = np.nan if f.ftype == "category" else f.default
        sim.served[f.name] = x


def default_versions(sim: Sim) -> None:
    sim.version = np.full(sim.n, len(sim.world.versions) - 1)


def logit(sim: Sim, values: dict[str, np.ndarray], weights: dict[str, float], *, model_view: bool = False
          ) -> np.ndarray:
    """The linear part of a logit over ``values``; with ``model_view``, unparseable rows read as null."""
    out = 0.0
    for f in sim.world.features:
        x = values[f.name]
        if model_view and f.name in sim.model_null:
            x = np.where(sim.model_null[f.name], np.nan, x)
        out = out + weights[f.name] * standardized(sim, f, x)
    return np.asarray(out, dtype=float)


def scores(sim: Sim) -> None:
    w = sim.world
    if not sim.intercept:
        base = logit(sim, sim.train, sim.model_weights)  # calibrated on the training sample
        sim.intercept = w.intercept - float(np.mean(base)) - 0.5 * float(np.var(base)) / 3
    lin = np.empty(sim.n)
    for v in np.unique(sim.version):
        weights = {k: sim.model_weights[k] + sim.version_noise.get(int(v), {}).get(k, 0.0)
                   for k in sim.model_weights}
        rows = sim.version == v
        lin[rows] = logit(sim, sim.served, weights, model_view=True)[rows]
    sim.score = np.round(1 / (1 + np.exp(-(sim.intercept + lin))), 4)


def true_labels(sim: Sim) -> None:
    w, rng = sim.world, sim.rng
    weights = dict(sim.true_weights)
    lin = logit(sim, sim.true, weights)
    for name, (start, new_weight) in sim.true_weight_after.items():
        f = w.feature(name)
        delta = (new_weight - weights[name]) * standardized(sim, f, sim.true[name])
        lin += np.where(sim.after(start), delta, 0.0)
    weak = sim.level == w.levels.index(w.weak_level)
    lin = np.where(weak, 0.3 * lin + rng.normal(0, 1.0, sim.n) + 0.8, lin)
    p = 1 / (1 + np.exp(-(sim.intercept + lin + rng.normal(0, 0.5, sim.n))))
    sim.label_true = (rng.uniform(size=sim.n) < p).astype(float)
    coverage = float(rng.uniform(0.97, 1.0))
    sim.label_obs = np.where(rng.uniform(size=sim.n) < coverage, sim.label_true, np.nan)
