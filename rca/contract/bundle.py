"""The loaded incident bundle: validated, typed, ready for analysis.

Tables stay pandas DataFrames for speed, but each has a fixed, validated set of columns documented here,
so no module downstream guesses:

=================  ==========================================================================================
``predictions``    timestamp (datetime64[ns, UTC]), model_version (str), score (float64), label (float64,
                   NaN when unknown; present only if the bundle has it), latency_ms (float64, optional),
                   trace_id (str, optional), then segment dimensions (category)
``feature_samples`` timestamp, role ('training' | 'serving'), one column per feature (as read)
``spans``          service, operation, trace_id, span_id, parent_span_id ('' for roots: spans whose parent is not
                   in the bundle), start (datetime64[ns, UTC]), duration_ms (float64), error (bool: status ERROR,
                   or none set and a 5xx HTTP status or a server-failure gRPC code), kind (int), peer (the other
                   end of a CLIENT or PRODUCER span: the service it calls, '' for other spans). A childless call
                   to a peer that exported no spans is the peer's: its service is the peer and its peer the
                   caller (`rca.contract.otlp`)
``kpis``           timestamp, name (str), value (float64), then dimensions (str)
``metrics``        timestamp, service (str), name (str), value (float64), instance (str, optional), then
                   dimensions
=================  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import networkx as nx
import numpy as np
import pandas as pd

from rca.contract.models import CategoricalHistogram, EmptyWindow, Event, Incident, NumericHistogram, Window
from rca.contract.nodes import labels_node, model_node, node_id, segment_node, spelled_as

PREDICTION_COLUMNS = ("timestamp", "model_version", "score")
PREDICTION_OPTIONAL = ("label", "latency_ms", "trace_id")
KPI_COLUMNS = ("timestamp", "name", "value")
METRIC_COLUMNS = ("timestamp", "service", "name", "value")
METRIC_OPTIONAL = ("instance",)
SAMPLE_COLUMNS = ("timestamp",)
SPAN_COLUMNS = ("service", "operation", "trace_id", "span_id", "parent_span_id", "start", "duration_ms",
                "error", "kind", "peer")


MAX_SEGMENT_VALUES = 50
"""Segment dimensions with more distinct values than this are identifiers, not segments: no nodes."""

EMPTY_FAMILY = {"predictions": ("predictions", None), "histograms": ("histograms", {}),
                "feature_samples": ("feature_samples", None), "traces": ("spans", None), "kpis": ("kpis", None),
                "metrics": ("metrics", None), "events": ("events", ()), "graph": ("graph", None)}
"""Each signal family (`Bundle.families` names) as ``(Bundle field, its value when the family is absent)``."""


@dataclass(frozen=True)
class FeatureHistograms:
    """All histograms of one feature: the training reference and the serving buckets in time order."""

    feature: str
    training: NumericHistogram | CategoricalHistogram | None
    serving: tuple[NumericHistogram | CategoricalHistogram, ...]

    @property
    def type(self) -> str:
        first = self.training or self.serving[0]
        return first.type


def _times(values) -> bool:
    """Whether every value reads as an ISO 8601 time or date (``2026-10-21``, ``20261021``, ``2026-10-21T05``)."""
    parsed = pd.to_datetime(pd.Series(list(values), dtype="string"), format="ISO8601", errors="coerce", utc=True)
    return bool(len(parsed)) and bool(parsed.notna().all())


def _value_ranges(rows: pd.DataFrame, column: str, of: str) -> pd.DataFrame:
    """Per value of ``column`` (as text), the ``min``, ``max`` and ``size`` of ``of`` over ``rows``, ordered by range:
    what `Bundle.time_keys` and `Bundle.score_keys` read to tell whether each value holds a range of its own."""
    return rows.groupby(rows[column].astype("string"), observed=True)[of].agg(["min", "max", "size"]).sort_values(
        ["min", "max"])


@dataclass(frozen=True)
class Bundle:
    """One incident's signals. Every family but ``incident`` may be absent (``None`` / empty)."""

    incident: Incident
    predictions: pd.DataFrame | None = None
    histograms: dict[str, FeatureHistograms] = field(default_factory=dict)
    feature_samples: pd.DataFrame | None = None
    spans: pd.DataFrame | None = None
    kpis: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    events: tuple[Event, ...] = ()
    graph: nx.DiGraph | None = None
    source: str | None = None
    unread: tuple[tuple[str, str], ...] = ()
    """Files (or inline keys) the loader did not read whose names are close to one it reads, as ``(found,
    meant)``: ``("traces.json", "traces.jsonl")``. Their data is not in the bundle; the answer says so."""
    derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    """Results that analysis code computed from this bundle, kept so that other stages reuse them instead of
    computing them again (`rca.generators.base.per_bundle`). Not part of the contract; a bundle made with
    `dataclasses.replace` starts with none."""

    @property
    def incident_id(self) -> str:
        return self.incident.id or (self.source or "incident")

    @property
    def segment_columns(self) -> list[str]:
        """Segment dimensions of the predictions table: every column the contract does not name, but its time keys
        (`time_keys`) and the functions of the score (`score_keys`)."""
        keys = set(self.time_keys) | set(self.score_keys)
        return [c for c in self._unnamed_prediction_columns() if c not in keys]

    @property
    def time_keys(self) -> list[str]:
        """Columns of the predictions table the contract does not name that follow time: in the baseline and
        current windows' rows, each value holds one stretch of time that no other value's overlaps, as a date
        partition does (``dt=2026-10-21``, Spark's habit), or a batch or run id; and there are three values or more,
        or they are times (ISO 8601) themselves. They say when a row was written, not whom it is for: no segment of
        theirs can gain traffic share from the others, so they are not segment dimensions. A real segment's values
        (countries, devices) interleave in time; two in turn (a failover from one region to another) stay one."""
        if "time_keys" not in self.derived:
            columns, keys = self._unnamed_prediction_columns(), []
            if columns:
                rows = self._window_rows()
                for column in columns:
                    spans = _value_ranges(rows, column, "timestamp")
                    in_turn = len(spans) >= 2 and (spans["max"].to_numpy()[:-1] <= spans["min"].to_numpy()[1:]).all()
                    # two values in turn are as often a segment (a failover from one region to another, a rare
                    # value seen once): a time key has three or more, or values that are times themselves
                    if in_turn and (len(spans) >= 3 or _times(spans.index)):
                        keys.append(column)
            self.derived["time_keys"] = keys
        return list(self.derived["time_keys"])

    @property
    def feature_columns(self) -> list[str]:
        """The feature columns of ``feature_samples``: every column but ``timestamp``, ``role`` and its time columns
        (`sample_time_columns`); empty without the table."""
        if self.feature_samples is None:
            return []
        times = set(self.sample_time_columns)
        return [c for c in self.feature_samples.columns if c not in ("timestamp", "role") and c not in times]

    @property
    def sample_time_columns(self) -> list[str]:
        """Columns of ``feature_samples`` other than ``timestamp`` whose values are times: of a datetime type, or text
        whose values (blanks aside) all read as ISO 8601 times or dates, as `time_keys` reads a predictions column's
        values, and are not all numbers (``-999`` and ``2026`` read as years).

        A feature store's rows carry such metadata beside the features (Feast's ``created_timestamp`` and
        ``event_timestamp``, the time a value was computed): read as a feature, every new row's time was a value
        training never saw, a schema change, and rows of a job that stopped a stale feature. They say when a value
        was written, not what the model was given."""
        if "sample_time_columns" not in self.derived:
            frame, out = self.feature_samples, []
            for column in (frame.columns if frame is not None else ()):
                col = frame[column]
                if column in ("timestamp", "role"):
                    continue
                if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                    continue
                if pd.api.types.is_datetime64_any_dtype(col):
                    out.append(column)
                    continue
                values = [v for v in pd.unique(col.dropna()) if not (isinstance(v, str) and not v.strip())]
                if not values or not all(isinstance(v, str) for v in values):
                    continue
                # a few values first: a column of categories is ruled out without parsing them all
                numbers = pd.to_numeric(pd.Series(values[:20]), errors="coerce").notna().all()
                if not numbers and _times(values[:20]) and _times(values):
                    out.append(column)
            self.derived["sample_time_columns"] = out
        return list(self.derived["sample_time_columns"])

    @property
    def score_keys(self) -> list[str]:
        """Columns of the predictions table the contract does not name that are functions of the score: in the
        baseline and current windows' rows, each of their values holds a range of scores that no other value's
        overlaps, and two of them hold two rows or more, as a predicted class (``predicted_label``, the score
        against a threshold) or a score bucket (``score_bucket``) does. They are the model's output, not whom a
        request is for: read as segments, the class the model now predicts more often 'gained' traffic and was
        named as a `segment_shift` of the model's own making. A real segment's scores (countries, devices)
        overlap. The rule of `time_keys`, on the score instead of the time."""
        if "score_keys" not in self.derived:
            time_keys = set(self.time_keys)
            columns, keys = [c for c in self._unnamed_prediction_columns() if c not in time_keys], []
            if columns:
                rows = self._window_rows()
                for column in columns:
                    ranges = _value_ranges(rows, column, "score")
                    # strictly apart: a score on a threshold belongs to one class only. Two values with rows to
                    # spare: a value seen once has a point for a range, apart from the rest when it is the extreme
                    # score (a rare device), which says nothing of the column
                    apart = (ranges["max"].to_numpy()[:-1] < ranges["min"].to_numpy()[1:]).all()
                    if (ranges["size"].to_numpy() >= 2).sum() >= 2 and apart:
                        keys.append(column)
            self.derived["score_keys"] = keys
        return list(self.derived["score_keys"])

    def _window_rows(self) -> pd.DataFrame:
        """The predictions rows in the baseline or the current window, the rows `time_keys` and `score_keys` read."""
        p, inc = self.predictions, self.incident
        ts = p["timestamp"]
        keep = (((ts >= pd.Timestamp(inc.baseline.start)) & (ts < pd.Timestamp(inc.baseline.end)))
                | ((ts >= pd.Timestamp(inc.current.start)) & (ts < pd.Timestamp(inc.current.end))))
        return p.loc[keep.to_numpy()]

    def _unnamed_prediction_columns(self) -> list[str]:
        if self.predictions is None:
            return []
        named = set(PREDICTION_COLUMNS) | set(PREDICTION_OPTIONAL)
        return [c for c in self.predictions.columns if c not in named]

    @property
    def has_labels(self) -> bool:
        return self.predictions is not None and "label" in self.predictions.columns

    def without(self, families: Iterable[str]) -> Bundle:
        """A copy of this bundle lacking ``families`` (names as `families` gives them): what a source that does
        not send them would have posted. Training makes such copies (`rca.ranking.families.dropout`) so the
        ranker has seen incidents from systems with fewer signals; ``bench/family_dropout.py`` measures them.

        Raises
        ------
        ValueError
            For a name that is not a family.
        """
        names = set(families)
        unknown = names - set(EMPTY_FAMILY)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; known: {', '.join(EMPTY_FAMILY)}")
        return replace(self, **{EMPTY_FAMILY[n][0]: EMPTY_FAMILY[n][1] for n in sorted(names)})

    def families(self) -> list[str]:
        """The signal families present, for reports and for the ranker's 'what was available' features."""
        present = {
            "predictions": self.predictions is not None,
            "histograms": bool(self.histograms),
            "feature_samples": self.feature_samples is not None,
            "traces": self.spans is not None,
            "kpis": self.kpis is not None,
            "metrics": self.metrics is not None,
            "events": bool(self.events),
            "graph": self.graph is not None,
        }
        return [name for name, ok in present.items() if ok]


