"""The incident's time windows applied to a timestamp column, shared by the time-series generators."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.contract.models import Incident


@dataclass(frozen=True)
class WindowMasks:
    """Boolean masks over one timestamp column.

    baseline : inside the baseline window.
    current : inside the current window.
    region : where an onset is searched: after the baseline (when the baseline comes first) up to the end of
        the current window, so a change that began between the windows is dated where it began; just the
        current window when the baseline comes after it (as in some real datasets).
    """

    baseline: np.ndarray
    current: np.ndarray
    region: np.ndarray


def window_masks(timestamps: pd.Series, incident: Incident) -> WindowMasks:
    """Masks of `WindowMasks` for an aware-UTC timestamp column."""
    ts = timestamps
    b, c = incident.baseline, incident.current
    base = ((ts >= pd.Timestamp(b.start)) & (ts < pd.Timestamp(b.end))).to_numpy()
    cur = ((ts >= pd.Timestamp(c.start)) & (ts < pd.Timestamp(c.end))).to_numpy()
    start = b.end if b.end <= c.start else c.start
    region = ((ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(c.end))).to_numpy() & ~base
    return WindowMasks(baseline=base, current=cur, region=region)


def hours_between(earlier, later) -> float:
    """``later - earlier`` in hours (negative when ``later`` comes first)."""
    return (pd.Timestamp(later) - pd.Timestamp(earlier)).total_seconds() / 3600.0
