"""Synthetic hypothesis tables for ranker tests: the cause is recognisable from two features plus noise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rca.ranking.dataset import HypothesisTable
from rca.ranking.features import BASE_FEATURES


def synthetic_table(n_incidents: int = 60, per_incident: int = 8, seed: int = 0, *,
                    signal: float = 1.0) -> HypothesisTable:
    """Incidents split 60/20/20 by order (time); the cause has a higher ``hist.psi`` and reaches the symptom."""
    rng = np.random.default_rng(seed)
    rows, incidents = [], []
    for i in range(n_incidents):
        split = "train" if i < 0.6 * n_incidents else "validation" if i < 0.8 * n_incidents else "test"
        cause = int(rng.integers(per_incident))
        inc = f"inc-{i:03d}"
        for j in range(per_incident):
            row = {name: 0.0 for name in BASE_FEATURES}
            row["event_latest_rank"] = float("nan")      # no change event upstream (ranks start at 1)
            is_cause = j == cause
            row.update({"incident_id": inc, "node": f"feature:f{j}", "kind": "data_drift", "split": split,
                        "is_cause": float(is_cause), "score": float(rng.gamma(2.0)) + signal * 0.7 * is_cause,
                        "reaches_symptom": float(is_cause or rng.random() < 0.5),
                        "hist.psi": float(rng.normal(signal * is_cause, 1.0))})
            rows.append(row)
        incidents.append({"incident_id": inc, "split": split, "detected_at": f"2026-01-{1 + i % 28:02d}",
                          "causes": json.dumps([[f"feature:f{cause}", "data_drift"]]),
                          "n_hypotheses": per_incident})
    return HypothesisTable(pd.DataFrame(rows), pd.DataFrame(incidents))


def retrain_result(challenger: str = "v2", *, champion: str | None = "v1", promoted: bool = True) -> dict:
    """What `rca.ranking.train.retrain` returns, with real validation metrics of a synthetic table (the
    challenger ranks by score, the champion against it), for tests that stand in for training."""
    from rca.ranking.evaluate import evaluate_scores

    table = synthetic_table(20, signal=3.0)
    score = table.rows["score"].to_numpy()
    return {"challenger": challenger, "champion": champion, "promoted": promoted, "twin": False,
            "refused": None if promoted else "worse than the champion on validation", "known": None,
            "metrics": {"challenger": evaluate_scores(table, score),
                        "champion": evaluate_scores(table, -score) if champion else None},
            "training": {"incidents": 12, "reduced_copies": 9, "validation_incidents": 20}}
