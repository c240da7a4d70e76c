"""Candidate generator over prediction segments: which dimension values explain the change (Adtributor).

For each segment dimension of the predictions table and each of its values, with baseline share p and
current share q of the traffic:

* surprise (Adtributor, Bhagwan et al. NSDI'14): ``0.5 * (p log(2p/(p+q)) + q log(2q/(p+q)))``;
* explanatory power of an additive metric M (the per-row loss when labels exist, else the score):
  ``(A_v - F_v) / (A - F)``, with A the current total and F the forecast from the baseline (the baseline
  total scaled to the current volume), so a value whose traffic grew where the model is weak explains
  the metric's rise.

A value is proposed as ``segment_shift`` when its traffic share rose significantly (the contract's "traffic
mix moved toward a segment"); a value whose share held while the metric worsened there is a quality problem
inside the segment, left to the model and feature generators. Explanatory power ranks the proposed values
(at most ``TOP_PER_DIMENSION`` per dimension) and adds to their score. In our corpus every true segment
shift had a share rise with p < 1e-3, while 709 of the 728 wrong segment hypotheses had none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from rca.contract.bundle import KPI_COLUMNS, Bundle
from rca.contract.models import CauseKind, Evidence
from rca.contract.nodes import node_kind, node_name, segment_node
from rca.generators import register
from rca.generators.base import Candidates, Hypothesis
from rca.generators.feature_kinds import log10p
from rca.generators.predictions import row_loss, windows
from rca.generators.windows import first_observation, hours_between, window_masks
from rca.stats.series import onset_index, two_proportion_test

SIGNAL = "predictions"
TOP_PER_DIMENSION = 3
SHARE_DELTA = 0.01
P_GATE = 1e-3
MISSING = "<null>"
"""The value a row without one has in a dimension. Its rows count in every share, but it is never proposed: a
missing dimension value is no segment a user can act on (unknown labels in a column read as a dimension, a KPI's
total rows)."""


def surprise(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Adtributor's surprise (a per-element Jensen-Shannon term, natural log), vectorized."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0)
        b = np.where(q > 0, q * np.log(q / m), 0.0)
    return 0.5 * (a + b)


@register("segments")
class SegmentGenerator:
    """segment_shift hypotheses on ``segment:<dimension>=<value>``."""

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        p = bundle.predictions
        dims = bundle.segment_columns
        if p is None or p.empty or not dims:
            return out
        base, cur = windows(p, bundle)
        if not base.any() or not cur.any():
            return out
        metric, metric_name = self._metric(bundle, p)
        keep = base | cur
        for dim in dims:
            out.hypotheses.extend(self._dimension(bundle, p, dim, base, cur, keep, metric, metric_name))
        return out

    @staticmethod
    def _metric(bundle: Bundle, p: pd.DataFrame) -> tuple[np.ndarray, str]:
        score = p["score"].to_numpy(dtype=float)
        if bundle.has_labels:
            y = p["label"].to_numpy(dtype=float)
            has = ~np.isnan(y)
            if has.any():
                binary = bool(np.isin(np.unique(y[has]), (0.0, 1.0)).all())
                return np.where(has, row_loss(np.nan_to_num(y), score, binary), 0.0), "loss"
        return score, "score"

    def _dimension(self, bundle, p, dim, base, cur, keep, metric, metric_name) -> list[Hypothesis]:
        codes, values = pd.factorize(p[dim].astype("string").fillna(MISSING), sort=True)
        k = len(values)
        if k < 2:  # one value explains everything trivially
            return []
        n_b = np.bincount(codes[base], minlength=k).astype(float)
        n_c = np.bincount(codes[cur], minlength=k).astype(float)
        m_b = np.bincount(codes[base], weights=metric[base], minlength=k)
        m_c = np.bincount(codes[cur], weights=metric[cur], minlength=k)
        nb, nc = n_b.sum(), n_c.sum()
        share_b, share_c = n_b / nb, n_c / nc
        s = surprise(share_b, share_c)
        forecast = m_b * nc / nb
        total_delta = m_c.sum() - forecast.sum()
        ep = (m_c - forecast) / total_delta if abs(total_delta) > 1e-12 else np.zeros(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            seg_mean = np.where(n_c > 0, m_c / n_c, 0.0)
        overall = m_c.sum() / nc
        rows = []
        for i in range(k):
            z, pv = two_proportion_test(n_b[i], nb, n_c[i], nc)
            p_up = pv / 2 if z > 0 else 1 - pv / 2
            if values[i] != MISSING and share_c[i] - share_b[i] >= SHARE_DELTA and p_up < P_GATE:   # share rose
                rows.append((i, p_up))
        rows.sort(key=lambda r: (-(s[r[0]] * max(ep[r[0]], 0.05)), str(values[r[0]])))
        out = []
        for i, p_up in rows[:TOP_PER_DIMENSION]:
            node = segment_node(dim, values[i])
            features = {"seg.explanatory_power": float(ep[i]), "seg.surprise": float(s[i]),
                        "seg.share_baseline": float(share_b[i]), "seg.share_current": float(share_c[i]),
                        "seg.share_ratio": float(share_c[i] / max(share_b[i], 1e-9)),
                        "seg.share_p_log10": log10p(p_up),
                        f"seg.{metric_name}_ratio": float(seg_mean[i] / overall) if overall else 0.0,
                        "seg.values_in_dimension": float(k)}
            score = max(log10p(p_up) * min(1.0, (share_c[i] - share_b[i]) / 0.1), 0.0) + 10 * max(ep[i], 0.0)
            out.append(Hypothesis(
                node=node, kind=CauseKind.SEGMENT_SHIFT, generator=self.name, score=round(min(score, 50.0), 6),
                onset=bundle.incident.current.start, features=features,
                evidence=[Evidence(signal=SIGNAL, test="share", value=float(share_c[i] - share_b[i]),
                                   baseline=float(share_b[i]), current=float(share_c[i]), p_value=p_up,
                                   detail=f"{dim}={values[i]} traffic share"),
                          Evidence(signal=SIGNAL, test="explanatory_power", value=float(ep[i]),
                                   baseline=float(forecast[i]), current=float(m_c[i]),
                                   detail=f"share of the {metric_name} change explained (Adtributor)")]))
        return out


# ------------------------------------------------------------------------------------------- KPI dimensions
KPI_SIGNAL = "kpis"
KPI_EP_GATE = 0.2      # a value must explain at least this share of the KPI change
KPI_EEP = 0.67         # Adtributor's explanatory set: stop once the chosen values explain this much
KPI_TOP = 3            # at most this many values per dimension
KPI_CONCENTRATION = 0.5  # the value's relative change must exceed the rest's by this share of it
MIN_BASELINE_POINTS = 4


@register("kpi_segments")
class KpiSegmentGenerator:
    """segment_shift hypotheses from KPI dimensions (Adtributor over ``kpis``): which ``dimension=value``
    explains the KPI's change between the baseline and the current window.

    Per KPI and dimension, each value's series (summed over the other dimensions) is forecast for every
    current timestamp from the baseline at the same hour of day (seasonality; the whole baseline's mean when
    that hour is missing). With A_v and F_v the value's mean actual and forecast over the current window:
    explanatory power ``(A_v - F_v) / (A - F)``, surprise the Jensen-Shannon term of its share ``F_v / F``
    -> ``A_v / A``. Only a significant total change is explained; a value must explain at least
    ``KPI_EP_GATE`` of it, change significantly itself, and be concentrated (its relative change at least
    ``1 / (1 - KPI_CONCENTRATION)`` times the rest of the dimension's). As in Adtributor, values are taken by surprise
    until they explain ``KPI_EEP`` of the change (at most ``KPI_TOP`` per dimension). When the incident's
    symptom names a KPI of the table, only that KPI is explained.
    """

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        k = bundle.kpis
        if k is None or k.empty:
            return out
        dims = [c for c in k.columns if c not in KPI_COLUMNS]
        if not dims:
            return out
        names = sorted(k["name"].unique())
        symptom = bundle.incident.symptom
        if symptom is not None and node_kind(symptom.node) == "kpi" and node_name(symptom.node) in names:
            names = [node_name(symptom.node)]
        best: dict[str, Hypothesis] = {}
        for name in names:
            rows = k[k["name"] == name]
            for dim in dims:
                for h in self._dimension(bundle, rows, name, dim):
                    if h.node not in best or h.score > best[h.node].score:
                        best[h.node] = h
        out.hypotheses = sorted(best.values(), key=lambda h: (-h.score, h.node))
        return out

    def _dimension(self, bundle: Bundle, rows: pd.DataFrame, name: str, dim: str) -> list[Hypothesis]:
        wide = (rows.assign(**{dim: rows[dim].fillna(MISSING)})
                .groupby(["timestamp", dim], sort=True)["value"].sum().unstack(fill_value=0.0))
        if wide.shape[1] < 2:
            return []
        inc = bundle.incident
        ts = wide.index
        masks = window_masks(ts.to_series(), inc)   # after: the onset region (from the baseline's end, when first)
        base, after, cur = masks.baseline, masks.region, masks.current
        if base.sum() < MIN_BASELINE_POINTS or not cur.any():
            return []
        values = wide.to_numpy(dtype=float)
        forecast, per_hour, seasonal = _seasonal_forecast(values[base], ts[base].hour, ts[after].hour)
        actual = values[after]
        in_cur = cur[after]
        a_v, f_v = actual[in_cur].mean(0), forecast[in_cur].mean(0)
        n_c = int(in_cur.sum())
        # Noise per value from the baseline's second differences; the forecast's own noise adds 1/per_hour.
        sigma = _diff_sigma(values[base])
        sigma_total = _diff_sigma(values[base].sum(1, keepdims=True))[0]
        inflate = np.sqrt((1 + 1 / per_hour) / n_c)
        delta, total = a_v - f_v, a_v.sum() - f_v.sum()
        p_total = _p_two_sided(total / max(sigma_total * inflate, 1e-12 * (abs(f_v.sum()) + 1)))
        if p_total >= P_GATE or total == 0:
            return []
        p_v = np.array([_p_two_sided(d / max(s * inflate, 1e-12 * (abs(f) + 1))) for d, s, f in zip(delta, sigma, f_v)])
        ep = delta / total
        mag_f, mag_a = np.abs(f_v), np.abs(a_v)
        share_b = mag_f / mag_f.sum() if mag_f.sum() > 0 else np.zeros_like(mag_f)
        share_c = mag_a / mag_a.sum() if mag_a.sum() > 0 else np.zeros_like(mag_a)
        s = surprise(share_b, share_c)
        # Concentration: 1 when the rest of the dimension did not move, 0 when every value moved in proportion
        # (a change spread evenly over devices is explained by no device).
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(f_v != 0, delta / np.abs(f_v), 0.0)
            rest_f = np.abs(f_v.sum() - f_v)
            rel_rest = np.where(rest_f > 0, (total - delta) / rest_f, 0.0)
            conc = np.where(rel != 0, 1 - rel_rest / rel, 0.0)
        labels = [str(c) for c in wide.columns]
        order = sorted((i for i in range(len(labels))
                        if labels[i] != MISSING and ep[i] >= KPI_EP_GATE and p_v[i] < P_GATE
                        and conc[i] >= KPI_CONCENTRATION),
                       key=lambda i: (-s[i], labels[i]))
        chosen, explained = [], 0.0
        for i in order[:KPI_TOP]:
            chosen.append(i)
            explained += ep[i]
            if explained >= KPI_EEP:
                break
        dim_surprise = float(sum(s[i] for i in chosen))
        ep_rank = {i: r + 1 for r, i in enumerate(sorted(range(len(labels)), key=lambda i: (-ep[i], labels[i])))}
        times = list(ts[after])
        origin = first_observation(bundle)      # the ranker's origin for onsets
        out = []
        for i in chosen:
            resid = actual[:, i] - forecast[:, i]
            flags = np.sign(resid) == np.sign(delta[i])
            flags &= np.abs(resid) > 3 * sigma[i] * np.sqrt(1 + 1 / per_hour)
            j = onset_index(flags)
            onset = times[j].to_pydatetime() if j is not None else origin
            features = {"seg.kpi_explanatory_power": float(ep[i]), "seg.kpi_surprise": float(s[i]),
                        "seg.kpi_dimension_surprise": dim_surprise, "seg.kpi_ep_rank": float(ep_rank[i]),
                        "seg.kpi_change_rel": float(rel[i]), "seg.kpi_concentration": float(conc[i]),
                        "seg.kpi_change_p_log10": log10p(p_v[i]), "seg.kpi_total_p_log10": log10p(p_total),
                        "seg.kpi_share_baseline": float(share_b[i]), "seg.kpi_share_current": float(share_c[i]),
                        "seg.kpi_values_in_dimension": float(len(labels)), "seg.kpi_seasonal": seasonal,
                        "seg.kpi_onset_hours": hours_between(origin, onset)}
            score = min(50.0, log10p(p_v[i]) * min(1.0, float(ep[i])))
            out.append(Hypothesis(
                node=segment_node(dim, labels[i]), kind=CauseKind.SEGMENT_SHIFT, generator=self.name,
                score=round(score, 6), onset=onset, features=features,
                evidence=[Evidence(signal=KPI_SIGNAL, test="explanatory_power", value=float(ep[i]),
                                   baseline=float(f_v[i]), current=float(a_v[i]), p_value=float(p_v[i]), onset=onset,
                                   detail=f"{dim}={labels[i]} explains {ep[i]:.0%} of the {name} change "
                                          f"({f_v.sum():.4g} expected, {a_v.sum():.4g} seen)"),
                          Evidence(signal=KPI_SIGNAL, test="surprise", value=float(s[i]), baseline=float(share_b[i]),
                                   current=float(share_c[i]),
                                   detail=f"JS term of {dim}={labels[i]}'s share of {name}")]))
        return out


def _seasonal_forecast(base_values: np.ndarray, base_hours, hours) -> tuple[np.ndarray, float, float]:
    """Forecast each later row from the baseline rows at the same hour of day (else the baseline mean).

    Returns (forecast rows, mean number of baseline rows behind one forecast, share of rows forecast
    seasonally)."""
    base_hours, hours = np.asarray(base_hours), np.asarray(hours)
    mean = base_values.mean(0)
    out = np.tile(mean, (hours.size, 1))
    support = np.full(hours.size, float(base_values.shape[0]))
    for h in np.unique(hours):
        same = base_hours == h
        if same.any():
            out[hours == h] = base_values[same].mean(0)
            support[hours == h] = same.sum()
    seasonal = float(np.mean(support < base_values.shape[0])) if hours.size else 0.0
    return out, float(np.mean(support)) if hours.size else 1.0, seasonal


def _diff_sigma(values: np.ndarray) -> np.ndarray:
    """Per column, the noise of one point, robustly: 1.4826 * MAD of the second differences / sqrt(6)
    (second differences cancel a smooth daily cycle or trend; for white noise their variance is 6 sigma^2)."""
    d = np.diff(values, n=2, axis=0)
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    return 1.4826 * mad / np.sqrt(6)


def _p_two_sided(z: float) -> float:
    return float(2 * special.ndtr(-abs(z)))  # scipy.stats.norm.sf, without its per-call overhead
