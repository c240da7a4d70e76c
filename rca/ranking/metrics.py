"""Ranking metrics over incidents: AC@k, Avg@5, MRR, NDCG@5, and the calibration error of confidences.

A ranking is a list of ``(node, kind)`` pairs, best first; the truth is the set of confirmed causes (one or
two). A match is the same node AND kind; the "service-level" variants (``node_level=True``) match on the
node only, after dropping repeated nodes from the ranking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Pair = tuple[str, str]


def first_hit(ranking: Sequence[Pair], truth: set[Pair], *, node_level: bool = False) -> float:
    """1-based position of the first true cause in the ranking, ``inf`` when none is there."""
    for pos, item in enumerate(_view(ranking, node_level), start=1):
        if item in _truth(truth, node_level):
            return float(pos)
    return math.inf


def ndcg_at(ranking: Sequence[Pair], truth: set[Pair], k: int = 5, *, node_level: bool = False) -> float:
    """Binary-relevance NDCG@k: DCG of the true causes in the top k over the best possible DCG."""
    wanted = _truth(truth, node_level)
    if not wanted:
        return 0.0
    dcg = sum(1 / math.log2(pos + 1) for pos, item in enumerate(_view(ranking, node_level)[:k], start=1)
              if item in wanted)
    ideal = sum(1 / math.log2(pos + 1) for pos in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def ranking_metrics(rankings: dict[str, Sequence[Pair]], truths: dict[str, set[Pair]], *,
                    node_level: bool = False) -> dict[str, float]:
    """AC@1, AC@3, AC@5, Avg@5 (mean of AC@1..AC@5), MRR and NDCG@5 over the incidents of ``truths``.

    An incident missing from ``rankings`` counts as a miss. Returns ``n`` (incidents) too.
    """
    ids = sorted(truths)
    if not ids:
        return {"n": 0}
    hits = np.array([first_hit(rankings.get(i, ()), truths[i], node_level=node_level) for i in ids])
    ac = {k: float(np.mean(hits <= k)) for k in range(1, 6)}
    return {
        "n": len(ids),
        "AC@1": ac[1], "AC@3": ac[3], "AC@5": ac[5],
        "Avg@5": float(np.mean([ac[k] for k in range(1, 6)])),
        "MRR": float(np.mean(1 / hits)),
        "NDCG@5": float(np.mean([ndcg_at(rankings.get(i, ()), truths[i], 5, node_level=node_level)
                                 for i in ids])),
    }


def reliability_table(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 10) -> list[dict]:
    """Equal-width bins over [0, 1] of top-1 confidence: count, mean confidence and accuracy per bin.

    The last bin is closed ([0.9, 1.0]); empty bins are listed with ``count`` 0.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        table.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "count": n,
                      "confidence": float(confidence[mask].mean()) if n else float("nan"),
                      "accuracy": float(correct[mask].mean()) if n else float("nan")})
    return table


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 10) -> float:
    """ECE of top-1 confidence vs top-1 correctness, equal-width bins: sum_b (n_b/N) |acc_b - conf_b|."""
    table = reliability_table(confidence, correct, bins=bins)
    total = sum(row["count"] for row in table)
    if total == 0:
        return float("nan")
    return float(sum(row["count"] / total * abs(row["accuracy"] - row["confidence"])
                     for row in table if row["count"]))


def _view(ranking: Sequence[Pair], node_level: bool) -> list:
    if not node_level:
        return [(str(n), str(k)) for n, k in ranking]
    seen: list[str] = []
    for n, _ in ranking:
        if n not in seen:
            seen.append(n)
    return seen


def _truth(truth: set[Pair], node_level: bool) -> set:
    return {n for n, _ in truth} if node_level else {(str(n), str(k)) for n, k in truth}
