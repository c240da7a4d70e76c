"""One sentence per cause naming the evidence a reviewer can check."""

from __future__ import annotations

import networkx as nx
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence
from rca.generators.base import Hypothesis

KIND_TESTS = {CauseKind.MISSING_VALUES: ("null_rate",),
              CauseKind.SCHEMA_CHANGE: ("dtype", "out_of_range_share", "unseen_categories"),
              CauseKind.STALE_FEATURE: ("top_share", "top3_share"),
              CauseKind.DATA_DRIFT: ("psi",), CauseKind.TRAINING_SERVING_SKEW: ("psi",)}
"""The tests whose evidence speaks for a feature's cause kind, best first: a feature's hypotheses share its
evidence, and the largest value among tests in different units (a Wasserstein distance in cents, a null rate)
named an insignificant test for a feature gone half null."""


def explain(h: Hypothesis, row: pd.Series, bundle: Bundle, graph: nx.DiGraph) -> str:
    """E.g. ``feature:amount (schema_change): histograms psi = 2.7 (0.02 -> 0.91) since 08:00, 5 min after
    pipeline_deploy of pipeline:payments; reaches kpi:approval_rate, explains 3 of 4 other anomalies``."""
    parts = [f"{h.node} ({h.kind}):"]
    if h.evidence:
        e = quoted_evidence(h)
        text = f"{e.signal} {e.test}"
        if e.value is not None:
            text += f" = {e.value:.3g}"
        if e.baseline is not None and e.current is not None:
            text += f" ({e.baseline:.3g} -> {e.current:.3g})"
        if e.detail:
            text += f", {e.detail}"
        parts.append(text)
    else:
        parts.append(f"proposed by {h.generator} (score {h.score:.3g})")
    if h.onset is not None:
        parts.append(f"since {h.onset:%H:%M}")
    event = _named_event(h, bundle, graph)
    if event is not None:
        minutes = (((h.onset or bundle.incident.detected_at) - event.timestamp).total_seconds()) / 60
        if minutes >= 0:
            parts[-1] += f", {minutes:.0f} min after {event.kind} of {event.target}"
        else:   # inside the onset's bucket (an hourly histogram's start, say), after the time it names
            parts[-1] += f", with {event.kind} of {event.target} at {event.timestamp:%H:%M}"
    reach = []
    if row.get("reaches_symptom", 0) > 0:
        reach.append("reaches the symptom")
    n_down = int(row.get("n_anomalous_descendants", 0) or 0)
    if n_down:
        reach.append(f"upstream of {n_down} other anomal{'y' if n_down == 1 else 'ies'}")
    if row.get("anomalous_ancestor_better", 0) > 0:
        reach.append("but a stronger upstream anomaly precedes it")
    sentence = " ".join(parts)
    return sentence + ("; " + ", ".join(reach) if reach else "")


def quoted_evidence(h: Hypothesis) -> Evidence:
    """The evidence the sentence quotes: the first of the kind's own tests (`KIND_TESTS`) the hypothesis has,
    else its largest value."""
    for test in KIND_TESTS.get(h.kind, ()):
        if own := [ev for ev in h.evidence if ev.test == test]:
            return own[0]
    return max(h.evidence, key=lambda ev: abs(ev.value) if ev.value is not None else -1)


def _named_event(h: Hypothesis, bundle: Bundle, graph: nx.DiGraph):
    """The change event the sentence names: the one the hypothesis' own evidence links it to (the events
    generator matched them; the nearest to its onset when several), else the latest one upstream of it before
    its onset. The evidence's comes first: a coarse onset (an hourly bucket's start) fell before the deploy that
    caused it, and the sentence named an older, unrelated change instead of the one in its evidence."""
    cutoff = h.onset or bundle.incident.detected_at
    linked = [e for e in bundle.events for ev in h.evidence
              if ev.signal == "events" and ev.onset == e.timestamp and (ev.detail or "").startswith(
                  f"{e.kind} on {e.target}")]
    if linked:
        return min(linked, key=lambda e: abs((e.timestamp - cutoff).total_seconds()))
    upstream = (nx.ancestors(graph, h.node) | {h.node}) if h.node in graph else {h.node}
    before = [e for e in bundle.events if e.target in upstream and e.timestamp <= cutoff]
    return max(before, key=lambda e: e.timestamp) if before else None
