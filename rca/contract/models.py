"""Pydantic models of the incident bundle and of the engine's answer (``shared/contract/incident-bundle.md``).

Extra fields are allowed and kept everywhere, as the contract asks. `rca schemas` writes these models as
JSON Schema files under ``schemas/``.
"""

from __future__ import annotations

import json
import math
import operator
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rca.contract.nodes import node_id_problem, node_kind
from rca.contract.timestamps import Timestamp, column_range_problem
from rca.errors import shown


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CauseKind(StrEnum):
    """The twelve cause kinds of the contract."""

    DATA_DRIFT = "data_drift"
    TRAINING_SERVING_SKEW = "training_serving_skew"
    MISSING_VALUES = "missing_values"
    SCHEMA_CHANGE = "schema_change"
    STALE_FEATURE = "stale_feature"
    DEPENDENCY_LATENCY = "dependency_latency"
    DEPENDENCY_ERRORS = "dependency_errors"
    RESOURCE_SATURATION = "resource_saturation"
    MODEL_REGRESSION = "model_regression"
    SEGMENT_SHIFT = "segment_shift"
    CONCEPT_DRIFT = "concept_drift"
    LABEL_ISSUE = "label_issue"


FEATURE_KINDS = frozenset({CauseKind.DATA_DRIFT, CauseKind.TRAINING_SERVING_SKEW, CauseKind.MISSING_VALUES,
                           CauseKind.SCHEMA_CHANGE, CauseKind.STALE_FEATURE})
SERVICE_KINDS = frozenset({CauseKind.DEPENDENCY_LATENCY, CauseKind.DEPENDENCY_ERRORS,
                           CauseKind.RESOURCE_SATURATION})
MODEL_KINDS = frozenset({CauseKind.MODEL_REGRESSION, CauseKind.CONCEPT_DRIFT})

NODE_KIND_OF_CAUSE: dict[CauseKind, str] = {
    **{k: "feature" for k in FEATURE_KINDS},
    **{k: "service" for k in SERVICE_KINDS},
    **{k: "model" for k in MODEL_KINDS},
    CauseKind.SEGMENT_SHIFT: "segment",
    CauseKind.LABEL_ISSUE: "labels",
}
"""Which node kind each cause kind names (the contract's table)."""


def cause_node_problem(node: str, kind: CauseKind) -> str | None:
    """What is wrong with ``node`` as the node of a cause of ``kind`` (the contract's "Which node each kind
    names": ``kind:name``, the kind that `NODE_KIND_OF_CAUSE` gives, a name after the colon), or None when it fits.

    >>> cause_node_problem("service:db", CauseKind.DATA_DRIFT)
    "'service:db' does not fit kind data_drift; expected a node 'feature:<name>'"
    """
    expected = NODE_KIND_OF_CAUSE[kind]
    if ":" not in node or node_kind(node) != expected:
        return f"{shown(node)} does not fit kind {kind.value}; expected a node '{expected}:<name>'"
    return node_id_problem(node)


def _comparable(value: datetime) -> datetime:
    if problem := column_range_problem(value):
        raise ValueError(problem)
    return value


class Window(_Open):
    start: Timestamp
    end: Timestamp

    @field_validator("start", "end")
    @classmethod
    def _within_the_tables(cls, value: datetime) -> datetime:
        return _comparable(value)

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    def contains(self, when) -> bool:
        return self.start <= when < self.end


NODE_ID_PATTERN = r"^[^:]*[^:\s][^:]*:.*\S"
"""`node_id_problem`'s rule as a JSON Schema pattern: a non-blank kind, a colon, a non-blank name."""
_NODE_ID = {"pattern": NODE_ID_PATTERN}


def _node_id(node: str, example: str) -> str:
    if problem := node_id_problem(node, example=example):
        raise ValueError(problem)
    return node


class Symptom(_Open):
    node: str = Field(json_schema_extra=_NODE_ID)
    direction: Literal["up", "down", "any"] = "any"

    @field_validator("node")
    @classmethod
    def _is_node_id(cls, node: str) -> str:
        return _node_id(node, "kpi:approval_rate")


