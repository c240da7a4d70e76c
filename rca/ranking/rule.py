"""The simplest ranker: order merged hypotheses by their generators' own score.

Used until a better scorer exists, and kept as a naive baseline ("largest drift score") in evaluations.
Confidence is a softmax over the scores' log, so one overwhelming hypothesis gets most of the mass; it is
not calibrated, and the answer's ``ranker`` field says so (``rule-max-score``).
"""

from __future__ import annotations

import math

import numpy as np

from rca.contract.bundle import Bundle
from rca.contract.models import Answer, RankedCause
from rca.generators.base import Candidates, Hypothesis
from rca.ranking.merge import merge_hypotheses


def softmax(values: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax; an empty input gives an empty output."""
    if values.size == 0:
        return values.astype(float)
    z = (values - values.max()) / temperature
    e = np.exp(z)
    return e / e.sum()


def answer_from_scores(bundle: Bundle, hypotheses: list[Hypothesis], confidences: np.ndarray, ranker: str,
                       *, top: int, explain=None) -> Answer:
    """Sort hypotheses by confidence (ties: node id, kind) and build the contract's answer."""
    order = sorted(range(len(hypotheses)),
                   key=lambda i: (-confidences[i], hypotheses[i].node, str(hypotheses[i].kind)))
    causes = []
    for rank, i in enumerate(order[:top], start=1):
        h = hypotheses[i]
        causes.append(RankedCause(rank=rank, node=h.node, kind=h.kind, confidence=_floor6(confidences[i]),
                                  evidence=h.evidence[:5],
                                  explanation=explain(h) if explain else _default_explanation(h)))
    return Answer(incident=bundle.incident.id, ranker=ranker, causes=causes)


def _floor6(p: float) -> float:
    # Rounded down, so the shown confidences never sum to more than the probabilities they round.
    return math.floor(float(p) * 1e6) / 1e6


def _default_explanation(h: Hypothesis) -> str:
    if not h.evidence:
        return f"{h.node}: {h.kind} proposed by {h.generator}"
    e = h.evidence[0]
    value = f" = {e.value:.3g}" if e.value is not None else ""
    onset = f" since {e.onset:%Y-%m-%d %H:%M}" if e.onset else ""
    return f"{h.node}: {e.signal} {e.test}{value}{onset}"


class RuleRanker:
    """Rank by the strongest generator score; the cold-start fallback before any trained model."""

    name = "rule-max-score"

    def rank(self, bundle: Bundle, candidates: Candidates, *, top: int = 10) -> Answer:
        hypotheses = merge_hypotheses(candidates.hypotheses)
        scores = np.array([h.score for h in hypotheses], dtype=float)
        confidences = softmax(np.log1p(np.maximum(scores, 0)) * 2.0)
        return answer_from_scores(bundle, hypotheses, confidences, self.name, top=top)
