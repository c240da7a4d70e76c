"""Model quality on labeled predictions: AUC, log-loss, precision/recall at a threshold, calibration."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

LOGLOSS_EPS = 1e-15


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of one length, got {y.shape} and {s.shape}")
    return y, s


def auc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg), ties count one half).

    NaN when one class is absent.
    """
    y, s = _check(labels, scores)
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def log_loss(labels, scores, *, eps: float = LOGLOSS_EPS) -> float:
    """Mean binary cross-entropy, scores clipped to ``[eps, 1 - eps]``. NaN for no rows."""
    y, s = _check(labels, scores)
    if y.size == 0:
        return float("nan")
    p = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def precision_recall(labels, scores, threshold: float) -> PrecisionRecall:
    """Precision and recall of ``score >= threshold`` as the positive call (NaN where undefined)."""
    y, s = _check(labels, scores)
    pos, called = y > 0.5, s >= threshold
    tp = float(np.sum(pos & called))
    precision = tp / called.sum() if called.any() else float("nan")
    recall = tp / pos.sum() if pos.any() else float("nan")
    return PrecisionRecall(float(precision), float(recall))


def calibration_gap(labels, scores) -> float:
    """Mean score minus observed positive rate (calibration-in-the-large); NaN for no rows."""
    y, s = _check(labels, scores)
    if y.size == 0:
        return float("nan")
    return float(np.mean(s) - np.mean(y))
