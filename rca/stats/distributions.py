"""Distances and tests between two distributions given as aligned counts (histograms) or as raw samples.

Counts are aligned: index ``i`` of both arrays is the same bin or category. Under- and overflow bins, when
the caller wants them compared, are simply extra entries of the count arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special, stats

PSI_EPS = 1e-4
"""Floor for an empty bin's share in PSI (the textbook 0.0001 replacement of zero proportions)."""


class TestResult(NamedTuple):
    statistic: float
    p_value: float


def _shares(counts: np.ndarray, name: str) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array of counts, got shape {counts.shape}")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"{name}: counts must be finite and >= 0")
    total = counts.sum()
    if total <= 0:
        raise ValueError(f"{name}: counts sum to 0; expected at least one observation")
    return counts / total


def _aligned(expected, actual) -> tuple[np.ndarray, np.ndarray]:
    p, q = _shares(expected, "expected"), _shares(actual, "actual")
    if p.shape != q.shape:
        raise ValueError(f"expected and actual have {p.size} and {q.size} bins; expected aligned counts")
    return p, q


def psi(expected, actual, *, eps: float = PSI_EPS) -> float:
    """Population stability index ``sum((q - p) * ln(q / p))`` over aligned bins.

    Empty bins get the share ``eps`` (the textbook smoothing) so the index stays finite. The usual reading:
    below 0.1 no significant change, 0.1-0.2 a moderate change, above 0.2 a significant shift.

    Parameters
    ----------
    expected, actual : counts per bin (reference first), any non-negative numbers.

    Returns
    -------
    float >= 0.
    """
    p, q = _aligned(expected, actual)
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_rows(expected, actual_rows, *, eps: float = PSI_EPS) -> np.ndarray:
    """`psi` of each row of a 2-D count matrix against one reference (rows with no counts give NaN)."""
    p = np.maximum(_shares(expected, "expected"), eps)
    rows = np.asarray(actual_rows, dtype=float)
    totals = rows.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.maximum(rows / totals, eps)
        out = np.sum((q - p) * np.log(q / p), axis=1)
    out[totals[:, 0] <= 0] = np.nan
    return out


def ks_binned(expected, actual) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test from binned counts (CDFs compared at the bin edges).

    The statistic is the largest gap between the two cumulative shares, which equals the exact KS statistic
    when every value of a bin sits at one point (otherwise it is a lower bound). The p-value is the
    two-sided one of `_ks_asymp_p` (``scipy.stats.ks_2samp(method="asymp")``'s, approximated for large
    samples), with the sample sizes taken from the count totals.
    """
    p, q = _aligned(expected, actual)
    d = float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))))
    n, m = float(np.sum(expected)), float(np.sum(actual))
    return TestResult(d, _ks_asymp_p(d, n, m))


KS_FINITE_N_MAX = 1000
"""Up to this effective sample size the KS p-value is scipy's finite-n one; above it, Stephens' approximation."""


def _ks_asymp_p(d: float, n: float, m: float) -> float:
    """Two-sided KS p-value for statistic ``d`` and sample sizes ``n``, ``m`` (effective size ``nm/(n+m)``).

    Up to `KS_FINITE_N_MAX` it is exactly what ``scipy.stats.ks_2samp(method="asymp")`` computes, Kolmogorov's
    distribution for that size (``scipy.stats.kstwo``). That costs 1 ms at size 1,000, 3 ms at 3,000 and 23 ms at
    20,000, over a hundred times per bundle; above it the limiting distribution with Stephens' (1970) finite-size
    correction, ``kolmogorov((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * d)``, agrees with it within 0.05 in log10 p
    wherever p > 1e-30 and costs microseconds.
    """
    en = n * m / (n + m)
    if en <= KS_FINITE_N_MAX:
        p = stats.kstwo.sf(d, np.round(en))
    else:
        root = np.sqrt(en)
        p = special.kolmogorov((root + 0.12 + 0.11 / root) * d)
    return float(np.clip(p, 0.0, 1.0))


def ks_exact(reference, sample) -> TestResult:
    """Two-sample KS test on raw values (``scipy.stats.ks_2samp``, two-sided, NaNs dropped)."""
    a = np.asarray(reference, dtype=float)
    b = np.asarray(sample, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_exact needs at least one non-NaN value in each sample")
    res = stats.ks_2samp(a, b)
    return TestResult(float(res.statistic), float(res.pvalue))


def js_distance(expected, actual) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]): the square root of the JS divergence of the shares."""
    p, q = _aligned(expected, actual)
    m = 0.5 * (p + q)
    with np.errstate(invalid="ignore", divide="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    return float(np.sqrt(max(0.0, 0.5 * (kl_p.sum() + kl_q.sum()))))


def chi2_counts(expected, actual) -> TestResult:
    """Chi-square test of homogeneity of two aligned categorical count vectors (2 x K table, no correction).

    Categories empty in both are dropped. With fewer than two categories left the test is undefined and
    gives statistic 0, p-value 1.
    """
    a = np.asarray(expected, dtype=float)
    b = np.asarray(actual, dtype=float)
    _aligned(a, b)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    if a.size < 2:
        return TestResult(0.0, 1.0)
    table = np.vstack([a, b])
    expected_cells = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected_cells) ** 2 / expected_cells))
    return TestResult(statistic, float(special.chdtrc(a.size - 1, statistic)))  # = stats.chi2.sf, faster