def signal_nodes(bundle: Bundle, *, segments: bool = True) -> set[str]:
    """Every node the bundle's signals mention, its events aside (the contract's "Node ids" section): features,
    model versions, segment values (of dimensions with at most `MAX_SEGMENT_VALUES`; none without ``segments``:
    finding the dimensions reads the predictions' columns), ``labels:<model>``, KPIs and the services of
    ``metrics``. The spans' services and graph.json's nodes are not among them (`rca.graph.build` adds them on its
    own)."""
    nodes: set[str] = set()
    model = bundle.incident.model
    nodes.update(node_id("feature", f) for f in bundle.histograms)
    nodes.update(node_id("feature", str(c)) for c in bundle.feature_columns)
    p = bundle.predictions
    if p is not None:
        nodes.update(model_node(model, str(v)) for v in p["model_version"].unique())
        for column in bundle.segment_columns if segments else ():
            values = p[column].dropna().unique()
            if len(values) <= MAX_SEGMENT_VALUES:
                nodes.update(segment_node(column, v) for v in values)
        if bundle.has_labels:
            nodes.add(labels_node(model))
    if bundle.kpis is not None:
        nodes.update(node_id("kpi", str(n)) for n in bundle.kpis["name"].unique())
    if bundle.metrics is not None:
        nodes.update(node_id("service", str(s)) for s in bundle.metrics["service"].unique())
    return nodes


