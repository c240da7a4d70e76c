"""The plain data behind the console's evidence charts, read from a loaded bundle. No drawing here.

Each function takes a `Bundle` (and what it needs from the answer) and returns a small dataclass of lists and
numbers, or None when the signal family it needs is absent; `rca.console.charts` turns them into SVG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from rca.contract import Bundle
from rca.contract.models import NumericHistogram
from rca.stats.quality import auc

TOP_SEGMENTS = 6
"""Segment values per dimension shown in the quality chart (the busiest in the current window)."""


@dataclass(frozen=True)
class HistogramData:
    """Shares per bin of one feature: training reference, serving in the baseline and in the current window."""

    feature: str
    bins: list[str]
    training: list[float] | None
    baseline: list[float] | None
    current: list[float] | None


@dataclass(frozen=True)
class LatencyRow:
    service: str
    p50_before: float
    p95_before: float
    p50_after: float
    p95_after: float


@dataclass(frozen=True)
class LatencyData:
    source: str  # "traces" (span durations) or "metrics" (the mean of reported percentiles)
    rows: list[LatencyRow]


@dataclass(frozen=True)
class KpiData:
    name: str
    times: list[datetime]
    values: list[float]
    baseline: tuple[datetime, datetime]
    current: tuple[datetime, datetime]
    onset: datetime | None
    events: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass(frozen=True)
class QualityRow:
    group: str  # "version v43" or "country=BR"
    baseline: float | None
    current: float | None
    n_current: int


@dataclass(frozen=True)
class QualityData:
    metric: str  # "AUC" for 0/1 labels, else "mean absolute error"
    rows: list[QualityRow]


# ------------------------------------------------------------------------------------------------ features
def _shares(counts: list[float]) -> list[float] | None:
    total = float(sum(counts))
    return [c / total for c in counts] if total > 0 else None


def _in(hist, start: datetime, end: datetime) -> bool:
    return hist.start is not None and start <= hist.start < end


def feature_histograms(bundle: Bundle, feature: str) -> HistogramData | None:
    """Training vs serving shares of ``feature`` per bin (plus null and out-of-range bins when any is used)."""
    family = bundle.histograms.get(feature)
    if family is None:
        return None
    hists = [h for h in [family.training, *family.serving] if h is not None]
    numeric = isinstance(hists[0], NumericHistogram)
    if numeric:
        edges = hists[0].edges
        bins = [f"{_num(a)}–{_num(b)}" for a, b in zip(edges, edges[1:])]
        extra = {"< " + _num(edges[0]): "underflow", "> " + _num(edges[-1]): "overflow", "null": "nulls"}
    else:
        bins = sorted({c for h in hists for c in h.categories}, key=str)
        extra = {"null": "nulls"}
    used = [label for label, attr in extra.items() if any(getattr(h, attr, 0) for h in hists)]

    def vector(group) -> list[float] | None:
        if not group:
            return None
        out = np.zeros(len(bins) + len(used))
        for h in group:
            if numeric:
                out[: len(bins)] += h.counts
            else:
                index = {c: i for i, c in enumerate(bins)}
                for c, n in zip(h.categories, h.counts):
                    out[index[c]] += n
            for j, label in enumerate(used):
                out[len(bins) + j] += getattr(h, extra[label], 0)
        return _shares(out.tolist())

    inc = bundle.incident
    return HistogramData(
        feature=feature, bins=bins + used,
        training=vector([family.training] if family.training is not None else []),
        baseline=vector([h for h in family.serving if _in(h, inc.baseline.start, inc.baseline.end)]),
        current=vector([h for h in family.serving if _in(h, inc.current.start, inc.current.end)]))


def _num(x: float) -> str:
    return f"{x:g}"


# ------------------------------------------------------------------------------------------------- latency
def latency(bundle: Bundle) -> LatencyData | None:
    """p50 and p95 latency per service before (baseline window) and after (current window).

    From span durations when the bundle has traces; else from metrics whose name contains ``latency``
    (``..p50``/``..p95`` names, averaged over the window)."""
    inc = bundle.incident
    if bundle.spans is not None and len(bundle.spans):
        spans = bundle.spans
        before = spans[(spans["start"] >= inc.baseline.start) & (spans["start"] < inc.baseline.end)]
        after = spans[(spans["start"] >= inc.current.start) & (spans["start"] < inc.current.end)]
        rows = []
        for service in sorted(set(before["service"]) & set(after["service"])):
            b = before.loc[before["service"] == service, "duration_ms"].to_numpy()
            a = after.loc[after["service"] == service, "duration_ms"].to_numpy()
            rows.append(LatencyRow(service, *np.quantile(b, [0.5, 0.95]), *np.quantile(a, [0.5, 0.95])))
        return LatencyData("traces", rows) if rows else None
    if bundle.metrics is None:
        return None
    m = bundle.metrics[bundle.metrics["name"].str.contains("latency", case=False)]
    rows = []
    for service, group in m.groupby("service", sort=True):
        values = {}
        for pct in ("p50", "p95"):
            series = group[group["name"].str.contains(pct)]
            for label, (start, end) in (("before", (inc.baseline.start, inc.baseline.end)),
                                        ("after", (inc.current.start, inc.current.end))):
                window = series[(series["timestamp"] >= start) & (series["timestamp"] < end)]["value"]
                values[f"{pct}_{label}"] = float(window.mean()) if len(window) else math.nan
        if all(math.isfinite(v) for v in values.values()):
            rows.append(LatencyRow(str(service), **values))
    return LatencyData("metrics", rows) if rows else None


# ---------------------------------------------------------------------------------------------------- kpis
def kpi_series(bundle: Bundle, *, onset: datetime | None) -> KpiData | None:
    """The symptom's KPI (else the first KPI), averaged over its dimensions per timestamp, with the windows,
    the onset and the change events."""
    if bundle.kpis is None or not len(bundle.kpis):
        return None
    names = sorted(bundle.kpis["name"].unique())
    symptom = bundle.incident.symptom
    wanted = symptom.node.split(":", 1)[1] if symptom and symptom.node.startswith("kpi:") else None
    name = wanted if wanted in names else names[0]
    series = bundle.kpis[bundle.kpis["name"] == name].groupby("timestamp", sort=True)["value"].mean()
    inc = bundle.incident
    return KpiData(name=name, times=[t.to_pydatetime() for t in series.index], values=series.tolist(),
                   baseline=(inc.baseline.start, inc.baseline.end), current=(inc.current.start, inc.current.end),
                   onset=onset, events=[(e.timestamp, f"{e.kind} {e.target}") for e in bundle.events])


# ------------------------------------------------------------------------------------------------- quality
def quality(bundle: Bundle) -> QualityData | None:
    """Model quality by model version and by segment value, baseline vs current window, when labels exist.

    AUC when labels are 0/1, else the mean absolute error of the score."""
    if not bundle.has_labels:
        return None
    p = bundle.predictions.dropna(subset=["label"])
    if not len(p):
        return None
    binary = bool(np.isin(p["label"].to_numpy(), [0.0, 1.0]).all())
    inc = bundle.incident
    before = p[(p["timestamp"] >= inc.baseline.start) & (p["timestamp"] < inc.baseline.end)]
    after = p[(p["timestamp"] >= inc.current.start) & (p["timestamp"] < inc.current.end)]

    def score(frame: pd.DataFrame) -> float | None:
        if not len(frame):
            return None
        if binary:
            value = auc(frame["label"].to_numpy(), frame["score"].to_numpy())
            return None if math.isnan(value) else value
        return float(np.mean(np.abs(frame["score"].to_numpy() - frame["label"].to_numpy())))

    rows = []
    groups = [("model_version", f"version {v}", v) for v in sorted(p["model_version"].unique())]
    for column in bundle.segment_columns:
        busiest = after[column].astype(str).value_counts().index[:TOP_SEGMENTS]
        groups += [(column, f"{column}={v}", v) for v in sorted(busiest)]
    for column, label, value in groups:
        b = before[before[column].astype(str) == str(value)]
        a = after[after[column].astype(str) == str(value)]
        rows.append(QualityRow(label, score(b), score(a), len(a)))
    rows = [r for r in rows if r.baseline is not None or r.current is not None]
    return QualityData("AUC" if binary else "mean absolute error", rows) if rows else None
