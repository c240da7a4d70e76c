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
              CauseKind.DATA_DRIFT: ("psi",), CauseKind.TRAINING_SERVING_SKEW: ("psi",),
              CauseKind.LABEL_ISSUE: ("label_coverage", "log_loss", "mse", "auc"),
              CauseKind.MODEL_REGRESSION: ("log_loss", "mse", "auc", "ks"),
              CauseKind.CONCEPT_DRIFT: ("log_loss", "mse", "auc"),
              CauseKind.SEGMENT_SHIFT: ("share", "explanatory_power", "surprise")}
"""The tests whose evidence speaks for a cause kind, best first: a node's hypotheses share its evidence, and the
largest value among tests in different units (a Wasserstein distance in cents, a null rate; an AUC beside a
log-loss) named an insignificant test for a feature gone half null, or an AUC that rose for a label issue. The
predictions generator's tests come from `rca.generators.predictions` (its first ``ks`` is the version's own),
the segments' from `rca.generators.segments`."""

WORSE_WHEN = {"label_coverage": -1, "log_loss": 1, "mse": 1, "auc": -1, "share": 1}
"""The way a test's current value moves (``+1`` up, ``-1`` down from its baseline) when it speaks for a cause:
every cause kind is something getting worse. A move the other way, or one its own p-value does not back
(p >= `AGAINST_P`), points away from the kind."""

AGAINST_P = 0.05


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
    """The evidence the sentence quotes: the first of the kind's own tests (`KIND_TESTS`) the hypothesis has that
    does not point away from it (`points_away`), else its largest value that does not, else the kind's first
    test. A label issue quoted "auc = 0.845 (0.818 -> 0.845)": the largest number, pointing the wrong way."""
    tests = KIND_TESTS.get(h.kind, ())
    own = sorted((ev for ev in h.evidence if ev.test in tests), key=lambda ev: tests.index(ev.test))
    if fitting := [ev for ev in own if not points_away(ev)]:
        return fitting[0]
    others = [ev for ev in h.evidence if ev.test not in tests and not points_away(ev)]
    if not others and own:
        return own[0]
    return max(others or h.evidence, key=lambda ev: abs(ev.value) if ev.value is not None else -1)


def points_away(ev: Evidence) -> bool:
    """Whether ``ev`` says things did not get worse (`WORSE_WHEN`): its current value moved the good way, or
    stayed, or moved by less than its p-value backs. A share explained (``explanatory_power``) points away when
    it is not positive. Tests of no direction (a KS distance, a PSI, hours to an onset) never do."""
    if ev.test == "explanatory_power":
        return ev.value is not None and ev.value <= 0
    way = WORSE_WHEN.get(ev.test)
    if way is None or ev.baseline is None or ev.current is None:
        return False
    return (ev.current - ev.baseline) * way <= 0 or (ev.p_value is not None and ev.p_value >= AGAINST_P)


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
