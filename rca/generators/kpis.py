"""KPIs: did each business KPI series change, in which direction, since when -- seasonality-aware.

A KPI with a daily cycle is compared with the same hours of the baseline: when the baseline covers at least
20 hours, each value's expectation is the baseline median of its hour of day and the noise is the robust
scale of the baseline's residuals around those hourly medians; otherwise the whole baseline's median and
scale are used. The change score is the median residual z of the current window (damped for short
baselines as in `rca.generators.metrics`), and the onset is the sustained onset of |z| >= 3.

KPIs are symptoms, not causes: the generator reports `Anomaly` objects only -- ``kpi:<name>`` for a series
without dimensions, ``segment:<dimension>=<value>`` for a series broken down by one dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Evidence
from rca.contract.nodes import node_id, segment_node
from rca.generators import register
from rca.generators.base import Anomaly, Candidates, per_bundle
from rca.generators.windows import window_masks
from rca.stats.robust import robust_scale, soft_cap, sustained_onset

THRESHOLD = 3.0
SEASONAL_MIN_HOURS = 20
MIN_BASELINE = 2
FULL_WEIGHT_BASELINE = 10
# KPIs aggregate many requests, so their noise is small relative to their level: a 1% floor on the scale
# still keeps a flat series from turning a tiny wiggle into a large z.
REL_FLOOR = 0.01


@dataclass(frozen=True)
class KpiScore:
    name: str
    dims: dict[str, str]
    z: float
    seasonal: bool
    baseline: float         # expected level over the current window (hourly medians when seasonal)
    current: float
    onset: pd.Timestamp | None

    @property
    def node(self) -> str:
        if len(self.dims) == 1:
            (dim, value), = self.dims.items()
            return segment_node(dim, value)
        return node_id("kpi", self.name)


@per_bundle
def score_kpis(bundle: Bundle, *, threshold: float = THRESHOLD) -> list[KpiScore]:
    """A change score per KPI series (name and dimension values); computed once per bundle (the kpis and
    events generators both read it)."""
    frame = bundle.kpis
    if frame is None or frame.empty:
        return []
    masks = window_masks(frame["timestamp"], bundle.incident)
    keep = masks.baseline | masks.region
    frame = frame.loc[keep].assign(_base=masks.baseline[keep], _cur=masks.current[keep])
    frame = frame.sort_values("timestamp", kind="stable")
    dims = [c for c in frame.columns if c not in ("timestamp", "name", "value") and not c.startswith("_")]
    b = bundle.incident.baseline
    seasonal = (pd.Timestamp(b.end) - pd.Timestamp(b.start)) >= pd.Timedelta(hours=SEASONAL_MIN_HOURS)
    out = []
    for key, g in frame.groupby(["name", *dims], sort=True, observed=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        labels = {d: str(v) for d, v in zip(dims, key[1:]) if pd.notna(v) and str(v) != ""}
        score = _score_one(str(key[0]), labels, g, seasonal, threshold)
        if score is not None:
            out.append(score)
    return out


def _score_one(name, labels, g: pd.DataFrame, seasonal: bool, threshold: float) -> KpiScore | None:
    values = g["value"].to_numpy(dtype=float)
    finite = np.isfinite(values)
    is_base = g["_base"].to_numpy() & finite
    is_cur = g["_cur"].to_numpy() & finite
    if is_base.sum() < MIN_BASELINE or not is_cur.any():
        return None
    hours = g["timestamp"].dt.hour.to_numpy()
    expected = np.full(values.shape, np.median(values[is_base]))
    if seasonal:
        hourly = pd.Series(values[is_base]).groupby(hours[is_base]).median()
        by_hour = pd.Series(hours).map(hourly).to_numpy(dtype=float)
        expected = np.where(np.isfinite(by_hour), by_hour, expected)   # an hour the baseline lacks
    resid = values - expected
    level = float(np.median(np.abs(values[is_base])))
    scale = max(robust_scale(resid[is_base], rel_floor=0.0), REL_FLOOR * level, 1e-9)
    weight = min(1.0, is_base.sum() / FULL_WEIGHT_BASELINE)
    z_all = resid / scale * weight
    z = float(soft_cap(np.median(z_all[is_cur])))
    onset = None
    if abs(z) >= threshold:
        region = ~g["_base"].to_numpy() & finite
        flags = np.sign(z) * z_all[region] >= threshold
        i = sustained_onset(flags)
        onset = g["timestamp"].to_numpy()[region][i] if i is not None else g["timestamp"].to_numpy()[is_cur][0]
        onset = pd.Timestamp(onset).tz_localize("UTC") if pd.Timestamp(onset).tzinfo is None else pd.Timestamp(onset)
    return KpiScore(name, labels, z, seasonal, float(np.median(expected[is_cur])), float(np.median(values[is_cur])),
                    onset)


@register("kpis")
class KpisGenerator:
    """KPI series that moved (seasonality-aware) -> anomalies on ``kpi:`` and ``segment:`` nodes."""

    name = "kpis"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        for s in score_kpis(bundle, threshold=self.threshold):
            if abs(s.z) < self.threshold:
                continue
            where = ",".join(f"{k}={v}" for k, v in s.dims.items())
            test = "seasonal_robust_z" if s.seasonal else "robust_z"
            out.anomalies.append(Anomaly(
                node=s.node, signal="kpis", score=abs(s.z), onset=s.onset, direction="up" if s.z > 0 else "down",
                evidence=[Evidence(signal="kpis", test=test, value=round(s.z, 4), baseline=s.baseline,
                                   current=s.current, onset=s.onset,
                                   detail=f"{s.name}[{where}]" if where else s.name)]))
        return out
