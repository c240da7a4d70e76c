"""Propagation features of each hypothesis on the dependency graph.

Every feature means the same on any system: counts and shares of anomalous nodes, hop distances, an
onset order, a personalized-PageRank score relative to the walk's uniform level.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from rca.generators.base import Anomaly, Hypothesis

UNREACHABLE = 20
"""`distance_to_symptom` when the symptom cannot be reached (or is unknown): farther than any real path."""

GRAPH_FEATURES = ("n_anomalous_descendants", "anomalous_descendant_share", "onset_precedes_share",
                  "anomalous_ancestor_better", "n_anomalous_ancestors", "distance_to_symptom", "reaches_symptom",
                  "ppr", "in_degree", "out_degree")


def anomaly_weights(hypotheses: Iterable[Hypothesis], anomalies: Iterable[Anomaly]) -> dict[str, float]:
    """Per node, the strongest score of any hypothesis or anomaly on it (>= 0)."""
    weights: dict[str, float] = {}
    for item in [*hypotheses, *anomalies]:
        weights[item.node] = max(weights.get(item.node, 0.0), max(float(item.score), 0.0))
    return weights


def personalized_pagerank(graph: nx.DiGraph, weights: dict[str, float], *, alpha: float = 0.85
                          ) -> dict[str, float]:
    """A random walk from the anomalous nodes against the direction of impact (effects -> causes).

    PageRank on the reversed graph with restarts distributed by ``weights``; a node that many anomalous
    nodes lead back to collects mass. Returned as ``score * n_nodes`` so that 1.0 is the uniform level
    whatever the graph's size. Without any positive weight the walk restarts uniformly.

    Examples
    --------
    >>> g = nx.DiGraph([("cause", "symptom")])
    >>> r = personalized_pagerank(g, {"symptom": 1.0})
    >>> r["cause"] > 1.0 > r.get("other", 0)
    True
    """
    if graph.number_of_nodes() == 0:
        return {}
    present = {n: w for n, w in weights.items() if n in graph and w > 0}
    rank = nx.pagerank(graph.reverse(copy=False), alpha=alpha, personalization=present or None,
                       max_iter=200, tol=1e-9)
    n = graph.number_of_nodes()
    return {node: value * n for node, value in rank.items()}


def graph_features(graph: nx.DiGraph, hypotheses: list[Hypothesis], anomalies: list[Anomaly],
                   symptom: str | None) -> list[dict[str, float]]:
    """Graph features of each hypothesis, in the order given.

    Parameters
    ----------
    graph : the incident's dependency graph (`build_graph`); every hypothesis node must be in it.
    hypotheses : merged hypotheses (one per node and kind).
    anomalies : symptom-like anomalies; together with the hypotheses' nodes they form the anomalous set.
    symptom : the symptom node, or None when unknown.

    Returns
    -------
    list of dict
        ``n_anomalous_descendants`` and ``anomalous_descendant_share`` (of the other anomalous nodes, how
        many this node can reach: how much it would explain); ``onset_precedes_share`` (of those with a
        known onset, the share starting at or after this one; NaN when not comparable);
        ``anomalous_ancestor_better`` (1 if an anomalous ancestor has a stronger score and an onset no
        later than this one, where both onsets are known); ``n_anomalous_ancestors``;
        ``distance_to_symptom`` (hops, `UNREACHABLE` when none); ``reaches_symptom``; ``ppr``
        (`personalized_pagerank`); ``in_degree`` and ``out_degree``.
    """
    weights = anomaly_weights(hypotheses, anomalies)
    onsets: dict[str, object] = {}
    for item in [*hypotheses, *anomalies]:
        if item.onset is not None and (item.node not in onsets or item.onset < onsets[item.node]):
            onsets[item.node] = item.onset
    anomalous = {n for n, w in weights.items() if n in graph}
    ppr = personalized_pagerank(graph, weights)
    to_symptom = (nx.single_target_shortest_path_length(graph, symptom) if symptom in graph else {})
    to_symptom = dict(to_symptom)
    reach_cache: dict[str, set[str]] = {}
    up_cache: dict[str, set[str]] = {}
    out = []
    for h in hypotheses:
        node = h.node
        if node not in reach_cache:
            reach_cache[node] = nx.descendants(graph, node) & anomalous
            up_cache[node] = nx.ancestors(graph, node) & anomalous
        down, up = reach_cache[node], up_cache[node]
        others = len(anomalous - {node})
        later = [onsets[d] >= h.onset for d in down if d in onsets] if h.onset is not None else []
        better = any(weights[a] > h.score and (h.onset is None or a not in onsets or onsets[a] <= h.onset)
                     for a in up)
        distance = to_symptom.get(node)
        out.append({
            "n_anomalous_descendants": float(len(down)),
            "anomalous_descendant_share": len(down) / others if others else 0.0,
            "onset_precedes_share": sum(later) / len(later) if later else float("nan"),
            "anomalous_ancestor_better": float(better),
            "n_anomalous_ancestors": float(len(up)),
            "distance_to_symptom": float(distance if distance is not None else UNREACHABLE),
            "reaches_symptom": float(distance is not None),
            "ppr": ppr.get(node, 0.0),
            "in_degree": float(graph.in_degree(node)),
            "out_degree": float(graph.out_degree(node)),
        })
    return out
