"""Candidate generator over prediction segments: which dimension values explain the change (Adtributor).

For each segment dimension of the predictions table and each of its values, with baseline share p and
current share q of the traffic:

* surprise (Adtributor, Bhagwan et al. NSDI'14): ``0.5 * (p log(2p/(p+q)) + q log(2q/(p+q)))``;
* explanatory power of an additive metric M (the per-row loss when labels exist, else the score):
  ``(A_v - F_v) / (A - F)``, with A the current total and F the forecast from the baseline (the baseline
  total scaled to the current volume), so a value whose traffic grew where the model is weak explains
  the metric's rise.

A value is proposed as ``segment_shift`` when its traffic share rose significantly or it explains a large
part of the metric change; at most ``TOP_PER_DIMENSION`` values per dimension.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence
from rca.contract.nodes import segment_node
from rca.generators import register
from rca.generators.base import Candidates, Hypothesis
from rca.generators.feature_kinds import log10p
from rca.generators.predictions import row_loss, windows
from rca.stats.series import two_proportion_test

SIGNAL = "predictions"
TOP_PER_DIMENSION = 3
SHARE_DELTA = 0.01
EP_GATE = 0.2
P_GATE = 1e-3


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
        codes, values = pd.factorize(p[dim].astype("string").fillna("<null>"), sort=True)
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
            rose = share_c[i] - share_b[i] >= SHARE_DELTA and p_up < P_GATE
            explains = ep[i] >= EP_GATE and total_delta > 0
            if rose or explains:
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
