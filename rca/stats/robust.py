"""Robust location, scale and change scores: arrays in, numbers out.

The change score used by the OPS generators is the robust z of BARO / "robust z per metric": the distance of
the current level from the baseline median in units of the baseline's robust scale. A robust scale of a short
or near-constant series is close to zero and would turn any wiggle into a huge z, so `robust_scale` floors it
at a share of the series' level (and at an absolute epsilon) -- a change that is small relative to the level
is never "many sigmas".
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.482602218505602
"""1 / Phi^-1(3/4): makes the MAD a consistent estimator of a normal sigma (scipy's ``scale='normal'``)."""
IQR_TO_SIGMA = 1.0 / 1.3489795003921634
"""1 / (Phi^-1(3/4) - Phi^-1(1/4)): the same for the interquartile range."""


def median(x: np.ndarray) -> float:
    """``np.median`` of a non-empty, NaN-free 1-D float array: the same value (the middle one, or the mean of
    the two middle ones), at a quarter of the cost for the short series the generators score thousands of
    times per bundle (most of ``np.median``'s time is its generality)."""
    s = np.sort(x)
    half = s.size // 2
    return float(s[half]) if s.size % 2 else float((s[half - 1] + s[half]) / 2)


def _finite(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def mad(x, *, normal: bool = True) -> float:
    """Median absolute deviation from the median (NaNs dropped); scaled to a normal sigma when ``normal``.

    Returns NaN for an empty input. Equals ``scipy.stats.median_abs_deviation(x, scale='normal')``.
    """
    a = _finite(x)
    if a.size == 0:
        return float("nan")
    m = median(np.abs(a - median(a)))
    return m * MAD_TO_SIGMA if normal else m


def iqr(x, *, normal: bool = False) -> float:
    """Interquartile range with linear interpolation (``scipy.stats.iqr``); NaN for an empty input."""
    a = _finite(x)
    if a.size == 0:
        return float("nan")
    q1, q3 = np.percentile(a, [25, 75])
    return float(q3 - q1) * (IQR_TO_SIGMA if normal else 1.0)


def robust_scale(x, *, rel_floor: float = 0.05, abs_floor: float = 1e-9) -> float:
    """A robust sigma of ``x``: the normal-scaled MAD, else the normal-scaled IQR, floored.

    Parameters
    ----------
    x : the baseline values.
    rel_floor : the scale is at least ``rel_floor * |median(x)|``: a change of 5% of the level is at most
        one unit, however flat the baseline was.
    abs_floor : the scale is at least this (a series that is exactly zero).

    Returns
    -------
    float, > 0 (NaN for an empty input).
    """
    a = _finite(x)
    if a.size == 0:
        return float("nan")
    s = mad(a)
    if s == 0:
        s = iqr(a, normal=True)
    return float(max(s, rel_floor * abs(median(a)), abs_floor))


def robust_z(baseline, current, *, rel_floor: float = 0.05, abs_floor: float = 1e-9) -> np.ndarray:
    """Robust z of each current value against the baseline: ``(x - median(baseline)) / robust_scale(baseline)``.

    NaN where the baseline is empty or the current value is NaN.
    """
    b = _finite(baseline)
    c = np.asarray(current, dtype=float).ravel()
    if b.size == 0:
        return np.full(c.shape, np.nan)
    return (c - float(np.median(b))) / robust_scale(b, rel_floor=rel_floor, abs_floor=abs_floor)


def sustained_onset(flags) -> int | None:
    """Index where a sustained change starts in a time-ordered boolean sequence, or None.

    The onset is the earliest flagged position from which more than half of the remaining points are
    flagged (so an isolated early blip followed by calm is not an onset, while a short gap inside a change
    is tolerated). ``sustained_onset([1, 0, 0, 0, 0, 1, 1, 1]) == 5``.
    """
    f = np.asarray(flags, dtype=bool).ravel()
    if not f.any():
        return None
    tail_count = np.cumsum(f[::-1])[::-1]            # flagged points from i to the end
    tail_len = np.arange(f.size, 0, -1)              # points from i to the end
    ok = f & (2 * tail_count > tail_len)
    return int(np.argmax(ok)) if ok.any() else None


def two_proportion_z(k1: float, n1: float, k2: float, n2: float) -> float:
    """Pooled two-proportion z statistic of ``k2/n2 - k1/n1`` (0 when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    var = p * (1 - p) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 0.0
    return float((k2 / n2 - k1 / n1) / np.sqrt(var))


def resolution(x) -> float:
    """The smallest positive gap between distinct finite values of ``x`` (0 when fewer than two distinct).

    A series' quantization step (1 for counts): no change smaller than one step is meaningful, so it is a
    natural floor for the scale.
    """
    u = np.unique(_finite(x))
    if u.size < 2:
        return 0.0
    return float(np.diff(u).min())


def count_step(*parts) -> float:
    """1.0 when every finite value of ``parts`` is a whole number (a count), else 0.0.

    `resolution` reads a series' step from its baseline, which shows none when it never moved (an idle
    endpoint's 72 zero request counts): a count still moves by whole units, so one request where there were
    none is a change of one step, not of a billion epsilons.
    """
    values = np.concatenate([_finite(p) for p in parts]) if parts else np.empty(0)
    return 1.0 if values.size and bool(np.all(values == np.round(values))) else 0.0


def soft_cap(z, cap: float = 50.0):
    """``cap * tanh(z / cap)``: about ``z`` while small, never beyond ``cap``, and still ordered above it.

    A hard cap would tie every large change at the cap; this keeps their order.
    """
    return cap * np.tanh(np.asarray(z, dtype=float) / cap)
