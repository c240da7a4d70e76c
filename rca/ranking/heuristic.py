"""The cold-start scorer: a documented formula over the feature table, no trained model needed.

    score = 0.35 * score_rel_max                 generator evidence relative to the incident's strongest
          + 0.20 * explains                      reaches the symptom, and the share of anomalies it explains
          + 0.15 * precedes                      share of its anomalous descendants that started no earlier
          + 0.15 * ppr_rel                       walk from anomalies back towards causes (relative to max)
          + 0.15 * recent_change                 a change event on its upstream path shortly before onset
          - 0.40 * anomalous_ancestor_better     an upstream anomaly is stronger and earlier: it is a symptom

where ``explains = 0.5 * reaches_symptom + 0.5 * anomalous_descendant_share``, ``precedes`` is
``onset_precedes_share`` (0.5 when unknown) and ``recent_change = 1 / (1 + hours / 2)`` for the hours between
the nearest upstream change event and the onset (0 without one). On a service-metrics-only incident this
prefers the upstream-most anomalous service that reaches the symptom. Confidences are a softmax of the
score with a fixed temperature (0.1) unless a calibration is fitted (`rca train` fits one on validation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.ranking.base import TableRanker
from rca.ranking.calibration import Calibration

WEIGHTS = {"score_rel_max": 0.35, "explains": 0.20, "precedes": 0.15, "ppr_rel": 0.15, "recent_change": 0.15,
           "anomalous_ancestor_better": -0.40}


def heuristic_scores(table: pd.DataFrame) -> np.ndarray:
    """The formula above, row by row (NaN features take their neutral value)."""
    t = table
    explains = 0.5 * t["reaches_symptom"].fillna(0) + 0.5 * t["anomalous_descendant_share"].fillna(0)
    precedes = t["onset_precedes_share"].fillna(0.5)
    recent = (1 / (1 + t["event_hours_before_onset"].clip(lower=0) / 2)).fillna(0)
    parts = {"score_rel_max": t["score_rel_max"].fillna(0), "explains": explains, "precedes": precedes,
             "ppr_rel": t["ppr_rel"].fillna(0), "recent_change": recent,
             "anomalous_ancestor_better": t["anomalous_ancestor_better"].fillna(0)}
    return sum(WEIGHTS[k] * parts[k] for k in WEIGHTS).to_numpy(dtype=float)


class HeuristicRanker(TableRanker):
    """The documented formula as a ranker: the cold-start default and a baseline."""

    name = "heuristic"

    def __init__(self, calibration: Calibration | None = None) -> None:
        self.calibration = calibration or Calibration(temperature=0.1)

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        return heuristic_scores(table)
