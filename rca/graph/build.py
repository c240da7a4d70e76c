"""Building one incident's dependency graph from graph.json and from what the signals imply."""

from __future__ import annotations

import networkx as nx
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.nodes import labels_node, model_node, node_id, node_kind, segment_node
from rca.generators.base import Candidates

MAX_SEGMENT_VALUES = 50
"""Segment dimensions with more distinct values than this are identifiers, not segments: no nodes."""


def symptom_node(bundle: Bundle, candidates: Candidates | None = None) -> str | None:
    """The node the incident is about: ``incident.symptom``, else the strongest KPI anomaly, else None."""
    if bundle.incident.symptom is not None:
        return bundle.incident.symptom.node
    anomalies = [a for a in (candidates.anomalies if candidates else []) if node_kind(a.node) == "kpi"]
    if anomalies:
        return max(anomalies, key=lambda a: (a.score, a.node)).node
    return None


def build_graph(bundle: Bundle, candidates: Candidates | None = None) -> nx.DiGraph:
    """The incident's dependency graph: declared lineage plus the edges the signals imply.

    Parameters
    ----------
    bundle : the loaded incident. ``graph.json`` is used when present; without it the graph is built
        from the signals alone.
    candidates : hypotheses and anomalies; their nodes are added (and wired by kind) too.

    Returns
    -------
    networkx.DiGraph
        Nodes carry ``kind``. Edges, each with an ``origin`` attribute (declared, trace, lineage,
        segment, labels, service):

        - declared ``graph.json`` edges;
        - the trace call graph, callee service -> caller service (a slow callee slows its caller);
        - ``feature:*`` -> every ``model:<m>@<v>`` seen (in predictions, events or candidates);
        - model nodes, segments and ``labels:<m>`` -> the symptom and every KPI (the measured outcome);
        - services with no outgoing edge (nobody calls them) -> the model nodes, or the KPIs without models.

    Examples
    --------
    >>> g = build_graph(bundle)            # doctest: +SKIP
    >>> nx.has_path(g, "feature:amount", "kpi:approval_rate")  # doctest: +SKIP
    True
    """
    g = nx.DiGraph()
    if bundle.graph is not None:
        for n, attrs in bundle.graph.nodes(data=True):
            g.add_node(n, **attrs)
        g.add_edges_from(bundle.graph.edges, origin="declared")
    mentioned = _mentioned_nodes(bundle, candidates)
    for n in mentioned:
        g.add_node(n)
    symptom = symptom_node(bundle, candidates)
    if symptom is not None:
        g.add_node(symptom)
    for n in g.nodes:
        g.nodes[n].setdefault("kind", node_kind(n))
        if g.nodes[n]["kind"] is None:
            g.nodes[n]["kind"] = node_kind(n)

    _add_call_graph(g, bundle.spans)
    by_kind: dict[str, list[str]] = {}
    for n in sorted(g.nodes):
        by_kind.setdefault(node_kind(n), []).append(n)
    outcomes = sorted(set(by_kind.get("kpi", [])) | ({symptom} if symptom else set()))
    models = by_kind.get("model", [])
    model_targets = models or outcomes
    _wire(g, by_kind.get("feature", []), model_targets, "lineage")
    _wire(g, models, outcomes, "lineage")
    _wire(g, by_kind.get("segment", []), outcomes, "segment")
    _wire(g, by_kind.get("labels", []), outcomes, "labels")
    services = by_kind.get("service", [])
    # A service with no caller in the graph is the entry of the request path: it reaches the model.
    _wire(g, [s for s in services if g.out_degree(s) == 0], model_targets, "service")
    return g


def _wire(g: nx.DiGraph, sources: list[str], targets: list[str], origin: str) -> None:
    for s in sources:
        for t in targets:
            if s != t and not g.has_edge(s, t):
                g.add_edge(s, t, origin=origin)


def _add_call_graph(g: nx.DiGraph, spans: pd.DataFrame | None) -> None:
    if spans is None or spans.empty:
        return
    for service in spans["service"].unique():
        g.add_node(node_id("service", str(service)), kind="service")
    children = spans.loc[spans["parent_span_id"] != "", ["trace_id", "parent_span_id", "service"]]
    parents = spans[["trace_id", "span_id", "service"]]
    calls = children.merge(parents, left_on=["trace_id", "parent_span_id"], right_on=["trace_id", "span_id"],
                           suffixes=("_callee", "_caller"))
    pairs = calls[["service_callee", "service_caller"]].drop_duplicates()
    for callee, caller in pairs.itertuples(index=False):
        if callee != caller:
            g.add_edge(node_id("service", str(callee)), node_id("service", str(caller)), origin="trace")


def _mentioned_nodes(bundle: Bundle, candidates: Candidates | None) -> set[str]:
    """Every node the signals mention (the contract's "Node ids" section)."""
    nodes: set[str] = set()
    model = bundle.incident.model
    nodes.update(node_id("feature", f) for f in bundle.histograms)
    if bundle.feature_samples is not None:
        nodes.update(node_id("feature", str(c)) for c in bundle.feature_samples.columns
                     if c not in ("timestamp", "role"))
    p = bundle.predictions
    if p is not None:
        nodes.update(model_node(model, str(v)) for v in p["model_version"].unique())
        for column in bundle.segment_columns:
            values = p[column].dropna().unique()
            if len(values) <= MAX_SEGMENT_VALUES:
                nodes.update(segment_node(column, v) for v in values)
        if bundle.has_labels:
            nodes.add(labels_node(model))
    if bundle.kpis is not None:
        nodes.update(node_id("kpi", str(n)) for n in bundle.kpis["name"].unique())
    if bundle.metrics is not None:
        nodes.update(node_id("service", str(s)) for s in bundle.metrics["service"].unique())
    nodes.update(e.target for e in bundle.events)
    if candidates is not None:
        nodes.update(h.node for h in candidates.hypotheses)
        nodes.update(a.node for a in candidates.anomalies)
    return nodes