def wasserstein_binned(edges, expected, actual) -> float:
    """Earth mover's distance between two histograms on shared ``edges``, each bin's mass at its centre.

    Equal to ``scipy.stats.wasserstein_distance(centres, centres, expected, actual)``; in the units of the
    feature. Under/overflow are not passed here (they have no location).
    """
    edges = np.asarray(edges, dtype=float)
    p, q = _aligned(expected, actual)
    if edges.size != p.size + 1:
        raise ValueError(f"{edges.size} edges for {p.size} bins; expected len(edges) == len(counts) + 1")
    centres = 0.5 * (edges[1:] + edges[:-1])
    gaps = np.diff(centres)
    return float(np.sum(np.abs(np.cumsum(p) - np.cumsum(q))[:-1] * gaps))


def wasserstein_exact(reference, sample) -> float:
    """Earth mover's distance between two raw samples (``scipy.stats.wasserstein_distance``, NaNs dropped)."""
    a = np.asarray(reference, dtype=float)
    b = np.asarray(sample, dtype=float)
    return float(stats.wasserstein_distance(a[~np.isnan(a)], b[~np.isnan(b)]))


def binned_std(edges, counts) -> float:
    """Standard deviation of a histogram with each bin's mass at its centre (a scale for `wasserstein_binned`)."""
    edges = np.asarray(edges, dtype=float)
    p = _shares(counts, "counts")
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = float(np.sum(p * centres))
    return float(np.sqrt(np.sum(p * (centres - mean) ** 2)))


def ks_sorted(reference, sample) -> TestResult:
    """Two-sample KS test on two already sorted, NaN-free samples, without scipy's exact-p cost.

    The statistic is exact (equal to ``scipy.stats.ks_2samp(...).statistic``); the p-value is the
    two-sided one of `_ks_asymp_p` (``ks_2samp(method="asymp")``'s, approximated for large samples), O(1)
    where scipy's exact method is O(n * m) for samples up to 10 000.

    Parameters
    ----------
    reference, sample : sorted 1-D float arrays, each with at least one value.
    """
    a, b = np.asarray(reference, dtype=float), np.asarray(sample, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_sorted needs at least one value in each sample")
    d = ks_statistic_sorted(a, b)
    return TestResult(d, _ks_asymp_p(d, a.size, b.size))


def ks_statistic_sorted(reference, sample) -> float:
    """The exact two-sample KS statistic of two sorted, NaN-free samples, looking up only ``sample`` in
    ``reference``: ``max_j max(j/m - F_ref(x_j), F_ref(x_j-) - (j-1)/m)``."""
    a, b = np.asarray(reference, dtype=float), np.asarray(sample, dtype=float)
    j = np.arange(1, b.size + 1) / b.size
    hi = np.searchsorted(a, b, side="right") / a.size
    lo = np.searchsorted(a, b, side="left") / a.size
    return float(max(np.max(j - hi), np.max(lo - (j - 1.0 / b.size))))


def wasserstein_sorted(reference, sample) -> float:
    """`wasserstein_exact` for two already sorted, NaN-free samples (same value as scipy's)."""
    a, b = np.asarray(reference, dtype=float), np.asarray(sample, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_sorted needs at least one value in each sample")
    both = np.sort(np.concatenate([a, b]), kind="mergesort")
    gaps = np.diff(both)
    cdf_a = np.searchsorted(a, both[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, both[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * gaps))


def ks_statistic_groups(reference_sorted, values, groups, n_groups: int) -> np.ndarray:
    """Exact KS statistic of each group of ``values`` against one sorted reference, in one vectorized pass.

    Group ``g`` holds ``values[groups == g]``; ``out[g]`` equals
    ``scipy.stats.ks_2samp(reference, values[groups == g]).statistic`` (NaN for an empty group). Used for
    the per-hour drift series of a raw feature.

    Parameters
    ----------
    reference_sorted : sorted, NaN-free reference sample (at least one value).
    values : NaN-free values.
    groups : integer group of each value, in ``[0, n_groups)``.
    n_groups : number of groups.
    """
    r = np.asarray(reference_sorted, dtype=float)
    x = np.asarray(values, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    out = np.full(n_groups, np.nan)
    if x.size == 0:
        return out
    order = np.lexsort((x, g))
    xs, gs = x[order], g[order]
    sizes = np.bincount(gs, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    c = sizes[gs].astype(float)
    j = np.arange(xs.size) - starts[gs] + 1  # 1-based position within the group
    hi = np.searchsorted(r, xs, side="right") / r.size
    lo = np.searchsorted(r, xs, side="left") / r.size
    gap = np.maximum(j / c - hi, lo - (j - 1) / c)
    present = np.flatnonzero(sizes)
    out[present] = np.maximum.reduceat(gap, starts[present])
    return out
