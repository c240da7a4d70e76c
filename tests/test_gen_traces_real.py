"""The traces generator on span shapes real instrumentations write and the simulator does not: CLIENT spans under
a mid-tier service, concurrent calls (a fan-out), children whose clocks disagree with their parent's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rca.generators import get_generator
from rca.generators.traces import prepare_spans
from tests.ops_builders import BASE_START, CUR_START, bundle

SERVER, CLIENT = 2, 3


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """A span table of ``(service, operation, trace, span, parent, start_ms, duration_ms, kind)`` rows, the start
    counted from the baseline window's start."""
    cols = ["service", "operation", "trace_id", "span_id", "parent_span_id", "start_ms", "duration_ms", "kind"]
    f = pd.DataFrame(rows, columns=cols)
    f["start"] = BASE_START + pd.to_timedelta(f.pop("start_ms"), unit="ms")
    f["error"], f["peer"] = False, np.where(f["kind"] == CLIENT, "leaf", "")
    return f.sort_values("start", kind="stable", ignore_index=True)


def mid_tier(n_traces: int = 400, *, parallel: bool = False, added_ms: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Traces ``web -> mid -> 4 x (CLIENT call -> leaf)``: mid works 5 ms of its own (half before its calls, half
    after) and calls leaf four times, one after the other or all at once (``parallel``). Half the traces fall in
    the baseline window, half in the current one, where mid's own work takes ``added_ms`` more."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_traces):
        current = k >= n_traces // 2
        t0 = ((CUR_START - BASE_START) / pd.Timedelta(milliseconds=1) if current else 0.0) + k * 1000.0
        own = 5.0 * rng.lognormal(0, 0.2) + (added_ms if current else 0.0)
        calls = 2.0 * rng.lognormal(0, 0.2, 4)
        starts = np.full(4, own / 2) if parallel else own / 2 + np.concatenate(([0.0], np.cumsum(calls[:-1])))
        mid_ms = own + (calls.max() if parallel else calls.sum())
        tr = f"t{k}"
        rows += [("web", "GET /", tr, f"{tr}w", "", t0, mid_ms + 2.0, SERVER),
                 ("mid", "POST /mid", tr, f"{tr}m", f"{tr}w", t0 + 1.0, mid_ms, SERVER)]
        for j, (s, ms) in enumerate(zip(starts, calls)):
            rows += [("mid", "GET leaf", tr, f"{tr}c{j}", f"{tr}m", t0 + 1.0 + s, ms, CLIENT),
                     ("leaf", "GET", tr, f"{tr}l{j}", f"{tr}c{j}", t0 + 1.1 + s, ms - 0.2, SERVER)]
    return _frame(rows)


def _by_key(cands):
    return {(h.node, str(h.kind)): h for h in cands.hypotheses}


# ------------------------------------------------------------------------------------------- self-time (F2)
def test_self_time_subtracts_the_union_of_concurrent_children():
    """A parent of 100 ms whose three children run together over 10-80 ms worked 30 ms itself (not 100 - 150)."""
    f = _frame([("api", "GET", "t", "p", "", 0.0, 100.0, SERVER),
                ("db", "q", "t", "a", "p", 10.0, 50.0, SERVER),
                ("db", "q", "t", "b", "p", 20.0, 50.0, SERVER),
                ("db", "q", "t", "c", "p", 30.0, 50.0, SERVER)])
    s = prepare_spans(f, bundle())
    assert s.loc[s["service"] == "api", "self_ms"].item() == pytest.approx(30.0)


def test_self_time_counts_a_skewed_child_only_inside_its_parent():
    """A child whose clock runs 20 ms behind (it seems to start before its parent) covers 30 ms of its parent's
    100, not its 50; children that follow one another still cover exactly their durations."""
    f = _frame([("api", "GET", "t", "p", "", 100.0, 100.0, SERVER),
                ("db", "q", "t", "a", "p", 80.0, 50.0, SERVER),
                ("db", "q", "t", "b", "p", 140.0, 20.0, SERVER),
                ("db", "q", "t", "c", "p", 160.0, 10.0, SERVER)])
    s = prepare_spans(f, bundle())
    assert s.loc[s["service"] == "api", "self_ms"].item() == pytest.approx(100.0 - 30.0 - 20.0 - 10.0)


def test_a_service_slow_in_its_own_work_around_a_fan_out_is_named():
    """mid calls leaf four times at once; its own work grows by 12 ms: summed, the concurrent calls hid it."""
    out = _by_key(get_generator("traces").generate(bundle(spans=mid_tier(parallel=True, added_ms=12.0))))
    assert ("service:mid", "dependency_latency") in out
    assert not any(node == "service:leaf" for node, _ in out)


# --------------------------------------------------------------------------------- own work of a caller (F1)
def test_a_service_that_calls_others_is_named_for_its_own_slowness():
    """mid's own work grows by 12 ms between its sequential calls: the median self-time over all its spans is that
    of its four CLIENT spans' network gaps and did not move; over the spans of its own work it did, and the
    evidence reports those (about 5 ms -> 17 ms)."""
    out = _by_key(get_generator("traces").generate(bundle(spans=mid_tier(added_ms=12.0))))
    lat = out[("service:mid", "dependency_latency")]
    assert lat.evidence[0].baseline == pytest.approx(5.0, rel=0.2)
    assert lat.evidence[0].current == pytest.approx(17.0, rel=0.1)
    assert lat.features["trace.ops_affected_share"] == 1.0   # its one operation of its own; calls are not its own
    assert not any(node == "service:leaf" for node, _ in out)


def test_quiet_mid_tier_gives_nothing():
    for parallel in (False, True):
        assert get_generator("traces").generate(bundle(spans=mid_tier(parallel=parallel))).hypotheses == []