class Incident(_Open):
    """``incident.json``: what degraded, when, and the windows to compare."""

    id: str | None = None
    model: str = Field(json_schema_extra={"minLength": 1, "pattern": "\\S"})
    detected_at: Timestamp
    baseline: Window
    current: Window
    symptom: Symptom | None = None

    @field_validator("model")
    @classmethod
    def _names_a_model(cls, model: str) -> str:
        # The contract's "model name": it is what model:<model>@<version> and labels:<model> nodes are built from.
        if not model.strip():
            raise ValueError(f"{'empty' if not model else f'blank ({shown(model)})'}; expected the name of the model")
        return model

    @model_validator(mode="after")
    def _windows_apart(self) -> Incident:
        # A time in both windows would be compared with itself: the change is muted or gone, without a word.
        b, c = self.baseline, self.current
        if b.start < c.end and c.start < b.end:
            raise ValueError(f"the baseline window overlaps the current one from {max(b.start, c.start).isoformat()}"
                             f" to {min(b.end, c.end).isoformat()}; expected windows that do not overlap (a baseline "
                             "before the incident, or another period)")
        return self


class _HistogramBase(_Open):
    feature: str = Field(min_length=1)
    role: Literal["training", "serving"]
    start: Timestamp | None = None
    end: Timestamp | None = None
    dtype: str = "float"
    counts: list[float]
    nulls: float = Field(default=0, ge=0, allow_inf_nan=False)
    total: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @field_validator("counts")
    @classmethod
    def _non_negative(cls, counts: list[float]) -> list[float]:
        if counts and min(counts) >= 0 and math.isfinite(sum(counts)):   # the common case, at C speed
            return counts
        for i, c in enumerate(counts):
            if not math.isfinite(c) or c < 0:
                raise ValueError(f"counts[{i}] is {c}; counts must be finite and >= 0")
        return counts

    @model_validator(mode="after")
    def _serving_has_window(self):
        if self.role == "serving" and (self.start is None or self.end is None):
            raise ValueError("a serving histogram needs 'start' and 'end'")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self

    @model_validator(mode="after")
    def _nulls_from_total(self):
        """Without a ``nulls`` field, the rows ``total`` counts beyond the counted values are the nulls: a
        profiler that counts only non-null values in its bins (and gives the null rate as ``total`` alone) left a
        feature going null looking complete. A ``nulls`` given, even 0, is kept; ``nulls_from_total`` says which.
        Counts that sum to 1 or less beside a larger ``total`` are shares, not counts: nothing is read from it.
        """
        if "nulls" not in self.model_fields_set and self.total is not None:
            counted = self.observed()
            if 0 < counted <= 1 < self.total:   # shares (a profile's proportions) beside a row count: no gap
                return self
            gap = self.total - counted
            if gap > 1e-9 * self.total:
                self.__dict__["nulls"] = gap   # bypasses __setattr__: ``nulls`` stays out of model_fields_set
        return self

    @property
    def nulls_from_total(self) -> bool:
        """Whether ``nulls`` was read as ``total`` minus the counted values (`_nulls_from_total`)."""
        return "nulls" not in self.model_fields_set and self.nulls > 0

    def observed(self) -> float:
        """Total of counts plus nulls (and under/overflow for numeric histograms)."""
        return float(sum(self.counts)) + self.nulls


