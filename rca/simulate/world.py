"""A random world for one simulated incident: the model, its features, the request path, lineage, KPIs.

Everything here is drawn from one seeded ``numpy.random.Generator``; nothing reads the clock. The world is
the *healthy* system; `rca.simulate.faults` says what breaks and `rca.simulate.traffic` renders requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

# (model name, positive rate, decision KPI, outcome KPI, entry service, entity prefixes)
TASKS = (
    ("fraud-scorer", (0.02, 0.06), "approval_rate", "fraud_loss_rate", "checkout-api", ("card", "user", "merchant")),
    ("ctr-model", (0.03, 0.10), "ads_served_rate", "click_through_rate", "ads-api", ("user", "ad", "publisher")),
    ("churn-model", (0.10, 0.25), "retention_offer_rate", "churn_rate", "crm-api", ("account", "user", "plan")),
    ("credit-risk", (0.05, 0.15), "loan_approval_rate", "default_rate", "lending-api", ("applicant", "loan", "user")),
    ("ltv-model", (0.08, 0.20), "vip_flag_rate", "high_value_rate", "growth-api", ("customer", "order", "user")),
)
FEATURE_TYPES = ("amount", "count", "ratio", "category", "flag")
_STEMS = {
    "amount": ("amount", "balance", "spend", "avg_amount", "max_amount", "revenue", "credit_limit", "income"),
    "count": ("n_events", "n_logins", "n_orders", "n_devices", "n_sessions", "n_declines", "n_clicks", "n_tickets"),
    "ratio": ("decline_ratio", "click_ratio", "return_ratio", "utilization", "refund_ratio", "open_ratio"),
    "category": ("category", "country_code", "device_os", "browser", "plan_type", "region", "payment_method",
                 "channel_code", "segment_code", "currency"),
    "flag": ("is_new_device", "has_2fa", "is_vpn", "is_weekend", "email_verified", "is_returning", "has_promo"),
}
_WINDOWS = ("", "_1h", "_24h", "_7d", "_30d", "_90d")
OPTIONAL_SERVICES = ("user-profile", "geoip", "rules-engine", "session-store", "risk-cache", "auth", "catalog")
FEATURE_SERVING = frozenset({"user-profile", "geoip", "session-store", "risk-cache"})
SOURCES = ("events_db", "payments_db", "clickstream", "crm_export", "bureau_api", "orders_db", "device_logs")
DIMENSIONS = {"country": ("US", "BR", "DE", "IN", "MX", "FR", "GB", "NG", "ID", "PH"),
              "channel": ("web", "ios", "android", "partner", "api")}


@dataclass(frozen=True)
class Feature:
    """One model input. Numeric values are floats (NaN = null); categoricals are integer level codes."""

    name: str
    ftype: str
    dtype: str
    weight: float  # model logit change per standard deviation (or scale of per-level effects)
    params: tuple[float, ...]
    pipeline: str
    service: str | None  # the online service that serves it; None = computed inside the entry service
    categories: tuple[str, ...] = ()
    level_probs: tuple[float, ...] = ()
    level_effects: tuple[float, ...] = ()
    default: float = 0.0  # what the serving path substitutes when a lookup fails

    @property
    def numeric(self) -> bool:
        return self.ftype != "category"


@dataclass(frozen=True)
class Service:
    name: str
    role: str  # entry | feature | model | other
    median_ms: float
    sigma: float
    instances: int
    timeout_ms: float | None = None


@dataclass
class World:
    """The healthy system of one incident."""

    model: str
    positive_rate: float
    decision_kpi: str
    outcome_kpi: str
    features: list[Feature]
    services: list[Service]
    pipelines: dict[str, tuple[str, ...]]  # pipeline -> the sources it reads
    label_pipeline: str
    versions: tuple[str, ...]  # older first; the last is the one serving at the end of the baseline
    dimension: str  # the segment dimension carried by predictions and KPIs
    levels: tuple[str, ...]
    level_shares: np.ndarray
    weak_level: str  # the segment where the model is weak
    second_dimension: tuple[str, tuple[str, ...]] | None
    kpis: tuple[str, ...]
    intercept: float
    baseline_start: datetime
    current_start: datetime
    current_end: datetime
    detected_at: datetime
    diurnal_amplitude: float
    diurnal_peak_hour: float
    seasonal_feature: str
    extra: dict = field(default_factory=dict)

    @property
    def entry(self) -> Service:
        return next(s for s in self.services if s.role == "entry")

    @property
    def model_server(self) -> Service:
        return next(s for s in self.services if s.role == "model")

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    @property
    def hours(self) -> int:
        return int((self.current_end - self.baseline_start) / timedelta(hours=1))


def _feature_names(rng: np.random.Generator, n: int, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    type_p = np.array([0.3, 0.25, 0.15, 0.15, 0.15])
    while len(names) < n:
        ftype = FEATURE_TYPES[rng.choice(len(FEATURE_TYPES), p=type_p)]
        stem = _STEMS[ftype][rng.integers(len(_STEMS[ftype]))]
        prefix = prefixes[rng.integers(len(prefixes))]
        window = _WINDOWS[rng.integers(len(_WINDOWS))] if ftype in ("amount", "count", "ratio") else ""
        name = f"{prefix}_{stem}{window}"
        names.setdefault(name, ftype)
    return list(names.items())


def _make_feature(rng: np.random.Generator, name: str, ftype: str, weight: float, pipeline: str,
                  service: str | None) -> Feature:
    if ftype == "amount":
        params = (float(rng.uniform(2.0, 6.5)), float(rng.uniform(0.5, 1.4)))
        return Feature(name, ftype, "float", weight, params, pipeline, service, default=0.0)
    if ftype == "count":
        lam = float(np.exp(rng.uniform(np.log(0.8), np.log(40))))
        return Feature(name, ftype, "int", weight, (lam, float(rng.uniform(1.0, 3.0))), pipeline, service,
                       default=0.0)
    if ftype == "ratio":
        a, b = rng.uniform(0.6, 4.0, 2)
        return Feature(name, ftype, "float", weight, (float(a), float(b)), pipeline, service, default=0.0)
    if ftype == "flag":
        return Feature(name, ftype, "bool", weight, (float(rng.uniform(0.03, 0.5)),), pipeline, service,
                       default=0.0)
    n_levels = int(rng.integers(5, 51))
    base = name.rsplit("_", 1)[-1][:3].upper()
    categories = tuple(f"{base}{i:02d}" for i in range(n_levels))
    probs = 1.0 / np.arange(1, n_levels + 1) ** rng.uniform(0.6, 1.3)
    probs = probs / probs.sum()
    effects = rng.normal(0, 1, n_levels)
    effects = (effects - np.dot(probs, effects)) / max(float(np.sqrt(np.dot(probs, effects**2))), 1e-9)
    return Feature(name, ftype, "string", weight, (), pipeline, service, categories,
                   tuple(np.round(probs, 6)), tuple(np.round(effects, 4)), default=-1.0)


def build_world(rng: np.random.Generator, *, detected_at: datetime, n_features: int | None = None,
                hours: int = 30, current_hours: int = 6) -> World:
    """Draw one healthy world. ``detected_at`` fixes the calendar; the windows end at its hour."""
    model, (lo, hi), decision, outcome, entry_name, prefixes = TASKS[rng.integers(len(TASKS))]
    n_features = n_features or int(rng.integers(20, 81))
    n_optional = int(rng.integers(0, 5))  # 3-7 services in the request path
    optional = [OPTIONAL_SERVICES[i] for i in sorted(rng.choice(len(OPTIONAL_SERVICES), n_optional,
                                                                replace=False))]
    services = [Service(entry_name, "entry", float(rng.uniform(4, 12)), 0.3, int(rng.integers(2, 4))),
                Service("feature-store", "feature", float(rng.uniform(3, 9)), 0.35, int(rng.integers(2, 4)),
                        timeout_ms=float(rng.choice([50, 80, 100, 150]))),
                Service(f"{model}-server", "model", float(rng.uniform(6, 20)), 0.25, int(rng.integers(2, 5)))]
    for name in optional:
        role = "feature" if name in FEATURE_SERVING else "other"
        services.append(Service(name, role, float(rng.uniform(2, 15)), float(rng.uniform(0.25, 0.45)),
                                int(rng.integers(1, 3)), timeout_ms=float(rng.choice([60, 100, 200]))))
    feature_services = [s.name for s in services if s.role == "feature"]

    n_pipelines = int(rng.integers(3, 7))
    pipeline_names = sorted({f"{prefixes[i % len(prefixes)]}_{kind}" for i, kind in enumerate(
        rng.choice(["aggregates", "features", "enrichment", "profile", "sessions", "history", "risk"],
                   n_pipelines, replace=False))})
    pipelines = {p: tuple(sorted(set(rng.choice(SOURCES, int(rng.integers(1, 3)), replace=False).tolist())))
                 for p in pipeline_names}

    # a few important features, a long tail of unimportant ones
    n_important = int(rng.integers(3, 7))
    magnitudes = np.concatenate([rng.uniform(0.5, 1.1, n_important),
                                 rng.uniform(0.0, 0.15, n_features - n_important)])
    signs = rng.choice([-1.0, 1.0], n_features)
    features = []
    for i, (name, ftype) in enumerate(_feature_names(rng, n_features, prefixes)):
        roll = rng.uniform()
        service = (None if roll < 0.15 else feature_services[rng.integers(len(feature_services))]
                   if roll < 0.45 else "feature-store")
        pipeline = pipeline_names[rng.integers(len(pipeline_names))]
        features.append(_make_feature(rng, name, ftype, float(np.round(magnitudes[i] * signs[i], 4)), pipeline,
                                      service))
    order = rng.permutation(n_features)  # importance must not follow file order
    features = [features[i] for i in order]

    dim_name = "country" if rng.uniform() < 0.6 else "channel"
    all_levels = DIMENSIONS[dim_name]
    n_levels = int(rng.integers(4, len(all_levels) + 1))
    levels = tuple(all_levels[i] for i in sorted(rng.choice(len(all_levels), n_levels, replace=False)))
    shares = rng.dirichlet(np.full(n_levels, 3.0))
    weak = int(rng.integers(n_levels))
    shares[weak] = rng.uniform(0.03, 0.08)  # the weak segment is small in normal times
    shares = shares / shares.sum()
    other = "channel" if dim_name == "country" else "country"
    second = (other, DIMENSIONS[other][:4]) if rng.uniform() < 0.5 else None

    n_versions = int(rng.integers(2, 4))
    first = int(rng.integers(3, 60))
    versions = tuple(f"v{first + i}" for i in range(n_versions))

    kpi_pool = ["requests", "p95_latency_ms", outcome, "model_precision"]
    n_kpis = int(rng.integers(1, 4))
    kpis = (decision, *[kpi_pool[i] for i in sorted(rng.choice(len(kpi_pool), n_kpis, replace=False))])

    end = detected_at.replace(minute=0, second=0, microsecond=0)
    positive_rate = float(rng.uniform(lo, hi))
    important = [f.name for f in features if abs(f.weight) >= 0.5 and f.numeric and f.ftype != "flag"]
    return World(
        model=model, positive_rate=positive_rate, decision_kpi=decision, outcome_kpi=outcome,
        features=features, services=services, pipelines=pipelines, label_pipeline=f"{model}_label_join",
        versions=versions, dimension=dim_name, levels=levels, level_shares=shares, weak_level=levels[weak],
        second_dimension=second, kpis=kpis, intercept=float(np.log(positive_rate / (1 - positive_rate))),
        baseline_start=end - timedelta(hours=hours), current_start=end - timedelta(hours=current_hours),
        current_end=end, detected_at=detected_at, diurnal_amplitude=float(rng.uniform(0.3, 0.6)),
        diurnal_peak_hour=float(rng.uniform(12, 21)),
        seasonal_feature=important[rng.integers(len(important))] if important else features[0].name,
    )
