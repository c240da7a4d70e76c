"""The cold-start scorer: a documented formula over the feature table, no trained model needed.

    score = 0.25 * sym_z_rel                     evidence in the symptom's family, relative to the incident's max
          + 0.10 * score_rel_max                 any generator evidence, relative to the incident's strongest
          + 0.20 * sym_upstream_most             anomalous, reaches the symptom, no anomalous ancestor
          + 0.15 * sym_ppr_rel                   where a walk from the symptom along anomalous callees ends
          + 0.10 * explains                      reaches the symptom, and the share of anomalies it explains
          + 0.10 * precedes                      share of its anomalous descendants that started no earlier
          + 0.10 * recent_change                 a change event on its upstream path shortly before onset
          + 0.10 * unexplained                   its symptom-family z is not matched by a callee's
          - 0.30 * anomalous_ancestor_better     an upstream anomaly is stronger and earlier: it is a symptom

The reasoning (BARO, RCD, epsilon-Diagnosis): the symptom names the metric family that matters (a latency
KPI -> latency evidence, availability -> errors; `rca.graph.symptom`), impact flows from callee to caller,
so the cause is the upstream-most node anomalous in that family, and a caller whose anomaly a callee
matches is a symptom. Relative measures (z over the incident's largest) are used rather than raw z so that
a shifted baseline, which moves every node a bit, does not decide.

``explains = 0.5 * reaches_symptom + 0.5 * anomalous_descendant_share``, ``precedes`` is
``onset_precedes_share`` (0.5 when unknown), ``recent_change = 1 / (1 + hours / 2)`` for the hours between
the nearest upstream change event and the onset (0 without one), and ``unexplained`` is
``1 - sym_excess_covered`` (the share of the node's added seconds or failed requests no callee accounts
for) where the metrics measure amounts, else ``clip(sym_z_minus_callee / sym_z, 0, 1)`` (the same in z).
Missing features take their neutral value (0, or 0.5 for ``precedes``). Confidences are a softmax of the
score with a fixed temperature (0.1) unless a calibration is fitted (`rca train` fits one on validation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.ranking.base import TableRanker
from rca.ranking.calibration import Calibration

WEIGHTS = {"sym_z_rel": 0.25, "score_rel_max": 0.10, "sym_upstream_most": 0.20, "sym_ppr_rel": 0.15,
           "explains": 0.10, "precedes": 0.10, "recent_change": 0.10, "unexplained": 0.10,
           "anomalous_ancestor_better": -0.30}


def _col(t: pd.DataFrame, name: str, neutral: float) -> pd.Series:
    return t[name].fillna(neutral) if name in t else pd.Series(neutral, index=t.index)


def heuristic_parts(table: pd.DataFrame) -> dict[str, pd.Series]:
    """Each term of the formula above, row by row (NaN or absent features take their neutral value)."""
    t = table
    explains = 0.5 * _col(t, "reaches_symptom", 0) + 0.5 * _col(t, "anomalous_descendant_share", 0)
    recent = (1 / (1 + t["event_hours_before_onset"].clip(lower=0) / 2)).fillna(0)
    sym_z = _col(t, "sym_z", 0)
    unexplained = (_col(t, "sym_z_minus_callee", 0) / sym_z.where(sym_z > 0)).clip(0, 1).fillna(0)
    if "sym_excess_covered" in t:           # amounts, where the metrics measure them, over z-scores
        unexplained = (1 - t["sym_excess_covered"]).fillna(unexplained)
    return {"sym_z_rel": _col(t, "sym_z_rel", 0), "score_rel_max": _col(t, "score_rel_max", 0),
            "sym_upstream_most": _col(t, "sym_upstream_most", 0), "sym_ppr_rel": _col(t, "sym_ppr_rel", 0),
            "explains": explains, "precedes": _col(t, "onset_precedes_share", 0.5), "recent_change": recent,
            "unexplained": unexplained, "anomalous_ancestor_better": _col(t, "anomalous_ancestor_better", 0)}


def heuristic_scores(table: pd.DataFrame) -> np.ndarray:
    """The formula above, row by row."""
    parts = heuristic_parts(table)
    return sum(WEIGHTS[k] * parts[k] for k in WEIGHTS).to_numpy(dtype=float)


class HeuristicRanker(TableRanker):
    """The documented formula as a ranker: the cold-start default and a baseline."""

    name = "heuristic"

    def __init__(self, calibration: Calibration | None = None) -> None:
        self.calibration = calibration or Calibration(temperature=0.1)

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        return heuristic_scores(table)