class NumericHistogram(_HistogramBase):
    type: Literal["numeric"]
    edges: list[float]
    underflow: float = Field(default=0, ge=0, allow_inf_nan=False)
    overflow: float = Field(default=0, ge=0, allow_inf_nan=False)
    mean: float | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _counts_fit_edges(self) -> NumericHistogram:
        self._fold_open_ends()
        if len(self.edges) < 2:
            raise ValueError(f"'edges' needs at least 2 values, got {len(self.edges)}")
        # sum() is finite for finite edges unless they overflow it; only then look at each edge
        if not math.isfinite(sum(self.edges)) and not all(math.isfinite(e) for e in self.edges):
            raise ValueError("'edges' must be finite numbers")
        if not all(map(operator.lt, self.edges, self.edges[1:])):
            raise ValueError("'edges' must be strictly increasing")
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(f"'counts' has {len(self.counts)} values but {len(self.edges)} edges make "
                             f"{len(self.edges) - 1} bins; expected len(counts) == len(edges) - 1")
        return self

    def observed(self) -> float:
        return super().observed() + self.underflow + self.overflow

    def _fold_open_ends(self) -> None:
        """A first edge at -inf or a last at +inf (a profiler's open-ended bins, ``pd.cut`` with infinite ends,
        Prometheus' ``le="+Inf"`` bucket) is the contract's underflow or overflow: that bin's count is added there
        and the edge dropped. Another infinite or NaN edge is left for the checks that refuse it."""
        if len(self.counts) != len(self.edges) - 1:
            return                                   # the length check says what is wrong
        if len(self.edges) > 2 and self.edges[0] == -math.inf:
            self.__dict__.update(underflow=self.underflow + self.counts[0], edges=self.edges[1:],
                                 counts=self.counts[1:])
        if len(self.edges) > 2 and self.edges[-1] == math.inf:
            self.__dict__.update(overflow=self.overflow + self.counts[-1], edges=self.edges[:-1],
                                 counts=self.counts[:-1])


class CategoricalHistogram(_HistogramBase):
    type: Literal["categorical"]
    categories: list[str]

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_as_text(cls, value: Any) -> Any:
        """JSON booleans and numbers, what a bool or int feature's categories serialise to, are read as their JSON
        spelling (``true``, ``55``); a null is not a category (missing values are counted in ``nulls``)."""
        if not isinstance(value, list):
            return value
        for i, category in enumerate(value):
            if category is None:
                raise ValueError(f"category {i} is null; expected text, with missing values counted in 'nulls'")
        return [json.dumps(c) if isinstance(c, (bool, int, float)) else c for c in value]

    @model_validator(mode="after")
    def _counts_fit_categories(self) -> CategoricalHistogram:
        if len(self.counts) != len(self.categories):
            raise ValueError(f"'counts' has {len(self.counts)} values for {len(self.categories)} categories; "
                             "expected one count per category")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("'categories' has duplicates")
        return self


Histogram = NumericHistogram | CategoricalHistogram


class Event(_Open):
    """One line of ``events.jsonl``: a deploy, config or schema change, a backfill."""

    timestamp: Timestamp
    kind: str = Field(min_length=1)
    target: str = Field(json_schema_extra=_NODE_ID)
    description: str = ""

    KNOWN_KINDS: ClassVar[frozenset[str]] = frozenset({"model_deploy", "pipeline_deploy", "config_change",
                                                       "schema_change", "infra_change", "data_backfill"})

    @field_validator("timestamp")
    @classmethod
    def _within_the_tables(cls, value: datetime) -> datetime:
        return _comparable(value)

    @field_validator("target")
    @classmethod
    def _is_node_id(cls, target: str) -> str:
        return _node_id(target, "model:fraud-scorer@v43")


class GraphNode(_Open):
    id: str = Field(json_schema_extra=_NODE_ID)
    kind: str | None = None

    @field_validator("id")
    @classmethod
    def _is_node_id(cls, node: str) -> str:
        return _node_id(node, "feature:amount")


class GraphLink(_Open):
    source: str
    target: str


class DependencyGraph(_Open):
    """``graph.json``: networkx node-link JSON. ``source -> target``: a fault in source shows up in target."""

    directed: bool = True
    multigraph: bool = False
    graph: dict[str, Any] = Field(default_factory=dict)
    nodes: list[GraphNode]
    edges: list[GraphLink] = Field(default_factory=list, validation_alias="edges")

    @model_validator(mode="before")
    @classmethod
    def _links_alias(cls, data: Any) -> Any:
        # networkx < 3.4 writes "links"; both spellings are node-link JSON.
        if isinstance(data, dict) and "edges" not in data and "links" in data:
            data = {**data, "edges": data["links"]}
        return data


