"""The ranker's feature table: one row per merged hypothesis, a fixed ordered list of columns.

Two kinds of columns:

- `BASE_FEATURES`, computed here, the same for every bundle: ranks and ratios of the generator score
  within the incident, onset order and time (``onset_hours_from_window_start``: hours from the current
  window's first sample, `rca.generators.windows.first_observation`), cause-kind and node-kind one-hots,
  agreement between generators, change events on the node's upstream path, graph features
  (`rca.graph.graph_features`), and which signal families the bundle has, and how each hypothesis compares
  with its competitors (`consistency_features`: its score against the other kinds on its node, its node's and
  its kind's rank in the incident). They mean the same on any system.
- generator features (``hist.psi``, ``trace.latency_ratio``...): any name starting with one of
  `GENERATOR_PREFIXES`. The exact list a model uses is fixed at TRAIN time (`generator_feature_names`) and
  stored in the model's metadata; at prediction time unknown names are dropped and missing ones are NaN.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind
from rca.contract.nodes import NODE_KINDS, node_kind
from rca.generators.base import Candidates, Hypothesis
from rca.generators.events import cause_kinds_of_event
from rca.generators.windows import first_observation
from rca.graph import GRAPH_FEATURES, SYMPTOM_FEATURES, build_graph, graph_features, symptom_features, symptom_node
from rca.ranking.merge import merge_hypotheses

GENERATOR_PREFIXES = ("hist.", "pred.", "seg.", "trace.", "metric.", "kpi.", "event.", "sample.", "label.")
"""Namespaces of generator features; the generator engineers add theirs here (one place)."""

FAMILIES = ("predictions", "histograms", "feature_samples", "traces", "kpis", "metrics", "events", "graph")
KIND_COLUMNS = tuple(f"kind={k.value}" for k in CauseKind)
NODE_COLUMNS = tuple(f"node={k}" for k in NODE_KINDS)
EVENT_FEATURES = ("event_hours_before_onset", "event_on_path", "event_latest_rank")
FITTING_EVENT_FEATURES = ("event_fit_on_path", "event_fit_hours_before_onset")
"""`EVENT_FEATURES` count any event upstream of a hypothesis; these count only events whose kind can produce the
hypothesis' cause kind (`rca.generators.events.cause_kinds_of_event`): a source backfill upstream of a feature
supports skew there, not data drift, and nothing supports a concept drift or a segment shift."""
SCORE_FEATURES = ("score", "log_score", "score_rank", "score_rank_in_node_kind", "score_rank_on_node",
                  "score_rel_max", "score_z", "onset_rank", "onset_hours_from_window_start", "has_onset",
                  "n_generators", "n_evidence", "n_hypotheses", "n_kinds_on_node")
GRAPH_COLUMNS = (*GRAPH_FEATURES, "ppr_rel", "ppr_rank")
CONSISTENCY_FEATURES = ("score_gap_on_node", "score_ratio_on_node", "node_score_rank", "kind_score_rank",
                        "score_gap_to_next")
BASE_FEATURES: tuple[str, ...] = (*SCORE_FEATURES, *KIND_COLUMNS, *NODE_COLUMNS, *EVENT_FEATURES,
                                  *GRAPH_COLUMNS, *(f"family={f}" for f in FAMILIES), *CONSISTENCY_FEATURES,
                                  # --- symptom-aligned propagation block (rca.graph.symptom), appended ---
                                  *SYMPTOM_FEATURES,
                                  # --- change events that can produce the hypothesis' kind, appended ---
                                  *FITTING_EVENT_FEATURES)
"""The fixed, ordered base feature list (never reorder: trained models store their list, but keep it stable)."""

ID_COLUMNS = ("incident_id", "node", "kind")

UNPORTABLE_FEATURES = ("n_hypotheses", "n_evidence", "in_degree", "out_degree", "ppr", "n_anomalous_descendants",
                       "n_anomalous_ancestors", "metric.n_points_baseline", "metric.n_points_current")
"""Computed for every row (rankers trained before this list existed still read them) but not trained on: counts and raw
masses that grow with the size of the system (hypotheses, degrees, PageRank mass, anomalous relatives) or
follow the metrics' sampling resolution (points per window), so they mean something else on another system.
Their portable forms stay: ``ppr_rel``, ``ppr_rank``, ``anomalous_descendant_share``, the rank features.

The metrics' raw z-scores (``metric.*_z``, ``metric.kind_z``, ``metric.robust_z_max``, ``sym_z``) are trained on,
beside their relative forms. Leaving them out too was tried on 2026-12-05 (four seed ensembles; scratch script):
validation AC@1 0.881-0.884 against 0.881-0.891, AC@3 0.956-0.966 against 0.966-0.969, and worse when a regime
is held out of training (`bench/transfer.py`'s leave-one-regime-out, AC@1 weighted over the regimes 0.817
against 0.831; meshes whose baseline is another run 0.757 against 0.771). They stay.

