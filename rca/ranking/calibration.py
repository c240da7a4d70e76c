"""Calibrated confidences: a per-incident softmax over ranker scores, with a "none of these" outcome.

``p_i = exp(s_i / T) / (exp(b) + sum_j exp(s_j / T))`` over the hypotheses of one incident, where ``T`` is a
temperature and ``b`` the null logit: the mass ``exp(b) / (...)`` is left for "the true cause is none of
these", so confidences sum to at most 1. ``T`` and ``b`` are fitted on the validation split by minimizing the
negative log-likelihood of the true cause (of the null outcome when no candidate is true).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0
    null_logit: float = -np.inf

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Confidences of one incident's hypotheses (they sum to at most 1)."""
        scores = np.asarray(scores, dtype=float)
        if scores.size == 0:
            return scores
        z = scores / self.temperature
        norm = logsumexp(np.append(z, self.null_logit))
        return np.exp(z - norm)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature,
                "null_logit": None if not np.isfinite(self.null_logit) else self.null_logit}

    @classmethod
    def from_dict(cls, data: dict | None) -> Calibration:
        data = data or {}
        null = data.get("null_logit")
        return cls(float(data.get("temperature", 1.0)), -np.inf if null is None else float(null))


def negative_log_likelihood(calibration: Calibration, groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean NLL over incidents of the first true hypothesis (or of "none of these" when none is true).

    ``groups`` holds ``(scores, is_cause)`` per incident.
    """
    total = 0.0
    for scores, truth in groups:
        z = np.asarray(scores, dtype=float) / calibration.temperature
        norm = logsumexp(np.append(z, calibration.null_logit))
        hit = np.flatnonzero(np.asarray(truth) > 0)
        # Two true causes: either one counts, so the outcome's probability is their sum.
        chosen = logsumexp(z[hit]) if hit.size else calibration.null_logit
        total += norm - chosen
    return total / max(len(groups), 1)


def fit_calibration(groups: list[tuple[np.ndarray, np.ndarray]]) -> Calibration:
    """Fit the temperature and the null logit by minimizing `negative_log_likelihood` (L-BFGS-B).

    With no incident at all the identity calibration is returned; the fit is deterministic.
    """
    groups = [(np.asarray(s, dtype=float), np.asarray(t)) for s, t in groups if len(s)]
    if not groups:
        return Calibration()
    spread = np.std(np.concatenate([s for s, _ in groups])) or 1.0

    def loss(x: np.ndarray) -> float:
        return negative_log_likelihood(Calibration(float(np.exp(x[0])), float(x[1])), groups)

    start = np.array([np.log(spread), -2.0])
    result = minimize(loss, start, method="L-BFGS-B",
                      bounds=[(np.log(spread) - 7, np.log(spread) + 7), (-30.0, 30.0)])
    return Calibration(float(np.exp(result.x[0])), float(result.x[1]))
