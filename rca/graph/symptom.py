"""Symptom-aligned propagation features: is a node's anomaly, in the symptom's own family, explained upstream?

The symptom names the evidence that matters: ``kpi:latency_avg`` up is explained by latency changes,
``kpi:availability`` down by errors. Per node we take its *symptom-family z* (``sym_z``): the strongest
hypothesis of the cause kind that family backs, or the family z-score a metrics hypothesis carries for its
service (``metric.latency_z`` / ``metric.error_z``); when the symptom's family is unknown, the node's
strongest hypothesis score. Then, with edges pointing callee -> caller (impact flows along edges):

* a node whose anomaly is not matched by an anomalous callee (in-neighbour) is a root: ``sym_z`` minus the
  largest callee ``sym_z`` (``sym_z_minus_callee``), the share of anomalous callees;
* ``sym_upstream_most``: anomalous, reaches the symptom, and no anomalous ancestor (RCD's and
  epsilon-Diagnosis' "upstream-most anomalous node");
* ``sym_ppr``: a walk from the symptom against the direction of impact, stepping to each callee in
  proportion to its ``sym_z`` (restarting at the symptom); mass pools where the anomaly trail ends;
* ``sym_z_rel`` and ``sym_z_rank``: the node's ``sym_z`` relative to the incident's largest and its rank,
  which transfer across systems and baseline shifts better than the raw z.

When the metrics say how closely each service follows the symptom during the incident
(``metric.symptom_corr``), the same questions are asked of *following* anomalies, as MicroRCA and
CloudRanger weight their walks by correlation with the front end: ``sym_follow`` is the node's
correlation (floored at 0) times how anomalous it is (``sym_z / 3``, capped at 1), so a large change that
does not move with the symptom (a difference between two runs) weighs nothing; ``sym_follow_minus_callee``
and ``sym_follow_ppr_rel`` are ``sym_z_minus_callee`` and ``sym_ppr_rel`` on that weight, and
``sym_follow_rank`` its rank among the incident's nodes (1 = follows best; what is left when no graph says
who calls whom). NaN when no correlation is known.

Z-scores say how surprising a change is, not how large: a callee with a quiet baseline and a caller with a
noisy one can share one delay and get very different z. ``sym_excess_covered`` compares amounts instead: the
node's excess in the symptom's family (added seconds times requests, or extra failed requests: the metrics'
``_metric.latency_excess_share`` / ``_metric.error_excess_share`` raw values) covered by its largest callee's,
``min(callee / own, 1)``. A caller that only passes on its callee's delay is covered (1); a node whose callees
added nothing is not (0). NaN when the node has no such measure (or the symptom's family is unknown).

All are ratios, shares, ranks or flags, defined for every hypothesis of any incident.
"""

from __future__ import annotations

import math

import networkx as nx

from rca.contract.models import CauseKind
from rca.generators.base import Hypothesis
from rca.generators.metrics import THRESHOLD, metric_family

SYMPTOM_FEATURES = ("sym_z", "sym_z_rel", "sym_z_rank", "sym_z_minus_callee", "sym_anomalous_callee_share",
                    "sym_upstream_most", "sym_ppr_rel", "sym_family_known",
                    # --- correlation with the symptom (metric.symptom_corr), appended ---
                    "sym_follow", "sym_follow_minus_callee", "sym_follow_ppr_rel",
                    # --- amounts rather than z-scores (the metrics' raw excess), appended ---
                    "sym_excess_covered", "sym_follow_rank")

_FAMILY_EXCESS = {"latency": "_metric.latency_excess_share", "errors": "_metric.error_excess_share",
                  "availability": "_metric.error_excess_share"}

_FAMILY_KIND = {"latency": (CauseKind.DEPENDENCY_LATENCY, "metric.latency_z"),
                "errors": (CauseKind.DEPENDENCY_ERRORS, "metric.error_z"),
                "availability": (CauseKind.DEPENDENCY_ERRORS, "metric.error_z")}


def symptom_family(symptom: str | None) -> str | None:
    """The metric family a symptom node names (``kpi:latency_avg`` -> latency), None when not latency/errors."""
    if symptom is None:
        return None
    family, _ = metric_family(symptom.split(":", 1)[-1])
    return family if family in _FAMILY_KIND else None


def node_symptom_z(hypotheses: list[Hypothesis], family: str | None) -> dict[str, float]:
    """Per node, its evidence in the symptom's family (>= 0); see the module docstring."""
    out: dict[str, float] = {}
    for h in hypotheses:
        if family is None:
            value = float(h.score)
        else:
            kind, feature = _FAMILY_KIND[family]
            value = float(h.features.get(feature, 0.0))
            if not math.isfinite(value):
                value = 0.0
            if str(h.kind) == str(kind):
                value = max(value, float(h.score))
        out[h.node] = max(out.get(h.node, 0.0), max(value, 0.0))
    return out


def node_excess(hypotheses: list[Hypothesis], family: str | None) -> dict[str, float]:
    """Per node with a raw excess in the symptom's family (see the module docstring): the largest, >= 0."""
    if family is None:
        return {}
    out: dict[str, float] = {}
    for h in hypotheses:
        value = h.features.get(_FAMILY_EXCESS[family])
        if value is not None and math.isfinite(value):
            out[h.node] = max(out.get(h.node, 0.0), max(float(value), 0.0))
    return out