Two more trials on 2026-12-05, not kept (seed ensembles from 7, 107, 207 and 307, same splits; scratch script;
validation AC@1 by seed, against 0.884, 0.884, 0.891, 0.881 without them, and the service meshes whose baseline is
another run, 70 of the 354, averaged over the seeds):

* **How the windows lie** (the same for every row of an incident): log(1 + hours between the baseline and the
  current window) and log2 of their length ratio, so the ranker could weigh the evidence by the kind of
  comparison. 0.881 with every seed; other-run meshes 0.821 against 0.836 (seeds 7 and 107).
* **How long the change held**: the share of the current points whose z reaches the threshold, and the median
  point's z, of the kind's strongest series. 0.895, 0.884, 0.881, 0.881: no better overall, better where the
  baseline is the same run (hours before 0.884 against 0.870, a few steps before 0.942 against 0.923) and worse
  where it is another run (0.810 against 0.836), since a difference between two runs holds at every point and a
  fault waxes and wanes. With the window features beside it, so that trees could tell the two apart: 0.871,
  0.881, 0.884, 0.884; other-run meshes 0.810."""


@dataclass
class IncidentTable:
    """One incident's hypotheses and their feature rows (row i describes ``hypotheses[i]``)."""

    hypotheses: list[Hypothesis]
    rows: pd.DataFrame
    graph: nx.DiGraph
    symptom: str | None


def is_generator_feature(name: str) -> bool:
    return name.startswith(GENERATOR_PREFIXES)


def generator_feature_names(table: pd.DataFrame) -> list[str]:
    """The generator features present in a table, sorted: what a model trained on it will use."""
    return sorted(c for c in table.columns if is_generator_feature(c))


def incident_table(bundle: Bundle, candidates: Candidates, graph: nx.DiGraph | None = None) -> IncidentTable:
    """Merge the hypotheses, build the graph (unless given) and compute every feature row.

    Returns an `IncidentTable` whose ``rows`` has `ID_COLUMNS`, `BASE_FEATURES` and every generator
    feature the hypotheses carry (any name with a `GENERATOR_PREFIXES` prefix; others are dropped).
    """
    hypotheses = merge_hypotheses(candidates.hypotheses)
    graph = graph if graph is not None else build_graph(bundle, candidates)
    symptom = symptom_node(bundle, candidates)
    generators = Counter()
    seen: set[tuple[tuple[str, str], str]] = set()
    for h in candidates.hypotheses:
        if (h.key, h.generator) not in seen:
            seen.add((h.key, h.generator))
            generators[h.key] += 1
    rows = pd.DataFrame({
        "incident_id": bundle.incident_id,
        "node": [h.node for h in hypotheses],
        "kind": [str(h.kind) for h in hypotheses],
    })
    if not hypotheses:
        return IncidentTable([], rows.reindex(columns=[*ID_COLUMNS, *BASE_FEATURES]), graph, symptom)
    feats = pd.DataFrame(index=rows.index)
    _score_features(feats, bundle, hypotheses, generators)
    for column in KIND_COLUMNS:
        feats[column] = (rows["kind"] == column.removeprefix("kind=")).astype(float)
    node_kinds = rows["node"].map(node_kind)
    for column in NODE_COLUMNS:
        feats[column] = (node_kinds == column.removeprefix("node=")).astype(float)
    events = _event_features(bundle, hypotheses, graph)
    for name in (*EVENT_FEATURES, *FITTING_EVENT_FEATURES):
        feats[name] = [e[name] for e in events]
    gf = pd.DataFrame(graph_features(graph, hypotheses, candidates.anomalies, symptom))
    for name in GRAPH_FEATURES:
        feats[name] = gf[name].to_numpy()
    top = feats["ppr"].max()
    feats["ppr_rel"] = feats["ppr"] / top if top > 0 else 0.0
    feats["ppr_rank"] = feats["ppr"].rank(ascending=False, method="min")
    # --- symptom-aligned propagation block (rca.graph.symptom) ---
    sf = pd.DataFrame(symptom_features(graph, hypotheses, symptom))
    for name in SYMPTOM_FEATURES:
        feats[name] = sf[name].to_numpy()
    families = set(bundle.families())
    for f in FAMILIES:
        feats[f"family={f}"] = float(f in families)
    cons = consistency_features(rows["node"], rows["kind"], feats["score"])
    for name in CONSISTENCY_FEATURES:
        feats[name] = cons[name].to_numpy()
    extra = sorted({name for h in hypotheses for name in h.features if is_generator_feature(name)})
    gen = pd.DataFrame([[h.features.get(n, np.nan) for n in extra] for h in hypotheses], columns=extra,
                       index=rows.index, dtype=float)
    table = pd.concat([rows, feats[list(BASE_FEATURES)], gen], axis=1)
    return IncidentTable(hypotheses, table, graph, symptom)