class Cause(_Open):
    node: str
    kind: CauseKind


class Label(_Open):
    """``label.json``: the confirmed root cause(s) of a labeled incident."""

    causes: list[Cause] = Field(min_length=1)
    source: str | None = None
    notes: str | None = None


class Evidence(_Open):
    """One checkable fact behind a cause: which signal, which test, its value, when it started."""

    signal: str
    test: str
    value: float | None = None
    p_value: float | None = None
    baseline: float | None = None
    current: float | None = None
    onset: Timestamp | None = None
    detail: str | None = None


class RankedCause(_Open):
    rank: int = Field(ge=1)
    node: str
    kind: CauseKind
    confidence: float = Field(ge=0, le=1)
    evidence: list[Evidence] = Field(default_factory=list)
    explanation: str = ""


class NotCompared(_Open):
    """A service the engine was blind to: metric series of it measured in the current window that could not be
    compared with a baseline (too few baseline points: a service new since then, a gap in the collection), so
    nothing can be said of them, for or against it as a cause."""

    node: str
    series: list[str] = Field(description="the metric names left uncompared")


class EmptyWindow(_Open):
    """A signal family sent with no data in one of the incident's windows (a collection gap, a wrong window, a
    late export), so the engine compared nothing of it: no cause it alone would show can be proposed. It is
    named so that "no candidate causes" is not read as "nothing changed" (`rca.contract.bundle.empty_windows`)."""

    family: str = Field(description="the family, as `families` names it: predictions, histograms, "
                                    "feature_samples, traces, kpis or metrics")
    window: Literal["current", "baseline"] = Field(description="the window holding none of its data")


def families_by_window(gaps: list[EmptyWindow]) -> dict[str, list[str]]:
    """The families of ``gaps`` per window, the current window first; a window without any is left out.

    >>> gap = lambda family, window: EmptyWindow(family=family, window=window)
    >>> families_by_window([gap("traces", "baseline"), gap("kpis", "current")])
    {'current': ['kpis'], 'baseline': ['traces']}
    """
    by_window = {w: [g.family for g in gaps if g.window == w] for w in ("current", "baseline")}
    return {w: families for w, families in by_window.items() if families}


class GeneratorError(_Open):
    """A candidate generator that raised on the bundle: a bug of the engine, met on data of a shape it was not
    written for. The answer was ranked without what it would have proposed; please report it with the bundle."""

    generator: str = Field(description="the generator, as `rca.generators.registered()` names it")
    error: str = Field(description="its error: the exception's type and message")


class Unread(_Open):
    """A file of the bundle (or a key of an inline body) the engine did not read, its name close to one it reads:
    a misnamed file, whose data the answer was made without."""

    name: str = Field(description="the file or key as sent, e.g. traces.json")
    meant: str = Field(description="the bundle file or key it is close to, e.g. traces.jsonl")


class Answer(_Open):
    """The engine's answer: ranked causes with calibrated confidences (summing to at most 1), the services
    whose metrics it could not compare (``not_compared``; empty when every series had its baseline), the
    families with no data in the current or the baseline window (``empty_windows``; empty when every family
    sent had data in the windows it is compared across), the candidate generators that failed on the
    bundle (``generator_errors``; empty unless the engine has a bug), and the files or inline keys not read whose
    names are close to a bundle file's (``unread``: misnamed, their data left out)."""

    incident: str | None
    ranker: str
    causes: list[RankedCause]
    not_compared: list[NotCompared] = Field(default_factory=list)
    empty_windows: list[EmptyWindow] = Field(default_factory=list)
    generator_errors: list[GeneratorError] = Field(default_factory=list)
    unread: list[Unread] = Field(default_factory=list)

    @model_validator(mode="after")
    def _confidences_sum_to_at_most_one(self) -> Answer:
        total = sum(c.confidence for c in self.causes)
        if total > 1 + 1e-6:
            raise ValueError(f"confidences sum to {total:.4f}; they must sum to at most 1")
        return self
