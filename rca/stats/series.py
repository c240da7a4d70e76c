"""Tests on a per-bucket series (a drift statistic per time bucket) and on proportions."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from rca.stats.distributions import TestResult
from rca.stats.robust import median


class StepTrend(NamedTuple):
    """How a series moved: a single step or a linear trend.

    ``score`` is ``(sse_trend - sse_step) / (sse_trend + sse_step)`` in [-1, 1]: near +1 an abrupt step
    explains the series much better than a line, near -1 a line (gradual drift) explains it better. ``change`` is the
    index of the first bucket after the best step.
    """

    score: float
    change: int
    sse_step: float
    sse_trend: float


def step_vs_trend(values) -> StepTrend:
    """Compare the best single-step fit with the least-squares line on a series (NaNs dropped).

    Returns score 0 and change 0 for a series shorter than 3 or without variance.
    """
    y = np.asarray(values, dtype=float)
    idx = np.flatnonzero(~np.isnan(y))
    y = y[idx]
    n = y.size
    sst = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    if n < 3 or sst <= 1e-300:
        return StepTrend(0.0, 0, 0.0, 0.0)
    # Best step: for each split k (1..n-1), SSE of two means, from cumulative sums.
    c1, c2 = np.cumsum(y), np.cumsum(y * y)
    k = np.arange(1, n)
    left = c2[:-1] - c1[:-1] ** 2 / k
    right = (c2[-1] - c2[:-1]) - (c1[-1] - c1[:-1]) ** 2 / (n - k)
    sse_split = left + right
    best = int(np.argmin(sse_split))
    sse_step = max(0.0, float(sse_split[best]))
    x = np.arange(n, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    sse_trend = float(np.sum((y - (slope * x + intercept)) ** 2))
    denom = sse_trend + sse_step
    score = (sse_trend - sse_step) / denom if denom > 1e-12 * sst else 0.0
    return StepTrend(score, int(idx[best + 1]), sse_step, sse_trend)


def robust_threshold(reference, *, k: float = 4.0, floor: float = 0.0) -> float:
    """``median + k * 1.4826 * MAD`` of reference values (NaNs dropped), at least ``floor``.

    Robust to a part of the reference being abnormal already; an empty reference gives ``floor``.
    """
    r = np.asarray(reference, dtype=float)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return float(floor)
    med = median(r)
    mad = median(np.abs(r - med))
    return max(float(floor), med + k * 1.4826 * mad)


def onset_index(flags, *, min_fraction: float = 0.8) -> int | None:
    """The first index from which a change holds: ``flags[i]`` is set and at least ``min_fraction`` of
    ``flags[i:]`` are set, and so is the last one. ``None`` when no such index exists.

    >>> onset_index([0, 1, 0, 0, 1, 1, 1, 1])
    4
    """
    f = np.asarray(flags, dtype=bool)
    n = f.size
    if n == 0 or not f[-1]:
        return None
    tail_set = np.cumsum(f[::-1])[::-1]  # how many set in f[i:]
    tail_len = n - np.arange(n)
    ok = f & (tail_set >= min_fraction * tail_len)
    hits = np.flatnonzero(ok)
    return int(hits[0]) if hits.size else None


def two_proportion_test(x1: float, n1: float, x2: float, n2: float) -> TestResult:
    """Pooled two-sided z-test that two proportions ``x1/n1`` and ``x2/n2`` are equal.

    Returns the z statistic (positive when the second proportion is larger) and its p-value; z**2 equals
    the uncorrected chi-square of the 2x2 table. Degenerate inputs (a zero total, pooled rate 0 or 1) give
    z = 0, p = 1.
    """
    if n1 <= 0 or n2 <= 0:
        return TestResult(0.0, 1.0)
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return TestResult(0.0, 1.0)
    z = (x2 / n2 - x1 / n1) / np.sqrt(var)
    return TestResult(float(z), float(2 * special.ndtr(-abs(z))))  # scipy.stats.norm.sf, without its overhead
