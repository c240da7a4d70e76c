import math

import numpy as np
import pytest

from rca.ranking.calibration import Calibration, fit_calibration, negative_log_likelihood
from rca.ranking.metrics import (expected_calibration_error, first_hit, ndcg_at, ranking_metrics,
                                 reliability_table)

A, B, C = ("feature:a", "data_drift"), ("feature:b", "data_drift"), ("service:s", "dependency_latency")


def test_first_hit_and_node_level():
    assert first_hit([A, B, C], {B}) == 2
    assert first_hit([A, B], {C}) == math.inf
    # same node, other kind: a miss, but a hit at node level, and node repeats collapse
    ranking = [("feature:a", "missing_values"), ("feature:a", "data_drift"), C]
    assert first_hit(ranking, {C}) == 3 and first_hit(ranking, {C}, node_level=True) == 2


def test_ranking_metrics_known_values():
    rankings = {"i1": [A, B, C], "i2": [B, C, A], "i3": [C, A, B], "i4": [B]}
    truths = {"i1": {A}, "i2": {A}, "i3": {B}, "i4": {C}}  # hits at 1, 3, 3, none
    m = ranking_metrics(rankings, truths)
    assert m["AC@1"] == 0.25 and m["AC@3"] == 0.75 and m["AC@5"] == 0.75
    assert m["Avg@5"] == pytest.approx((0.25 + 0.25 + 0.75 + 0.75 + 0.75) / 5)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 3 + 0) / 4)
    assert m["NDCG@5"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)  # 1/log2(4) = 0.5


def test_ndcg_with_two_causes():
    assert ndcg_at([A, C, B], {A, B}) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))


def test_ece_by_hand():
    conf = np.array([0.95, 0.95, 0.15, 0.15])
    correct = np.array([1, 0, 0, 0])
    # bin 0.9-1.0: conf 0.95 acc 0.5 ; bin 0.1-0.2: conf 0.15 acc 0
    assert expected_calibration_error(conf, correct) == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    table = reliability_table(conf, correct)
    assert [r["count"] for r in table] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]


def test_calibration_sums_to_at_most_one_and_fit_reduces_nll():
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(200):
        s = rng.normal(size=6) * 5  # overconfident raw scores
        true = np.zeros(6)
        if rng.random() < 0.9:
            # the true cause is the top one only 60% of the time
            true[np.argmax(s) if rng.random() < 0.6 else rng.integers(6)] = 1
        groups.append((s, true))
    raw = Calibration(1.0, -np.inf)
    fitted = fit_calibration(groups)
    assert negative_log_likelihood(fitted, groups) < negative_log_likelihood(raw, groups) - 0.1
    assert fitted.temperature > 1.0  # softened
    p = fitted.probabilities(groups[0][0])
    assert p.sum() < 1.0 and np.all(p > 0)
    assert Calibration.from_dict(fitted.to_dict()) == fitted
