"""Known answers for the ranker's within-incident consistency features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.ranking.features import BASE_FEATURES, CONSISTENCY_FEATURES, consistency_features


def test_consistency_features_known_answer():
    nodes = pd.Series(["feature:a", "feature:a", "feature:b", "service:c"])
    kinds = pd.Series(["data_drift", "stale_feature", "data_drift", "dependency_errors"])
    score = pd.Series([5.0, 3.0, 4.0, 0.0])
    out = consistency_features(nodes, kinds, score)
    assert list(out.columns) == list(CONSISTENCY_FEATURES)
    assert out["score_gap_on_node"].tolist() == [2.0, -2.0, 4.0, 0.0]
    assert out["score_ratio_on_node"].tolist() == [1.0, 0.6, 1.0, 1.0]  # a node with best score 0 -> 1
    assert out["node_score_rank"].tolist() == [1.0, 1.0, 2.0, 3.0]
    assert out["kind_score_rank"].tolist() == [1.0, 1.0, 2.0, 1.0]
    np.testing.assert_allclose(out["score_gap_to_next"], [0.2, 0.6, 0.2, 0.0])
    assert set(CONSISTENCY_FEATURES) <= set(BASE_FEATURES)


def test_consistency_features_ties_share_rank():
    out = consistency_features(pd.Series(["n1", "n2"]), pd.Series(["k", "k"]), pd.Series([2.0, 2.0]))
    assert out["kind_score_rank"].tolist() == [1.0, 1.0] and out["node_score_rank"].tolist() == [1.0, 1.0]
    assert out["score_gap_to_next"].tolist() == [0.0, 0.0]
