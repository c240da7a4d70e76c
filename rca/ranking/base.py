"""What every table-based ranker shares: score the feature rows, calibrate, build the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Answer
from rca.generators.base import Candidates
from rca.ranking.calibration import Calibration
from rca.ranking.explain import explain
from rca.ranking.features import incident_table
from rca.ranking.rule import answer_from_scores


class TableRanker:
    """Base of the heuristic and LightGBM rankers: subclasses implement `score_table` (higher is better)."""

    name = "table"
    calibration: Calibration = Calibration()

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def rank(self, bundle: Bundle, candidates: Candidates, *, top: int = 10) -> Answer:
        """The contract's answer: hypotheses by calibrated confidence, each with an explanation sentence."""
        it = incident_table(bundle, candidates)
        scores = self.score_table(it.rows) if len(it.hypotheses) else np.array([])
        confidences = self.calibration.probabilities(scores)
        rows = {id(h): row for h, (_, row) in zip(it.hypotheses, it.rows.iterrows())}
        return answer_from_scores(bundle, it.hypotheses, confidences, self.name, top=top,
                                  explain=lambda h: explain(h, rows[id(h)], bundle, it.graph))
