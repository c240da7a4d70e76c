"""Building one incident's dependency graph from graph.json and from what the signals imply."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle, bundle_nodes_but_events, signal_nodes
from rca.contract.nodes import node_id, node_kind
from rca.errors import shown
from rca.generators.base import Candidates
from rca.generators.metrics import score_series

MIRROR_SCORE = 3.0
"""Bad-direction robust z from which a metric series counts as changed for `mirror_edges` (the metrics
generator's threshold for an anomaly)."""

MIRROR_LOG_RATIO = float(np.log(2.0))
"""`same_change`: two changes within a factor of 2 of each other count as the same."""

_MIRROR_FAMILIES = ("latency", "errors", "availability")


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
        - services with no outgoing edge (nobody calls them) -> the model nodes, or the KPIs without models;
        - inferred ``mirror`` edges from a service to a leaf sibling that shows the same symptom
          (`mirror_edges`).

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
    # sorted: the graph's node order is the order PageRank sums in, and a set's order changes with the process'
    # hash seed, which made the PageRank features differ in their last digits from one run to the next
    for n in sorted(_mentioned_nodes(bundle, candidates)):
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
    g.add_edges_from(mirror_edges(g, bundle), origin="mirror")
    return g


def mirror_edges(g: nx.DiGraph, bundle: Bundle) -> list[tuple[str, str]]:
    """Inferred edges ``S -> L`` from a service to a leaf sibling that is probably another view of it.

    Call graphs drawn from tracing (AWS X-Ray, Jaeger and Zipkin service maps) have nodes that are not
    services but views of a call: the load balancer in front of a service, the client side of a call to an
    endpoint that is not instrumented. Such a node has no callees of its own, so when the service behind it
    fails nothing in the graph explains its symptom, and it looks like a perfect root cause: anomalous with
    nothing anomalous upstream. An edge ``S -> L`` is added when

    - L and S are both callees of the same caller (service edges from graph.json or the traces),
    - L has no callee, S has at least one (S is instrumented, L may be a view),
    - L does not already reach S (L would then be S's own dependency: no cycle is made),
    - both changed in the same family (latency; errors or availability) by the same amount (`same_change`).

    A leaf that really is the cause (a database, an external API) keeps all its own evidence; the edge only
    says that a sibling with the same symptom would explain it, and the ranker weighs both (the graph
    features count it as an anomalous ancestor).
    """
    changes = _series_changes(bundle)
    if len(changes) < 2:
        return []
    calls = nx.DiGraph((u, v) for u, v, origin in g.edges(data="origin") if origin in ("declared", "trace")
                       and node_kind(u) == "service" and node_kind(v) == "service")
    edges: set[tuple[str, str]] = set()
    for caller in calls.nodes:
        callees = [n for n in calls.predecessors(caller) if n in changes]
        leaves = [n for n in callees if calls.in_degree(n) == 0]
        inner = [n for n in callees if calls.in_degree(n) > 0]
        for leaf in leaves:
            for service in inner:
                if same_change(changes[leaf], changes[service]) and not nx.has_path(calls, leaf, service):
                    edges.add((service, leaf))
    return sorted(e for e in edges if not g.has_edge(*e))


def same_change(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two nodes changed by the same amount: over the series both have (same metric name and labels)
    that are anomalous in both (bad-direction z >= `MIRROR_SCORE`), the median absolute log ratio of their
    changes (current minus baseline median) is at most log 2, and the changes agree in sign.

    Absolute, not relative: a view adds its own small overhead to the service's requests, so a delay or a
    failure share added to the service shows in the view as the same number of seconds or points."""
    logs = [abs(np.log(a[k] / b[k])) if a[k] * b[k] > 0 else np.inf for k in a.keys() & b.keys()]
    return bool(logs) and float(np.median(logs)) <= MIRROR_LOG_RATIO


def _series_changes(bundle: Bundle) -> dict[str, dict[str, float]]:
    """Per service node, the changes of its clearly anomalous latency, error and availability series, by series
    (metric name and labels: a name has one family, so equal keys are the same family)."""
    out: dict[str, dict[str, float]] = {}
    for s in score_series(bundle):
        if s.family in _MIRROR_FAMILIES and s.bad_z >= MIRROR_SCORE:
            out.setdefault(node_id("service", s.service), {})[f"{s.name}|{s.labels}"] = s.current - s.baseline
    return out


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


def bundle_nodes(bundle: Bundle) -> set[str]:
    """Every node the bundle names: declared in ``graph.json``, mentioned by the signals (`_mentioned_nodes`),
    the services of its spans, and the symptom. A cause on another node is one the engine cannot rank: the
    review service refuses it as a named cause (`rca.service.record_review`)."""
    nodes = _signal_nodes(bundle)
    if bundle.incident.symptom is not None:
        nodes.add(bundle.incident.symptom.node)
    return nodes


def _signal_nodes(bundle: Bundle) -> set[str]:
    """`bundle_nodes_but_events` and the events' targets."""
    return bundle_nodes_but_events(bundle) | {e.target for e in bundle.events}


def symptom_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of a symptom that is no node of the bundle's signals or graph (a KPI renamed in
    ``kpis``, a typo in ``incident.json``): the engine still ranks, toward a node without data."""
    symptom = bundle.incident.symptom
    if symptom is None:
        return []
    nodes = _signal_nodes(bundle)
    if symptom.node in nodes:
        return []
    return [f"incident.json: symptom {symptom.node} names no node of the bundle's signals or graph "
            f"({nodes_like(symptom.node, nodes)}); the causes are ranked toward a node without data"]


def time_key_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of a predictions column read as a time key, not a segment (`Bundle.time_keys`)."""
    return [f"predictions: column {column!r} follows time (each value holds a stretch of time of its own: a date "
            "partition, a batch id), so it is not read as a segment dimension" for column in bundle.time_keys]


def score_key_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of a predictions column read as a function of the score, not a segment
    (`Bundle.score_keys`)."""
    return [f"predictions: column {column!r} is a function of the score (each value holds a score range of its own: "
            "a predicted class, a score bucket), so it is not read as a segment dimension"
            for column in bundle.score_keys]


LABEL_LIKE_NAMES = frozenset({"groundtruth", "actual", "target", "ytrue", "truelabel", "labelvalue"})
"""Column names (lower case, letters and digits only) other tools give the labels: SageMaker Model Monitor's
``groundTruth``, Arize's and Evidently's ``actual`` and ``target``, scikit-learn's ``y_true``."""


def label_name_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of a predictions column named like the labels when there is no ``label`` column.
    The contract names the column, so it is not read as the labels (the names above are as often the model's
    target or a feature of the request); but without ``label`` no quality, concept drift or label issue is
    measured, and the column is read as a segment dimension."""
    p = bundle.predictions
    if p is None or bundle.has_labels:
        return []
    return [f"predictions: column {column!r} looks like the labels, but the contract reads them from a column "
            "named 'label' only: rename it to label (it is read as a segment dimension; without labels no quality "
            "is measured)" for column in bundle.segment_columns
            if "".join(ch for ch in str(column).lower() if ch.isalnum()) in LABEL_LIKE_NAMES]


def score_scale_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of scores outside [0, 1] beside 0/1 labels (a 0-100 score, a logit, a margin): the
    quality measures read a classifier's scores as probabilities (log-loss clips them to (0, 1), the operating
    threshold is 0.5), so its log-loss and calibration mean nothing. They are not rescaled: which map the producer
    meant (a division by 100, a sigmoid) cannot be told from the numbers."""
    p = bundle.predictions
    if p is None or not bundle.has_labels:
        return []
    y = p["label"].to_numpy(dtype=float)
    y = y[~np.isnan(y)]
    score = p["score"].to_numpy(dtype=float)
    outside = (score < 0) | (score > 1)
    if not y.size or not np.isin(y, (0.0, 1.0)).all() or not outside.any():
        return []
    return [f"predictions: scores are not probabilities: {int(outside.sum())} of {score.size} are outside [0, 1] "
            f"(from {score.min():.4g} to {score.max():.4g}) while the labels are 0/1, so log-loss, calibration and "
            "the operating threshold read them wrong; send probabilities (a 0-100 score divided by 100, a logit "
            "through the sigmoid)"]


def event_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of an event whose target names no node of the bundle's signals or graph, even
    spelled as the loader reads other tools' spellings (`rca.contract.bundle.with_event_nodes`): the change is a
    node of its own, with no data (a pipeline not in graph.json reaches no feature)."""
    nodes = bundle_nodes_but_events(bundle)
    notes = []
    for event in bundle.events:
        if event.target not in nodes:
            sent = (event.model_extra or {}).get("target_sent")
            notes.append(f"events.jsonl: target {sent or event.target}"
                         + (f" (read as {event.target})" if sent else "")
                         + f" of the {event.kind} event at {event.timestamp:%Y-%m-%d %H:%M} names no node of the "
                         f"bundle's signals or graph ({nodes_like(event.target, nodes)}): no data of the bundle can "
                         "back or clear a cause there")
    return notes


def sample_time_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of a ``feature_samples`` column read as times, not a feature
    (`Bundle.sample_time_columns`)."""
    return [f"feature_samples: column {column!r} holds times (a feature store's metadata, such as when a value was "
            "written), so it is not read as a feature" for column in bundle.sample_time_columns]


def nulls_from_total_notes(bundle: Bundle) -> list[str]:
    """What `rca validate` says of histograms whose nulls were read from ``total`` (`_HistogramBase.nulls_from_total`):
    one note per feature, with how many of its histograms and the share of their rows so read."""
    notes = []
    for feature, fh in bundle.histograms.items():
        hists = [h for h in (fh.training, *fh.serving) if h is not None and h.nulls_from_total]
        if hists:
            share = sum(h.nulls for h in hists) / sum(h.total for h in hists)
            notes.append(f"histograms.jsonl: feature {shown(feature)} gives no 'nulls' and a 'total' above its counts "
                         f"in {len(hists)} of {len(fh.serving) + (fh.training is not None)} histograms: the rows "
                         f"'total' counts beyond them ({share:.0%}) are read as its missing values")
    return notes


def bundle_notes(bundle: Bundle) -> list[str]:
    """Every note `rca validate` gives of a loaded bundle: what the engine will not read as its producer meant."""
    return (symptom_notes(bundle) + time_key_notes(bundle) + score_key_notes(bundle) + label_name_notes(bundle)
            + score_scale_notes(bundle) + event_notes(bundle) + sample_time_notes(bundle)
            + nulls_from_total_notes(bundle))


def nodes_like(node: str, known: set[str] | list[str]) -> str:
    """What to suggest for ``node``, which is not among ``known``: the closest names of its kind (a typo), else the
    first of its kind, else that there is none.

    >>> nodes_like("kpi:aproval_rate", {"kpi:approval_rate", "kpi:latency", "service:api"})
    'did you mean kpi:approval_rate?'
    >>> nodes_like("service:ghost", {"service:api", "service:db"}), nodes_like("kpi:x", {"service:api"})
    ('its service nodes are service:api, service:db', 'it names no kpi node')
    """
    import difflib

    kind = node_kind(node)
    alike = sorted(n for n in known if node_kind(n) == kind)
    # by the names after the colon: the shared 'service:' alone made every service look close to a typo
    if close := difflib.get_close_matches(node.partition(":")[2], [n.partition(":")[2] for n in alike], n=3):
        return f"did you mean {', '.join(f'{kind}:{name}' for name in close)}?"
    if alike:
        return f"its {kind} nodes are {', '.join(alike[:5])}{f' and {len(alike) - 5} more' if len(alike) > 5 else ''}"
    return f"it names no {kind} node"


def _mentioned_nodes(bundle: Bundle, candidates: Candidates | None) -> set[str]:
    """Every node the signals mention (the contract's "Node ids" section), event targets and candidates too."""
    nodes = signal_nodes(bundle)
    nodes.update(e.target for e in bundle.events)
    if candidates is not None:
        nodes.update(h.node for h in candidates.hypotheses)
        nodes.update(a.node for a in candidates.anomalies)
    return nodes
