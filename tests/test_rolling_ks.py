"""The rolling KS detector: exact statistic and p-values vs scipy, pinned detections on seeded streams."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rca.detectors import RollingKS, first_detection, rolling_ks
from rca.errors import ConfigError


def _brute_force(reference, values, window, alpha):
    """Detections by re-testing each full window with scipy (the slow reference implementation)."""
    hits, buf = [], []
    for i, x in enumerate(values):
        buf.append(x)
        buf = buf[-window:]
        if len(buf) == window and stats.ks_2samp(reference, buf).pvalue < alpha:
            hits.append(i)
            buf = []
    return hits


def _stream(seed):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=400)
    values = np.concatenate([rng.normal(size=600), rng.normal(1.0, 1, 300), rng.normal(size=300)])
    return ref, values


def test_statistic_matches_scipy_on_every_full_window():
    rng = np.random.default_rng(0)
    ref = np.round(rng.normal(size=150), 1)  # rounding makes ties inside and across samples
    values = np.round(rng.normal(0.2, 1.2, 400), 1)
    det = RollingKS(ref, window_size=50, alpha=1e-9)
    for i, x in enumerate(values):
        det.update(x)
        if i >= 49:
            assert det.statistic == pytest.approx(stats.ks_2samp(ref, values[i - 49:i + 1]).statistic, abs=1e-12)
        else:
            assert np.isnan(det.statistic)


def test_detections_pinned_and_equal_to_brute_force():
    ref, values = _stream(7)
    hits = list(rolling_ks(ref, values, window_size=100, alpha=0.001))
    assert hits == _brute_force(ref, values, 100, 0.001)
    assert hits == [632, 732, 832, 932]  # pinned: the shift holds over values 600-899


def test_p_value_at_detection_is_scipys():
    ref, values = _stream(7)
    det = RollingKS(ref, window_size=100, alpha=0.001, reset_on_detect=False)
    for i, x in enumerate(values):
        if det.update(x).drift_detected:
            assert det.p_value == pytest.approx(stats.ks_2samp(ref, values[i - 99:i + 1]).pvalue)
            assert det.p_value < 0.001


def test_stable_stream_gives_no_detection():
    rng = np.random.default_rng(3)
    assert list(rolling_ks(rng.normal(size=500), rng.normal(size=3000), window_size=200, alpha=1e-4)) == []


def test_timestamps_are_yielded_and_nan_skipped():
    ref = np.arange(100.0)
    values = [np.nan] + [500.0] * 20
    stamps = [f"t{i}" for i in range(len(values))]
    assert list(rolling_ks(ref, values, window_size=20, alpha=0.01, timestamps=stamps)) == ["t20"]


def test_bad_parameters_give_clear_errors():
    with pytest.raises(ConfigError, match="window_size"):
        RollingKS([1.0], window_size=1)
    with pytest.raises(ConfigError, match="alpha"):
        RollingKS([1.0], alpha=2)
    with pytest.raises(ConfigError, match="reference"):
        RollingKS([np.nan])
    with pytest.raises(ConfigError, match="timestamps"):
        list(rolling_ks([1.0, 2.0], [1.0, 2.0, 3.0], window_size=2, timestamps=[0]))


def _shifted_stream(seed):
    """A random reference, window, shift point and alpha; ties (rounded values) and NaNs on some seeds."""
    rng = np.random.default_rng(seed)
    window = int(rng.integers(5, 120))
    ref = rng.normal(size=int(rng.integers(30, 3000)))
    values = rng.normal(size=int(rng.integers(window - 3, 1500)))
    cut = int(rng.integers(0, values.size))
    values[cut:] = values[cut:] * rng.uniform(0.8, 2.0) + rng.uniform(0.0, 1.0)
    if seed % 3 == 0:
        ref, values = np.round(ref, 1), np.round(values, 1)
    if seed % 5 == 0:
        values[rng.integers(0, values.size, values.size // 10 + 1)] = np.nan
    return ref, values, window, float(rng.choice([1e-2, 1e-3, 1e-5]))


@pytest.mark.parametrize("seed", range(40))
def test_first_detection_is_the_streaming_detectors_first(seed):
    ref, values, window, alpha = _shifted_stream(seed)
    expected = next(rolling_ks(ref, values, window_size=window, alpha=alpha), None)
    assert first_detection(ref, values, window_size=window, alpha=alpha) == expected
    assert first_detection(ref, values, window_size=window, alpha=alpha, block=7) == expected


def test_first_detection_pinned():
    ref, values = _stream(7)
    assert first_detection(ref, values, window_size=100, alpha=0.001) == 632
    rng = np.random.default_rng(3)
    assert first_detection(rng.normal(size=500), rng.normal(size=3000), window_size=200, alpha=1e-4) is None
    assert first_detection(ref, values[:99], window_size=100, alpha=0.001) is None  # never a full window
    with pytest.raises(ConfigError, match="window_size"):
        first_detection(ref, values, window_size=1)
