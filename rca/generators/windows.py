"""The incident's time windows applied to a timestamp column, shared by the time-series generators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Incident
from rca.generators.base import per_bundle


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


JUST_BEFORE, ANOTHER_PERIOD = "just before", "another period"


def baseline_layout(incident: Incident) -> str:
    """How the baseline lies against the current window: `JUST_BEFORE` when it ends before the current window
    starts by no more than the longer of the two windows, else `ANOTHER_PERIOD` (further back, or after it:
    another run, the same hours last week). A comparison with another period brings that period's own
    differences. (The windows never overlap: `rca.contract.models.Incident` refuses that.)

    >>> from rca.contract.models import Window
    >>> w = lambda a, b: Window(start=f"2026-01-0{a}T00:00:00Z", end=f"2026-01-0{b}T00:00:00Z")
    >>> baseline_layout(Incident(model="m", detected_at="2026-01-05T00:00:00Z", baseline=w(1, 2), current=w(2, 3)))
    'just before'
    >>> baseline_layout(Incident(model="m", detected_at="2026-01-05T00:00:00Z", baseline=w(7, 8), current=w(2, 3)))
    'another period'
    """
    base, cur = incident.baseline, incident.current
    gap = pd.Timestamp(cur.start) - pd.Timestamp(base.end)
    longer = max(pd.Timestamp(base.end) - pd.Timestamp(base.start), pd.Timestamp(cur.end) - pd.Timestamp(cur.start))
    return JUST_BEFORE if base.start < cur.start and gap <= longer else ANOTHER_PERIOD


def hours_between(earlier, later) -> float:
    """``later - earlier`` in hours (negative when ``later`` comes first)."""
    return (pd.Timestamp(later) - pd.Timestamp(earlier)).total_seconds() / 3600.0


@per_bundle
def first_observation(bundle: Bundle) -> datetime:
    """When the current window's sampled series begin: the earliest metric or KPI sample, or serving-histogram
    bucket, at or after the window's start; the start itself when the window holds none.

    A trigger sets its window by the clock, and sampled series need not begin on its boundary: in a real incident
    of ../shared/realdata the window opens at 12:50:08 and its first 5-minute sample is at 12:55:00. Timed
    from here, a change seen at the window's first sample starts at 0 whatever that alignment; simulated
    bundles, whose samples begin on the boundary, are timed as from the start. Event streams (predictions,
    spans, change events) have no sampling grid and do not count. Computed once per bundle (`per_bundle`): the
    histogram and KPI-segment generators and the ranker's features all time onsets from it.
    """
    start, end = bundle.incident.current.start, bundle.incident.current.end
    firsts = [h.start for f in bundle.histograms.values() for h in f.serving
              if h.start is not None and start <= h.start < end]
    for frame in (bundle.metrics, bundle.kpis):
        if frame is not None and not frame.empty:
            ts = frame["timestamp"]
            inside = ts[(ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))]
            if len(inside):
                firsts.append(inside.min().to_pydatetime())
    return min(firsts, default=start)