def bundle_nodes_but_events(bundle: Bundle, *, segments: bool = True) -> set[str]:
    """The nodes of the bundle's signals (`signal_nodes`), spans and graph.json: what an event's target can name."""
    nodes = signal_nodes(bundle, segments=segments)
    if bundle.graph is not None:
        nodes.update(bundle.graph.nodes)
    if bundle.spans is not None:
        nodes.update(node_id("service", str(s)) for s in bundle.spans["service"].unique())
    return nodes


def with_event_nodes(bundle: Bundle) -> Bundle:
    """``bundle`` with each event's ``target`` spelled as the node of the bundle it names (`spelled_as`): change
    events come from other tools (MLflow's ``models:/fraud-scorer/2``, Argo CD's ``pipeline:user-profile`` for
    graph.json's ``pipeline:user_profile``), and a target that names no node linked the change to nothing, or
    made a node of its own (``model:fraud-scorer@2`` beside the predictions' ``v2``). The target as sent is kept
    in the event's ``target_sent`` (an extra field). A target that matches no node stays as it is; `rca
    validate` notes it. The loader calls this once all families are read."""
    if not bundle.events:
        return bundle
    plain = bundle_nodes_but_events(bundle, segments=False)
    if all(e.target in plain for e in bundle.events):
        return bundle       # the usual case, told without the segment values (`signal_nodes`' costly part)
    nodes = bundle_nodes_but_events(bundle)
    events = []
    for event in bundle.events:
        node = spelled_as(event.target, nodes)
        events.append(event if node == event.target else event.model_copy(
            update={"target": node, "target_sent": event.target}))
    resolved = replace(bundle, events=tuple(events))
    resolved.derived.update(bundle.derived)    # what was computed does not depend on the events
    return resolved