def feature_matrix(table: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The model's input: ``names`` in order; a column the table lacks is NaN, extra columns are ignored."""
    return table.reindex(columns=names).to_numpy(dtype=float)


def consistency_features(nodes: pd.Series, kinds: pd.Series, score: pd.Series) -> pd.DataFrame:
    """How one hypothesis' evidence compares with its competitors in the same incident.

    Columns (`CONSISTENCY_FEATURES`): ``score_gap_on_node``, this score minus the best score of another kind
    on the same node (this score itself when the node has one kind); ``score_ratio_on_node``, this score over
    the node's best (1 = the node's leading kind); ``node_score_rank``, rank of the node's best score among
    the incident's nodes (1 = strongest node); ``kind_score_rank``, rank of this score among the incident's
    hypotheses of the same cause kind; ``score_gap_to_next``, this score minus the next lower distinct score
    in the incident (0 for the lowest), over the incident's top score.
    """
    score = score.astype(float)
    out = pd.DataFrame(index=score.index)
    best_other = pd.Series(np.nan, index=score.index)
    for _, idx in score.groupby(nodes).groups.items():
        s = score.loc[idx]
        for i in idx:
            others = s.drop(i)
            best_other.loc[i] = others.max() if len(others) else 0.0
    out["score_gap_on_node"] = score - best_other
    node_best = score.groupby(nodes).transform("max")
    out["score_ratio_on_node"] = np.where(node_best > 0, score / node_best.where(node_best > 0, 1.0), 1.0)
    node_max = score.groupby(nodes).max()
    node_rank = node_max.rank(ascending=False, method="min")
    out["node_score_rank"] = nodes.map(node_rank).astype(float)
    out["kind_score_rank"] = score.groupby(kinds).rank(ascending=False, method="min")
    distinct = np.sort(score.unique())
    below = np.searchsorted(distinct, score.to_numpy(), side="left")
    nxt = np.where(below > 0, distinct[np.maximum(below - 1, 0)], score.to_numpy())
    top = score.max()
    out["score_gap_to_next"] = (score.to_numpy() - nxt) / top if top > 0 else 0.0
    return out


def _score_features(feats: pd.DataFrame, bundle: Bundle, hypotheses: list[Hypothesis],
                    generators: Counter) -> None:
    score = pd.Series([max(float(h.score), 0.0) for h in hypotheses], index=feats.index)
    node_kinds = pd.Series([node_kind(h.node) for h in hypotheses], index=feats.index)
    nodes = pd.Series([h.node for h in hypotheses], index=feats.index)
    feats["score"] = score
    feats["log_score"] = np.log1p(score)
    feats["score_rank"] = score.rank(ascending=False, method="min")
    feats["score_rank_in_node_kind"] = score.groupby(node_kinds).rank(ascending=False, method="min")
    feats["score_rank_on_node"] = score.groupby(nodes).rank(ascending=False, method="min")
    top = score.max()
    feats["score_rel_max"] = score / top if top > 0 else 0.0
    sd = score.std(ddof=0)
    feats["score_z"] = (score - score.mean()) / sd if sd > 0 else 0.0
    start = first_observation(bundle)     # not the window's nominal start: the samples need not begin on it
    hours = pd.Series([(h.onset - start).total_seconds() / 3600 if h.onset is not None else np.nan
                       for h in hypotheses], index=feats.index)
    feats["onset_rank"] = hours.rank(method="min")
    feats["onset_hours_from_window_start"] = hours
    feats["has_onset"] = hours.notna().astype(float)
    feats["n_generators"] = [float(generators[h.key]) for h in hypotheses]
    feats["n_evidence"] = [float(len(h.evidence)) for h in hypotheses]
    feats["n_hypotheses"] = float(len(hypotheses))
    feats["n_kinds_on_node"] = nodes.map(nodes.value_counts()).astype(float)


def _event_features(bundle: Bundle, hypotheses: list[Hypothesis], graph: nx.DiGraph) -> list[dict]:
    """Change events on the hypothesis' node or upstream of it, before its onset (or before detection)."""
    detected = bundle.incident.detected_at
    events = sorted((e for e in bundle.events if e.timestamp <= detected), key=lambda e: e.timestamp,
                    reverse=True)
    latest_rank = {}
    for i, e in enumerate(events, start=1):
        latest_rank.setdefault(e.target, i)
    out = []
    for h in hypotheses:
        upstream = (nx.ancestors(graph, h.node) | {h.node}) if h.node in graph else {h.node}
        on_path = [e for e in events if e.target in upstream]
        cutoff = h.onset or detected
        before = [e for e in on_path if e.timestamp <= cutoff]
        fitting = [e for e in before if h.kind in cause_kinds_of_event(e.kind, h.node)]
        out.append({
            "event_hours_before_onset": ((cutoff - before[0].timestamp).total_seconds() / 3600
                                         if before else np.nan),
            "event_on_path": float(bool(on_path)),
            "event_latest_rank": float(min(latest_rank[e.target] for e in on_path)) if on_path else np.nan,
            "event_fit_on_path": float(bool(fitting)),
            "event_fit_hours_before_onset": ((cutoff - fitting[0].timestamp).total_seconds() / 3600
                                             if fitting else np.nan),
        })
    return out
