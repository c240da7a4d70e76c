"""Scoring a hypothesis table with each ranker and baseline, and the metrics of the result."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rca.ranking.calibration import Calibration
from rca.ranking.dataset import HypothesisTable
from rca.ranking.metrics import expected_calibration_error, ranking_metrics, reliability_table

Scorer = Callable[[pd.DataFrame], np.ndarray]
RANDOM_REPEATS = 20


def largest_score(rows: pd.DataFrame) -> np.ndarray:
    """Baseline: the generator's own score (the rule ranker, "largest drift score")."""
    return rows["score"].to_numpy(dtype=float)


def latest_change(rows: pd.DataFrame) -> np.ndarray:
    """Baseline: hypotheses on or downstream of the most recent change event first, then by score."""
    rank = rows["event_latest_rank"].to_numpy(dtype=float)
    on_path = np.where(np.isnan(rank), 0.0, 1000.0 / np.where(np.isnan(rank), 1.0, rank))
    return on_path * 1e3 + rows["score_rel_max"].fillna(0).to_numpy(dtype=float)


def rankings(rows: pd.DataFrame, scores: np.ndarray) -> dict[str, list[tuple[str, str]]]:
    """Per incident, the (node, kind) pairs sorted by score (ties: node, kind)."""
    frame = rows[["incident_id", "node", "kind"]].assign(_s=np.asarray(scores, dtype=float))
    frame = frame.sort_values(["incident_id", "_s", "node", "kind"], ascending=[True, False, True, True],
                              kind="mergesort")
    return {i: list(zip(g["node"], g["kind"])) for i, g in frame.groupby("incident_id", sort=False)}


def evaluate_scores(table: HypothesisTable, scores: np.ndarray, *, by_kind: bool = True,
                    calibration: Calibration | None = None) -> dict:
    """Metrics of one scoring: overall, node-level, per true cause kind; ECE and reliability if calibrated."""
    truths = table.truths()
    ranked = rankings(table.rows, scores)
    out = {"overall": ranking_metrics(ranked, truths), "node_level": ranking_metrics(ranked, truths,
                                                                                      node_level=True)}
    if by_kind:
        kinds = sorted({k for t in truths.values() for _, k in t})
        out["by_kind"] = {k: ranking_metrics(ranked, {i: t for i, t in truths.items() if any(c[1] == k for c in t)})
                          for k in kinds}
    if calibration is not None:
        conf, correct = top1_confidence(table, scores, calibration)
        out["ece"] = expected_calibration_error(conf, correct)
        out["reliability"] = reliability_table(conf, correct)
    return out


def top1_confidence(table: HypothesisTable, scores: np.ndarray, calibration: Calibration
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per incident: the calibrated confidence of the top hypothesis and whether it is a true cause."""
    truths = table.truths()
    frame = table.rows[["incident_id", "node", "kind"]].assign(_s=np.asarray(scores, dtype=float))
    conf, correct = [], []
    groups = dict(tuple(frame.groupby("incident_id", sort=True)))
    for incident in sorted(truths):
        g = groups.get(incident)
        if g is None or g.empty:
            continue
        p = calibration.probabilities(g["_s"].to_numpy())
        order = np.lexsort((g["kind"].to_numpy(), g["node"].to_numpy(), -p))
        best = order[0]
        conf.append(float(p[best]))
        correct.append(float((g["node"].iloc[best], g["kind"].iloc[best]) in truths[incident]))
    return np.array(conf), np.array(correct)


def calibration_groups(table: HypothesisTable, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(scores, is_cause)`` per incident, including incidents without hypotheses (skipped by the fit)."""
    frame = table.rows[["incident_id", "is_cause"]].assign(_s=np.asarray(scores, dtype=float))
    return [(g["_s"].to_numpy(), g["is_cause"].to_numpy()) for _, g in frame.groupby("incident_id", sort=True)]


def random_metrics(table: HypothesisTable, *, seed: int = 0, repeats: int = RANDOM_REPEATS) -> dict:
    """Baseline: uniformly random order, metrics averaged over seeded repeats."""
    rng = np.random.default_rng(seed)
    runs = [evaluate_scores(table, rng.random(len(table.rows))) for _ in range(repeats)]
    return _average(runs)


def _average(runs: list[dict]) -> dict:
    if isinstance(runs[0], dict):
        return {k: _average([r[k] for r in runs]) for k in runs[0]}
    return float(np.mean(runs))
