"""Candidate generator over ``predictions``: score shift, quality by version, concept drift, label issues.

Baseline and current windows come from incident.json. Quality needs labels (0/1 for classifiers: AUC,
log-loss, precision/recall at the operating threshold, calibration; other labels: squared error). The
operating threshold is incident.json's optional ``threshold`` (extra field), else 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence
from rca.contract.nodes import labels_node, model_node, node_kind
from rca.generators import register
from rca.generators.base import Anomaly, Candidates, Hypothesis
from rca.generators.feature_kinds import log10p
from rca.stats import auc, calibration_gap, ks_exact, precision_recall
from rca.stats.quality import LOGLOSS_EPS
from rca.stats.series import two_proportion_test

SIGNAL = "predictions"
P_GATE = 1e-3
MIN_VERSION_SHARE = 0.01
SCORES_HELD = 0.1
"""Score distributions closer than this (KS D, current vs baseline) are the same model's: only then do labels missing
from the current window point at the label pipeline (`PredictionGenerator.generate`)."""


def row_loss(labels: np.ndarray, scores: np.ndarray, binary: bool) -> np.ndarray:
    """Per-row loss: binary cross-entropy for 0/1 labels, squared error otherwise."""
    if binary:
        p = np.clip(scores, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
        return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    return (scores - labels) ** 2


def operating_threshold(incident) -> float:
    """incident.json's optional ``threshold`` (an extra field), else 0.5: also when it is not a finite number
    (null, text, a list: the contract keeps any extra field, so any of these is a valid bundle)."""
    value = (incident.model_extra or {}).get("threshold", 0.5)
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        return 0.5
    return threshold if math.isfinite(threshold) else 0.5


def windows(frame: pd.DataFrame, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the baseline and current windows over a table with a ``timestamp`` column."""
    ts = frame["timestamp"]
    inc = bundle.incident
    base = ((ts >= inc.baseline.start) & (ts < inc.baseline.end)).to_numpy()
    cur = ((ts >= inc.current.start) & (ts < inc.current.end)).to_numpy()
    return base, cur


