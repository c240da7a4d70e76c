import numpy as np
import pytest
from scipy import stats

from rca.stats.robust import (count_step, iqr, mad, median, resolution, robust_scale, robust_z, soft_cap, sustained_onset,
                              two_proportion_z)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mad_and_iqr_match_scipy(seed):
    x = np.random.default_rng(seed).standard_t(3, size=101)
    assert mad(x) == pytest.approx(stats.median_abs_deviation(x, scale="normal"))
    assert mad(x, normal=False) == pytest.approx(stats.median_abs_deviation(x))
    assert iqr(x) == pytest.approx(stats.iqr(x))
    assert iqr(x, normal=True) == pytest.approx(stats.iqr(x, scale="normal"))


def test_nan_and_empty():
    assert mad([1.0, np.nan, 3.0, 5.0]) == pytest.approx(stats.median_abs_deviation([1, 3, 5], scale="normal"))
    assert np.isnan(mad([])) and np.isnan(iqr([])) and np.isnan(robust_scale([]))
    assert np.isnan(robust_z([], [1.0])).all()


def test_robust_scale_floors_flat_series():
    assert robust_scale([10.0] * 20) == pytest.approx(0.5)            # 5% of the level
    assert robust_scale([0.0] * 20, abs_floor=1.0) == 1.0
    # MAD zero but IQR not: falls back to the normal-scaled IQR
    x = [0, 0, 0, 0, 0, 0, 1, 1, 2, 3]
    assert robust_scale(x, rel_floor=0) == pytest.approx(stats.iqr(x, scale="normal"))


def test_robust_z_known_answer():
    base = [9.0, 10.0, 11.0, 10.0, 10.0]           # median 10, MAD 0 -> IQR 0 -> floor 0.5
    assert robust_z(base, [12.0, 10.0]).tolist() == pytest.approx([4.0, 0.0])


def test_sustained_onset():
    assert sustained_onset([1, 0, 0, 0, 0, 1, 1, 1]) == 5
    assert sustained_onset([0, 1, 0, 1, 1, 1]) == 1            # 4 of the 5 points from index 1 are flagged
    assert sustained_onset([0, 0, 1, 1, 0, 1]) == 2            # one gap inside the change is tolerated
    assert sustained_onset([1, 0, 0, 0, 0]) is None
    assert sustained_onset([]) is None


def test_two_proportion_z_matches_formula():
    k1, n1, k2, n2 = 10, 1000, 40, 1000
    p = (k1 + k2) / (n1 + n2)
    expected = (k2 / n2 - k1 / n1) / np.sqrt(p * (1 - p) * (2 / 1000))
    assert two_proportion_z(k1, n1, k2, n2) == pytest.approx(expected)
    # squared, it is the chi-square statistic of the 2x2 table without continuity correction
    chi2 = stats.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)[0]
    assert two_proportion_z(k1, n1, k2, n2) ** 2 == pytest.approx(chi2)
    assert two_proportion_z(0, 0, 1, 1) == 0.0


def test_resolution_and_soft_cap():
    assert resolution([1, 3, 3, 4, 7]) == 1.0
    assert resolution([5, 5]) == 0.0
    capped = soft_cap([1.0, 100.0, 200.0])
    assert capped[0] == pytest.approx(1.0, abs=1e-3) and capped[1] < capped[2] < 50


def test_count_step_is_one_for_whole_numbers_only():
    assert count_step(np.zeros(72), [0.0, 0.0, 1.0]) == 1.0
    assert count_step([3.0, np.nan, 4.0]) == 1.0
    assert count_step(np.zeros(72), [0.0, 0.5]) == 0.0
    assert count_step([np.nan]) == 0.0 and count_step() == 0.0


def test_median_is_numpys_to_the_last_bit():
    rng = np.random.default_rng(7)
    for size in [*range(1, 40), 101, 1000]:
        for x in (rng.normal(size=size) * 1e6, rng.integers(0, 3, size).astype(float), rng.lognormal(size=size),
                  np.r_[rng.normal(size=size), np.inf]):
            assert median(x) == float(np.median(x)), (size, x)