def empty_windows(bundle: Bundle) -> list[EmptyWindow]:
    """The signal families ``bundle`` sent that hold no data in the current window, or none in the baseline
    window when they are compared with it: the generators compared nothing of them (a collection gap, a wrong
    window, a late export), and an answer without their causes must not read as "nothing changed there".

    Windows are read as the generators slice them: a row counts when its ``timestamp`` (a span when its
    ``start``) is in ``[start, end)``, a serving histogram bucket when its ``start`` is
    (`rca.generators.histograms.feature_change`), and only serving rows of ``feature_samples`` count. Histograms
    and feature samples are compared with their training reference when they have one, so for them the
    baseline window matters only without it. Events and the graph are not compared across windows. (A family
    with nothing in either window is an error of the loader, ``_outside_windows``; a `Bundle` built by hand
    can still have one, and gets both windows named.)

    Returns
    -------
    list of EmptyWindow
        Current-window gaps first, then baseline ones, each in `Bundle.families` order; empty when every
        family sent had data in the windows it is compared across.

    Examples
    --------
    >>> import pandas as pd
    >>> w = lambda a, b: {"start": f"2026-01-0{a}T00:00:00Z", "end": f"2026-01-0{b}T00:00:00Z"}
    >>> incident = Incident(model="m", detected_at="2026-01-04T00:00:00Z", baseline=w(1, 2), current=w(2, 3))
    >>> kpis = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01T06:00:00Z"]), "name": "k", "value": 1.0})
    >>> [(e.family, e.window) for e in empty_windows(Bundle(incident=incident, kpis=kpis))]
    [('kpis', 'current')]
    """
    inc = bundle.incident
    windows = (inc.current, inc.baseline)
    held: dict[str, list[bool]] = {}   # family -> [data in the current window, in the baseline window]
    for family, frame, column in (("predictions", bundle.predictions, "timestamp"), ("traces", bundle.spans, "start"),
                                  ("kpis", bundle.kpis, "timestamp"), ("metrics", bundle.metrics, "timestamp")):
        if frame is not None:
            held[family] = _held_in(frame[column], windows)
    if bundle.feature_samples is not None:
        serving = (bundle.feature_samples["role"] == "serving").to_numpy()
        trained = not serving.all()   # training rows: the reference its serving rows are compared with
        current, baseline = _held_in(bundle.feature_samples["timestamp"], windows, serving if trained else None)
        held["feature_samples"] = [current, baseline or trained]
    if bundle.histograms:
        starts = [h.start for f in bundle.histograms.values() for h in f.serving]
        trained = any(f.training is not None for f in bundle.histograms.values())
        held["histograms"] = [any(map(inc.current.contains, starts)),
                              trained or any(map(inc.baseline.contains, starts))]
    order = [f for f in EMPTY_FAMILY if f in held]
    return [EmptyWindow(family=f, window=w) for i, w in enumerate(("current", "baseline")) for f in order
            if not held[f][i]]


def _held_in(times: pd.Series, windows: Iterable[Window], rows: np.ndarray | None = None) -> list[bool]:
    """For each window, whether a time of ``times`` (of the ``rows`` mask only, when given) is in
    ``[start, end)``. The loader keeps tables in time order (``_in_time_order``): two binary searches a window
    then, instead of a pass over the column."""
    bounds = [(pd.Timestamp(w.start), pd.Timestamp(w.end)) for w in windows]
    if rows is None and times.is_monotonic_increasing:
        return [bool(times.searchsorted(lo) < times.searchsorted(hi)) for lo, hi in bounds]
    held = []
    for lo, hi in bounds:
        inside = ((times >= lo) & (times < hi)).to_numpy()
        held.append(bool((inside & rows if rows is not None else inside).any()))
    return held