def _welch_up(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided Welch p-value that mean(b) > mean(a); 1 when undefined."""
    if a.size < 2 or b.size < 2:
        return 1.0
    res = sps.ttest_ind(b, a, equal_var=False, alternative="greater")
    return float(res.pvalue) if np.isfinite(res.pvalue) else 1.0


@register("predictions")
class PredictionGenerator:
    """model_regression, concept_drift and label_issue hypotheses; score and quality anomalies."""

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        p = bundle.predictions
        if p is None or p.empty:
            return out
        base, cur = windows(p, bundle)
        if not base.any() or not cur.any():
            return out
        model = bundle.incident.model
        score = p["score"].to_numpy(dtype=float)
        # Versions as codes into their sorted names: counting and comparing strings row by row is what costs.
        codes, names = pd.factorize(p["model_version"].astype(str), sort=True)
        names = np.asarray(names, dtype=object)
        counts = np.bincount(codes[cur], minlength=names.size)
        cur_versions, cur_n = names[counts > 0], counts[counts > 0]
        base_versions = set(names[np.bincount(codes[base], minlength=names.size) > 0])
        version_code = {v: i for i, v in enumerate(names)}
        serving = str(cur_versions[np.argmax(cur_n)])
        inc = bundle.incident

        ks = ks_exact(score[base], score[cur])
        f: dict[str, float] = {"pred.score_ks_d": ks.statistic, "pred.score_ks_p_log10": log10p(ks.p_value)}
        ev_ks = Evidence(signal=SIGNAL, test="ks", value=ks.statistic, p_value=ks.p_value,
                         baseline=float(score[base].mean()), current=float(score[cur].mean()),
                         onset=inc.current.start, detail="score distribution, current vs baseline")
        if ks.p_value < P_GATE:
            out.anomalies.append(Anomaly(node=model_node(model, serving), signal=SIGNAL,
                                         score=log10p(ks.p_value) * min(1.0, ks.statistic / 0.1),
                                         onset=inc.current.start, evidence=[ev_ks]))
        quality = self._quality(bundle, p, base, cur, score, f)
        evidence = [ev_ks] + quality

        # any change on a model version deploys it (an MLflow stage transition, a SageMaker endpoint update), as
        # the events generator reads it: counting `model_deploy` only left such a version unlinked
        deployed = {e.target for e in bundle.events if node_kind(e.target) == "model"}
        for v, n in zip(cur_versions, cur_n):
            v = str(v)
            share = n / cur.sum()
            node = model_node(model, v)
            new = v not in base_versions
            if share < MIN_VERSION_SHARE or not (new or node in deployed):
                continue
            mask_v = cur & (codes == version_code[v])
            vks = ks_exact(score[base], score[mask_v])
            vf = dict(f, **{"pred.version_new": float(new), "pred.version_share": float(share),
                            "pred.version_deployed": float(node in deployed),
                            "pred.version_score_ks_d": vks.statistic}, **self._version_quality(p, base, mask_v))
            strength = max(log10p(vks.p_value) * min(1.0, vks.statistic / 0.1),
                           vf.get("pred.version_loss_p_log10", 0.0))
            first = p["timestamp"][mask_v].iloc[0].to_pydatetime(warn=False)
            out.hypotheses.append(Hypothesis(
                node=node, kind=CauseKind.MODEL_REGRESSION, generator=self.name, score=round(strength, 6),
                onset=first, features=vf,
                evidence=[Evidence(signal=SIGNAL, test="ks", value=vks.statistic, p_value=vks.p_value,
                                   onset=first, detail=f"scores of {v} vs baseline scores")] + evidence))

        if f.get("pred.loss_p_log10", 0.0) >= 3 or f.get("pred.auc_drop", 0.0) >= 0.02:
            strength = f.get("pred.loss_p_log10", 0.0)
            onset = inc.current.start
            out.anomalies.append(Anomaly(node=model_node(model, serving), signal=SIGNAL, score=strength,
                                         onset=onset, direction="down", evidence=quality))
            out.hypotheses.append(Hypothesis(node=model_node(model, serving), kind=CauseKind.CONCEPT_DRIFT,
                                             generator=self.name, score=round(strength, 6), onset=onset,
                                             features=dict(f), evidence=list(evidence)))
        # Labels missing from the current window say the label pipeline is late only while the model's scores hold
        # (the contract's label_issue: "the metric fell, the model did not"). Labels come late in every production
        # system; when the scores moved as well, the model changed and the gap in the labels explains nothing.
        held = f["pred.score_ks_d"] < SCORES_HELD
        if bundle.has_labels and (f.get("pred.loss_p_log10", 0.0) >= 3 or f.get("pred.auc_drop", 0.0) >= 0.02
                                  or (held and f["pred.coverage_drop"] >= 0.05) or f["pred.label_rate_p_log10"] >= 3):
            strength = max(f.get("pred.loss_p_log10", 0.0), f["pred.label_rate_p_log10"],
                           f["pred.coverage_p_log10"] * min(1.0, f["pred.coverage_drop"] / 0.2) if held else 0.0)
            out.hypotheses.append(Hypothesis(node=labels_node(model), kind=CauseKind.LABEL_ISSUE,
                                             generator=self.name, score=round(strength, 6),
                                             onset=inc.current.start, features=dict(f), evidence=list(evidence)))
        return out

    # ---------------------------------------------------------------------------------------- quality
    def _quality(self, bundle, p, base, cur, score, f) -> list[Evidence]:
        """Fill quality and label features into ``f``; return their evidence."""
        if not bundle.has_labels:
            return []
        y = p["label"].to_numpy(dtype=float)
        has = ~np.isnan(y)
        cb, cc = has[base].mean(), has[cur].mean()
        z, pc = two_proportion_test(has[base].sum(), base.sum(), has[cur].sum(), cur.sum())
        f["pred.coverage_drop"] = float(cb - cc)
        f["pred.coverage_p_log10"] = log10p(pc) if z < 0 else 0.0
        f["pred.label_delay_hours"] = self._label_delay(p, cur, has, cb, bundle)
        ev = [Evidence(signal=SIGNAL, test="label_coverage", value=float(cb - cc), baseline=float(cb),
                       current=float(cc), p_value=pc)]
        lb, lc = base & has, cur & has
        f["pred.label_rate_p_log10"] = 0.0
        if lb.sum() < 2 or lc.sum() < 2:
            return ev
        binary = bool(np.isin(np.unique(y[has]), (0.0, 1.0)).all())
        loss = row_loss(np.nan_to_num(y), score, binary)
        loss_b, loss_c = loss[lb], loss[lc]
        p_loss = _welch_up(loss_b, loss_c)
        f["pred.logloss_ratio" if binary else "pred.mse_ratio"] = float(loss_c.mean() / max(loss_b.mean(), 1e-12))
        f["pred.loss_p_log10"] = log10p(p_loss)
        ev.append(Evidence(signal=SIGNAL, test="log_loss" if binary else "mse", value=float(loss_c.mean()),
                           baseline=float(loss_b.mean()), current=float(loss_c.mean()), p_value=p_loss))
        if binary:
            thr = operating_threshold(bundle.incident)
            ab, ac = auc(y[lb], score[lb]), auc(y[lc], score[lc])
            prb, prc = precision_recall(y[lb], score[lb], thr), precision_recall(y[lc], score[lc], thr)
            _, pr = two_proportion_test(y[lb].sum(), lb.sum(), y[lc].sum(), lc.sum())
            f.update({"pred.auc_drop": float(np.nan_to_num(ab - ac)),
                      "pred.precision_drop": float(np.nan_to_num(prb.precision - prc.precision)),
                      "pred.recall_drop": float(np.nan_to_num(prb.recall - prc.recall)),
                      "pred.calibration_delta": float(calibration_gap(y[lc], score[lc])
                                                      - calibration_gap(y[lb], score[lb])),
                      "pred.label_rate_delta": float(y[lc].mean() - y[lb].mean()),
                      "pred.label_rate_p_log10": log10p(pr)})
            ev.append(Evidence(signal=SIGNAL, test="auc", value=float(ac), baseline=float(ab), current=float(ac)))
        return ev

    @staticmethod
    def _label_delay(p, cur, has, coverage_base, bundle) -> float:
        """Hours from the last current-window hour whose label coverage reached half the baseline's, to the
        window's end (the whole window when none did)."""
        hours = p["timestamp"][cur].dt.floor("h")
        cov = pd.Series(has[cur]).groupby(hours.array).mean()  # .array: no object array of Timestamps
        ok = cov.index[cov.to_numpy() >= 0.5 * coverage_base]
        end = bundle.incident.current.end
        last = ok.max() + pd.Timedelta(hours=1) if len(ok) else bundle.incident.current.start
        return max(0.0, (end - last).total_seconds() / 3600)

    @staticmethod
    def _version_quality(p, base, mask_v) -> dict[str, float]:
        if "label" not in p:
            return {}
        y = p["label"].to_numpy(dtype=float)
        score = p["score"].to_numpy(dtype=float)
        has = ~np.isnan(y)
        lb, lv = base & has, mask_v & has
        if lb.sum() < 2 or lv.sum() < 2:
            return {}
        binary = bool(np.isin(np.unique(y[has]), (0.0, 1.0)).all())
        loss = row_loss(np.nan_to_num(y), score, binary)
        out = {"pred.version_loss_ratio": float(loss[lv].mean() / max(loss[lb].mean(), 1e-12)),
               "pred.version_loss_p_log10": log10p(_welch_up(loss[lb], loss[lv]))}
        if binary:
            out["pred.version_auc_drop"] = float(np.nan_to_num(auc(y[lb], score[lb]) - auc(y[lv], score[lv])))
        return out
