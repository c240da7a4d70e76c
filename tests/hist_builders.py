"""In-memory bundles with feature histograms built from seeded samples, for the generator tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle, FeatureHistograms
from rca.contract.models import CategoricalHistogram, Event, Incident, NumericHistogram
from tests.builders import INCIDENT, T0

EDGES = list(np.linspace(-4, 4, 17))
HOURS = 38  # 24 baseline hours, 8 unwatched, 6 current (T0 + 32h .. T0 + 38h)


def incident() -> Incident:
    return Incident.model_validate(INCIDENT)


def numeric(feature: str, samples_by_hour, training, *, dtype_by_hour=None, minmax=False) -> FeatureHistograms:
    def hist(values, role, start=None, dtype="float"):
        values = np.asarray(values, dtype=float)
        nulls = int(np.isnan(values).sum())
        v = values[~np.isnan(values)]
        counts, _ = np.histogram(v, bins=EDGES)
        extra = {"min": float(v.min()), "max": float(v.max())} if minmax and v.size else {}
        window = {} if start is None else {"start": start, "end": start + pd.Timedelta(hours=1)}
        return NumericHistogram(feature=feature, role=role, type="numeric", dtype=dtype, edges=EDGES,
                                counts=counts.tolist(), underflow=int((v < EDGES[0]).sum()),
                                overflow=int((v > EDGES[-1]).sum()), nulls=nulls, total=len(values),
                                **window, **extra)
    serving = tuple(hist(vals, "serving", T0 + pd.Timedelta(hours=h),
                         (dtype_by_hour or {}).get(h, "float")) for h, vals in enumerate(samples_by_hour))
    return FeatureHistograms(feature=feature, training=hist(training, "training"), serving=serving)


def categorical(feature: str, samples_by_hour, training) -> FeatureHistograms:
    def hist(values, role, start=None):
        cats, counts = np.unique(np.asarray(values), return_counts=True)
        window = {} if start is None else {"start": start, "end": start + pd.Timedelta(hours=1)}
        return CategoricalHistogram(feature=feature, role=role, type="categorical", dtype="string",
                                    categories=[str(c) for c in cats], counts=counts.tolist(), nulls=0,
                                    total=len(values), **window)
    serving = tuple(hist(v, "serving", T0 + pd.Timedelta(hours=h)) for h, v in enumerate(samples_by_hour))
    return FeatureHistograms(feature=feature, training=hist(training, "training"), serving=serving)


def stream(rng, *, n=400, change_at=None, change=None):
    """Hourly normal samples; from hour ``change_at`` on, ``change(rng, hour, n)`` makes the values."""
    out = []
    for h in range(HOURS):
        if change_at is not None and h >= change_at:
            out.append(change(rng, h, n))
        else:
            out.append(rng.normal(size=n))
    return out


def bundle(features: list[FeatureHistograms], events=()) -> Bundle:
    return Bundle(incident=incident(), histograms={f.feature: f for f in features},
                  events=tuple(Event.model_validate(e) for e in events))
