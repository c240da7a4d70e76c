"""The loaded incident bundle: validated, typed, ready for analysis.

Tables stay pandas DataFrames for speed, but each has a fixed, validated set of columns documented here,
so no module downstream guesses:

=================  ==========================================================================================
``predictions``    timestamp (datetime64[ns, UTC]), model_version (str), score (float64), label (float64,
                   NaN when unknown; present only if the bundle has it), latency_ms (float64, optional),
                   trace_id (str, optional), then segment dimensions (category)
``feature_samples`` timestamp, role ('training' | 'serving'), one column per feature (as read)
``spans``          service, operation, trace_id, span_id, parent_span_id ('' for roots), start
                   (datetime64[ns, UTC]), duration_ms (float64), error (bool), kind (int)
``kpis``           timestamp, name (str), value (float64), then dimensions (str)
``metrics``        timestamp, service (str), name (str), value (float64), instance (str, optional), then
                   dimensions
=================  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import networkx as nx
import pandas as pd

from rca.contract.models import CategoricalHistogram, Event, Incident, NumericHistogram

PREDICTION_COLUMNS = ("timestamp", "model_version", "score")
PREDICTION_OPTIONAL = ("label", "latency_ms", "trace_id")
KPI_COLUMNS = ("timestamp", "name", "value")
METRIC_COLUMNS = ("timestamp", "service", "name", "value")
METRIC_OPTIONAL = ("instance",)
SAMPLE_COLUMNS = ("timestamp",)
SPAN_COLUMNS = ("service", "operation", "trace_id", "span_id", "parent_span_id", "start", "duration_ms",
                "error", "kind")


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
    derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)
    """Results that analysis code computed from this bundle, kept so that other stages reuse them instead of
    computing them again (`rca.generators.base.per_bundle`). Not part of the contract; a bundle made with
    `dataclasses.replace` starts with none."""

    @property
    def incident_id(self) -> str:
        return self.incident.id or (self.source or "incident")

    @property
    def segment_columns(self) -> list[str]:
        """Segment dimensions of the predictions table (every column the contract does not name)."""
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