def excess_covered(node: str, callees: list[str], excess: dict[str, float]) -> float:
    """``min(largest callee excess / own excess, 1)``; 0 when the node added nothing, NaN without a measure."""
    if node not in excess:
        return math.nan
    own = excess[node]
    if own <= 0:
        return 0.0
    return min(max((excess.get(c, 0.0) for c in callees), default=0.0) / own, 1.0)


def node_follow(hypotheses: list[Hypothesis], z: dict[str, float]) -> dict[str, float]:
    """Per node with a known ``metric.symptom_corr``: max(corr, 0) * min(sym_z / THRESHOLD, 1)."""
    out: dict[str, float] = {}
    for h in hypotheses:
        corr = h.features.get("metric.symptom_corr")
        if corr is None or not math.isfinite(corr):
            continue
        out[h.node] = max(corr, 0.0) * min(z.get(h.node, 0.0) / THRESHOLD, 1.0)
    return out


def symptom_walk(graph: nx.DiGraph, z: dict[str, float], symptom: str, *, alpha: float = 0.85) -> dict[str, float]:
    """PageRank from ``symptom`` on the reversed graph, each step weighted by the target's ``z`` (+ a small floor).

    Each anomalous node also has a self-loop of weight ``z``, so the walker lingers on anomalous nodes and
    most of all on those whose callees are not anomalous (it has nowhere better to go).

    Returns scores relative to the largest non-symptom score (1.0 = the node the walk favours most).

    Examples
    --------
    >>> g = nx.DiGraph([("db", "api"), ("cache", "api"), ("api", "kpi:latency")])
    >>> r = symptom_walk(g, {"db": 10.0, "api": 8.0, "cache": 0.0}, "kpi:latency")
    >>> r["db"] == 1.0 and r["cache"] < r["db"]
    True
    """
    rev = nx.DiGraph()
    rev.add_nodes_from(graph.nodes)
    for a, b in graph.edges:               # impact a -> b; the walk goes b -> a, weighted by a's anomaly
        rev.add_edge(b, a, weight=z.get(a, 0.0) + 0.1)
    for n in graph.nodes:                  # an anomalous node holds the walker in proportion to its own z:
        if n != symptom and z.get(n, 0.0) > 0:   # where the anomaly trail ends, mass pools
            rev.add_edge(n, n, weight=z[n])
    rank = nx.pagerank(rev, alpha=alpha, personalization={symptom: 1.0}, weight="weight", max_iter=200, tol=1e-9)
    top = max((v for n, v in rank.items() if n != symptom), default=0.0)
    return {n: (v / top if top > 0 else 0.0) for n, v in rank.items()}


def symptom_features(graph: nx.DiGraph, hypotheses: list[Hypothesis], symptom: str | None) -> list[dict[str, float]]:
    """`SYMPTOM_FEATURES` of each hypothesis, in order (every hypothesis node must be in ``graph``)."""
    family = symptom_family(symptom)
    z = node_symptom_z(hypotheses, family)
    top = max(z.values(), default=0.0)
    ordered = sorted(set(z.values()), reverse=True)
    rank = {v: i + 1 for i, v in enumerate(ordered)}
    anomalous = {n for n, v in z.items() if v >= THRESHOLD and n in graph}
    walk = symptom_walk(graph, z, symptom) if symptom in graph else {}
    reaches = nx.ancestors(graph, symptom) if symptom in graph else set()
    follow = node_follow(hypotheses, z)
    follow_walk = symptom_walk(graph, follow, symptom) if follow and symptom in graph else {}
    excess = node_excess(hypotheses, family)
    follow_rank = {v: i + 1 for i, v in enumerate(sorted(set(follow.values()), reverse=True))}
    out = []
    for h in hypotheses:
        own = z.get(h.node, 0.0)
        callees = [c for c in graph.predecessors(h.node) if c != h.node]
        callee_z = max((z.get(c, 0.0) for c in callees), default=0.0)
        upstream = nx.ancestors(graph, h.node) & anomalous
        out.append({
            "sym_z": own,
            "sym_z_rel": own / top if top > 0 else 0.0,
            "sym_z_rank": float(rank[own]),
            "sym_z_minus_callee": own - callee_z,
            "sym_anomalous_callee_share": (sum(z.get(c, 0.0) >= THRESHOLD for c in callees) / len(callees)
                                           if callees else 0.0),
            "sym_upstream_most": float(h.node in anomalous and h.node in reaches and not upstream),
            "sym_ppr_rel": walk.get(h.node, float("nan")),
            "sym_family_known": float(family is not None),
            **_follow_features(h.node, callees, follow, follow_walk, follow_rank),
            "sym_excess_covered": excess_covered(h.node, callees, excess),
        })
    return out


def _follow_features(node: str, callees: list[str], follow: dict[str, float], walk: dict[str, float],
                     rank: dict[float, int]) -> dict[str, float]:
    if node not in follow:
        return {"sym_follow": math.nan, "sym_follow_minus_callee": math.nan, "sym_follow_ppr_rel": math.nan,
                "sym_follow_rank": math.nan}
    own = follow[node]
    return {"sym_follow": own,
            "sym_follow_minus_callee": own - max((follow.get(c, 0.0) for c in callees), default=0.0),
            "sym_follow_ppr_rel": walk.get(node, math.nan),
            "sym_follow_rank": float(rank[own])}
