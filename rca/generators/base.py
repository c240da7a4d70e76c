"""What every candidate generator produces, and the protocol it follows.

A generator reads one loaded `Bundle` and proposes `Hypothesis` objects (a node and a cause kind, with the
evidence a reviewer can check and numeric features for the ranker). It may also report `Anomaly` objects:
nodes that look abnormal but are not causes of their own (a KPI that fell, a score distribution that
moved); the graph stage uses them to see what each hypothesis would explain.

Generators are pure functions of the bundle: no I/O, no global state, deterministic.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from rca.contract.bundle import Bundle
from rca.contract.models import CauseKind, Evidence


@dataclass
class Hypothesis:
    """A candidate root cause.

    Attributes
    ----------
    node : node id (``feature:amount``, ``service:payments``...), as the contract names them per kind.
    kind : the cause kind.
    generator : name of the generator that proposed it.
    score : the generator's strength of evidence, >= 0, comparable across generators only roughly
        (by convention a -log10 p-value or a robust z-score capped at 50).
    onset : when the change started (the first bucket or sample from which it holds), if known.
    evidence : checkable facts behind it.
    features : numeric features for the ranker, namespaced by the generator (``hist.psi``).
    """

    node: str
    kind: CauseKind
    generator: str
    score: float
    onset: datetime | None = None
    evidence: list[Evidence] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, str(self.kind))


@dataclass
class Anomaly:
    """An abnormal node that is a symptom rather than a cause (a KPI drop, a score shift)."""

    node: str
    signal: str
    score: float
    onset: datetime | None = None
    direction: str = "any"
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Candidates:
    hypotheses: list[Hypothesis] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)   # generator -> its error, when it raised on the bundle

    def extend(self, other: Candidates) -> None:
        self.hypotheses.extend(other.hypotheses)
        self.anomalies.extend(other.anomalies)
        self.failed.update(other.failed)


@runtime_checkable
class Generator(Protocol):
    """One candidate generator. ``name`` is its registry key."""

    name: str

    def generate(self, bundle: Bundle) -> Candidates:
        """Propose hypotheses (and report anomalies) for one bundle; an absent signal family gives none."""
        ...


R = TypeVar("R")


def per_bundle(fn: Callable[..., R]) -> Callable[..., R]:
    """Compute ``fn(bundle, **options)`` once per bundle and options, and keep it in ``bundle.derived``.

    For a derived result that more than one generator needs (the events generator dates its events against
    the KPI onsets the kpis generator scores). The result is shared between its callers: they must not modify
    it. Options are keyed with their defaults filled in, so ``fn(b)`` and ``fn(b, threshold=<default>)`` are
    one entry.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def cached(bundle: Bundle, **options) -> R:
        bound = signature.bind(bundle, **options)
        bound.apply_defaults()
        key = (fn.__module__, fn.__qualname__, *((k, v) for k, v in bound.arguments.items() if v is not bundle))
        if key not in bundle.derived:
            bundle.derived[key] = fn(bundle, **options)
        return bundle.derived[key]

    return cached
