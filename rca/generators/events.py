"""Change events: each deploy, config or schema change becomes a hypothesis on what it changed.

Which node and kind an event names:

=======================================  ==================================================================
``model:m@v`` (any event kind)           ``model_regression`` on that model version
``service:x``                            ``dependency_latency``, ``dependency_errors``, ``resource_saturation``
``feature:x``                            the feature kinds the event kind suggests (`cause_kinds_of_event`)
``pipeline:x`` / ``source:x``            the same kinds on every feature downstream of it in graph.json
                                         (nothing when the bundle has no graph)
``labels:m``                             ``label_issue``
=======================================  ==================================================================

Every hypothesis carries ``event.hours_before_onset``: hours from the event to the earliest onset seen in the
bundle's KPIs and service metrics (the current window's start when none is seen), positive when the event
came first; and ``event.in_current_window``. The score is a proximity score, 10 for an event at the onset,
halving every 6 hours before it; an event after the onset cannot have caused it and scores 0.5.
"""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence, Event
from rca.contract.nodes import node_kind
from rca.generators import register
from rca.generators.base import Candidates, Hypothesis
from rca.generators.kpis import score_kpis
from rca.generators.metrics import score_series
from rca.generators.windows import hours_between

FEATURE_KINDS_OF_EVENT: dict[str, tuple[CauseKind, ...]] = {
    "pipeline_deploy": (CauseKind.TRAINING_SERVING_SKEW, CauseKind.SCHEMA_CHANGE, CauseKind.MISSING_VALUES),
    "schema_change": (CauseKind.SCHEMA_CHANGE, CauseKind.MISSING_VALUES),
    # A backfill rewrites stored data: what serving computes from it can differ from what training saw. It is
    # not data_drift, which the contract defines as the world changing, not our systems.
    "data_backfill": (CauseKind.TRAINING_SERVING_SKEW,),
    "config_change": (CauseKind.TRAINING_SERVING_SKEW, CauseKind.MISSING_VALUES),
}
OTHER_FEATURE_KINDS = (CauseKind.TRAINING_SERVING_SKEW, CauseKind.SCHEMA_CHANGE)
SERVICE_KINDS = (CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS, CauseKind.RESOURCE_SATURATION)
HALF_LIFE_HOURS = 6.0
MAX_SCORE = 10.0


def cause_kinds_of_event(event_kind: str, node: str) -> tuple[CauseKind, ...]:
    """The cause kinds a change event of ``event_kind`` can produce on ``node`` (its target or a node downstream
    of it): none for the kinds the world causes (data_drift, concept_drift, segment_shift).

    >>> [str(k) for k in cause_kinds_of_event("schema_change", "feature:amount")]
    ['schema_change', 'missing_values']
    """
    kind = node_kind(node)
    if kind == "feature":
        return FEATURE_KINDS_OF_EVENT.get(event_kind, OTHER_FEATURE_KINDS)
    if kind == "service":
        return SERVICE_KINDS
    if kind == "model":
        return (CauseKind.MODEL_REGRESSION,)
    if kind == "labels":
        return (CauseKind.LABEL_ISSUE,)
    return ()


def observed_onset(bundle: Bundle) -> pd.Timestamp | None:
    """The earliest onset among the bundle's changed KPI series and service metric series, if any."""
    onsets = [s.onset for s in score_kpis(bundle) if s.onset is not None]
    onsets += [s.onset for s in score_series(bundle) if s.onset is not None]
    return min(onsets) if onsets else None


def event_targets(event: Event, graph: nx.DiGraph | None) -> list[tuple[str, CauseKind]]:
    """The (node, kind) pairs an event points at (see the module docstring)."""
    kind = node_kind(event.target)
    if kind in ("model", "service", "labels", "feature"):
        return [(event.target, k) for k in cause_kinds_of_event(event.kind, event.target)]
    if kind in ("pipeline", "source") and graph is not None and event.target in graph:
        features = sorted(n for n in nx.descendants(graph, event.target) if node_kind(n) == "feature")
        return [(f, k) for f in features for k in cause_kinds_of_event(event.kind, f)]
    return []


def proximity_score(hours_before: float) -> float:
    """10 at the onset, halving every 6 h before it; 0.5 for an event after the onset."""
    if hours_before < 0:
        return 0.5
    return MAX_SCORE * math.pow(0.5, hours_before / HALF_LIFE_HOURS)


@register("events")
class EventsGenerator:
    """Change events -> hypotheses on their targets, with their distance to the observed onset."""

    name = "events"

    def generate(self, bundle: Bundle) -> Candidates:
        out = Candidates()
        if not bundle.events:
            return out
        cur = bundle.incident.current
        seen = observed_onset(bundle)
        reference = seen if seen is not None else pd.Timestamp(cur.start)
        for event in bundle.events:
            hours = hours_between(event.timestamp, reference)
            in_current = float(cur.contains(event.timestamp))
            ev = Evidence(signal="events", test="time_to_onset", value=round(hours, 4), onset=event.timestamp,
                          detail=f"{event.kind} on {event.target}"
                                 + (f": {event.description}" if event.description else ""))
            for node, kind in event_targets(event, bundle.graph):
                out.hypotheses.append(Hypothesis(
                    node=node, kind=kind, generator=self.name, score=proximity_score(hours), onset=event.timestamp,
                    evidence=[ev], features={"event.hours_before_onset": hours, "event.in_current_window": in_current,
                                             "event.onset_observed": float(seen is not None),
                                             "event.direct_target": float(node == event.target)}))
        return out
