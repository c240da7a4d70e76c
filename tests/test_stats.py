"""Each statistic against scipy or its textbook formula, and on hand-built cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from rca.stats import (
    auc,
    calibration_gap,
    chi2_counts,
    js_distance,
    ks_binned,
    ks_exact,
    log_loss,
    onset_index,
    precision_recall,
    psi,
    robust_threshold,
    step_vs_trend,
    two_proportion_test,
    wasserstein_binned,
    wasserstein_exact,
)
from rca.stats.distributions import _ks_asymp_p, psi_rows


def test_psi_textbook_and_known_answer():
    e, a = np.array([10, 20, 30, 40.0]), np.array([40, 30, 20, 10.0])
    p, q = e / e.sum(), a / a.sum()
    assert psi(e, a) == pytest.approx(np.sum((q - p) * np.log(q / p)))
    # Hand-built: shares (0.5, 0.5) -> (0.25, 0.75): 2 * 0.25 * ln(3) ... by hand:
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi([1, 1], [1, 3]) == pytest.approx(expected)
    assert psi([5, 5, 5], [50, 50, 50]) == pytest.approx(0.0)


def test_psi_smooths_empty_bins_and_rows_match():
    value = psi([10, 0], [5, 5])
    q, p = np.array([0.5, 0.5]), np.array([1.0, 1e-4])
    assert value == pytest.approx(np.sum((q - p) * np.log(q / p)))
    rows = np.array([[5, 5], [1, 9], [0, 0]])
    out = psi_rows([10, 0], rows)
    assert out[0] == pytest.approx(value) and out[1] == pytest.approx(psi([10, 0], [1, 9])) and np.isnan(out[2])


def test_psi_rejects_bad_input():
    with pytest.raises(ValueError, match="aligned"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="sum to 0"):
        psi([0, 0], [1, 2])


def test_ks_binned_matches_scipy_on_discrete_samples():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 10, 3000)
    b = np.clip(rng.integers(0, 10, 2000) + rng.integers(0, 2, 2000), 0, 9)
    ca, cb = np.bincount(a, minlength=10), np.bincount(b, minlength=10)
    ref = stats.ks_2samp(a, b, method="asymp")
    got = ks_binned(ca, cb)
    assert got.statistic == pytest.approx(ref.statistic)
    # effective size 1,200: Stephens' approximation of scipy's finite-n p-value
    assert np.log10(got.p_value) == pytest.approx(np.log10(ref.pvalue), abs=0.05)
    small = ks_binned(ca[:5] // 10, cb[:5] // 10)          # effective size <= 1,000: scipy's own value
    ref_small = stats.ks_2samp(np.repeat(np.arange(5), ca[:5] // 10), np.repeat(np.arange(5), cb[:5] // 10),
                               method="asymp")
    assert small.p_value == pytest.approx(ref_small.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("en", [1001, 2000, 5000, 20000, 100000])
def test_large_sample_ks_p_value_stays_close_to_the_finite_n_distribution(en):
    for d in np.linspace(0.002, 0.3, 60):
        exact = stats.kstwo.sf(d, en)
        if exact < 1e-30:
            break
        assert np.log10(_ks_asymp_p(d, 2 * en, 2 * en)) == pytest.approx(np.log10(exact), abs=0.05), d


def test_ks_exact_wraps_scipy_and_drops_nan():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, 200)
    ref = stats.ks_2samp(a, b)
    got = ks_exact(np.append(a, np.nan), b)
    assert got == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))


def test_js_distance_matches_scipy_and_bounds():
    e, a = [1, 2, 3, 0], [0, 3, 3, 4]
    assert js_distance(e, a) == pytest.approx(distance.jensenshannon(e, a, base=2))
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([2, 3], [4, 6]) == pytest.approx(0.0, abs=1e-7)


def test_chi2_counts_matches_scipy_contingency():
    e, a = [100, 50, 30, 0], [80, 70, 20, 0]
    ref = stats.chi2_contingency(np.array([[100, 50, 30], [80, 70, 20]]), correction=False)
    got = chi2_counts(e, a)
    assert got.statistic == pytest.approx(ref.statistic) and got.p_value == pytest.approx(ref.pvalue)
    assert chi2_counts([5, 0], [7, 0]) == (0.0, 1.0)


def test_wasserstein_binned_matches_scipy_and_known_shift():
    edges = np.array([0, 1, 2, 4, 8.0])
    e, a = np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])
    centres = (edges[1:] + edges[:-1]) / 2
    assert wasserstein_binned(edges, e, a) == pytest.approx(stats.wasserstein_distance(centres, centres, e, a))
    # All mass moves one bin to the right on unit bins: distance 1.
    assert wasserstein_binned([0, 1, 2, 3], [1, 0, 0], [0, 1, 0]) == pytest.approx(1.0)


def test_wasserstein_exact_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=100), rng.normal(2, 1, 80)
    assert wasserstein_exact(a, b) == pytest.approx(stats.wasserstein_distance(a, b))


def test_two_proportion_squared_is_uncorrected_chi2():
    z, p = two_proportion_test(10, 200, 40, 250)
    ref = stats.chi2_contingency(np.array([[10, 190], [40, 210]]), correction=False)
    assert z > 0 and z * z == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert two_proportion_test(0, 10, 0, 10) == (0.0, 1.0)
    assert two_proportion_test(1, 0, 1, 10) == (0.0, 1.0)


def test_step_vs_trend_tells_step_from_ramp():
    step = step_vs_trend([0, 0, 0, 0, 0, 5, 5, 5, 5])
    assert step.score > 0.5 and step.change == 5 and step.sse_step == pytest.approx(0.0)
    ramp = step_vs_trend(np.arange(10.0))
    assert ramp.score < -0.5 and ramp.sse_trend == pytest.approx(0.0, abs=1e-12)
    with_nan = step_vs_trend([0, np.nan, 0, 0, 3, 3, 3])
    assert with_nan.change == 4
    assert step_vs_trend([1, 1, 1]).score == 0.0


def test_onset_index_and_robust_threshold():
    assert onset_index([0, 1, 0, 0, 1, 1, 1, 1]) == 4
    assert onset_index([0, 0, 1, 1, 0, 1, 1, 1, 1, 1], min_fraction=0.8) == 2
    assert onset_index([1, 1, 1, 0]) is None
    assert onset_index([]) is None
    assert robust_threshold([1, 1, 1, 1, 100]) == pytest.approx(1.0)
    assert robust_threshold([1, 2, 3], k=1) == pytest.approx(2 + 1.4826)
    assert robust_threshold([], floor=0.1) == 0.1


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.uniform(size=60) + 0.3 * y, 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert auc(y, s) == pytest.approx(pairs / (pos.size * neg.size))
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert math.isnan(auc([1, 1], [0.2, 0.3]))


def test_log_loss_precision_recall_calibration_known_answers():
    assert log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert log_loss([1], [0.9]) == pytest.approx(-math.log(0.9))
    pr = precision_recall([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.5)
    assert pr == (0.5, 0.5)
    assert calibration_gap([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.25)
