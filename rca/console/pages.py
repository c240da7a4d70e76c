"""What the console's pages show, gathered from the store and the stored bundle (no HTML, no drawing)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from rca.config import Settings
from rca.console import evidence
from rca.contract import Bundle
from rca.contract.bundle import EMPTY_FAMILY
from rca.contract.models import (EmptyWindow, GeneratorError, NotCompared, RankedCause, Unread,
                                 families_by_window)
from rca.service import stored_bundle
from rca.store import queries
from rca.store.models import IncidentRecord, ReviewRecord

FEATURE_CHARTS = 3
"""Feature histograms drawn for at most this many feature causes (the best ranked)."""


@dataclass(frozen=True)
class CauseView:
    cause: RankedCause
    verdicts: list[ReviewRecord]  # each reviewer's latest verdict on this cause
    confirmed: bool


@dataclass(frozen=True)
class IncidentView:
    record: IncidentRecord
    causes: list[RankedCause]
    rows: list[CauseView]
    reviews: list[ReviewRecord]
    named: list[tuple[str, str]]  # confirmed causes that are not among the ranked ones

    @property
    def families(self) -> list[tuple[str, bool]] | None:
        """Every signal family with whether the bundle had it (None when the store did not keep them): a
        reviewer reads a missing cause differently when the bundle had no signal that could show it."""
        if self.record.families is None:
            return None
        return [(f, f in self.record.families) for f in EMPTY_FAMILY]

    @property
    def not_compared(self) -> list[NotCompared]:
        """The services whose metrics the analysis could not compare with a baseline (the answer's
        ``not_compared``; empty before the analysis is done, and for answers stored before it existed)."""
        return [NotCompared.model_validate(b) for b in (self.record.answer or {}).get("not_compared", [])]

    @property
    def empty_windows(self) -> dict[str, list[str]]:
        """The families with no data in the current or the baseline window, per window (the answer's
        ``empty_windows``, `families_by_window`): nothing of them was compared. Empty before the analysis is
        done, and for answers stored before it existed."""
        gaps = [EmptyWindow.model_validate(g) for g in (self.record.answer or {}).get("empty_windows", [])]
        return families_by_window(gaps)

    @property
    def generator_errors(self) -> list[GeneratorError]:
        """The candidate generators that failed on the bundle (the answer's ``generator_errors``): the causes were
        ranked without them. Empty but for a bug of the engine."""
        return [GeneratorError.model_validate(e) for e in (self.record.answer or {}).get("generator_errors", [])]

    @property
    def unread(self) -> list[Unread]:
        """The misnamed files or inline keys the analysis did not read (the answer's ``unread``)."""
        return [Unread.model_validate(u) for u in (self.record.answer or {}).get("unread", [])]


@dataclass(frozen=True)
class ChartRef:
    name: str
    title: str
    feature: str | None = None


def incident_view(session: Session, *, incident_id: str) -> IncidentView:
    """The incident, its ranked causes with each reviewer's latest verdict, and the review history."""
    record = queries.get_incident(session, incident_id=incident_id)
    causes = [RankedCause.model_validate(c) for c in (record.answer or {}).get("causes", [])]
    reviews = queries.list_reviews(session, incident_id=incident_id)
    latest = queries.standing_verdicts(reviews)   # a withdrawn verdict counts no more, and is shown no more
    confirmed = set(queries.confirmed_causes(reviews))
    rows = [CauseView(c, [r for r in latest if (r.node, r.kind) == (c.node, c.kind.value)],
                      (c.node, c.kind.value) in confirmed) for c in causes]
    ranked = {(c.node, c.kind.value) for c in causes}
    return IncidentView(record, causes, rows, reviews, sorted(confirmed - ranked))


def kpi_onset(causes: list[RankedCause]) -> datetime | None:
    """The onset marked on the KPI chart: the earliest evidence onset of the top cause (else of any cause)."""
    for group in (causes[:1], causes):
        onsets = [e.onset for c in group for e in c.evidence if e.onset is not None]
        if onsets:
            return min(onsets)
    return None


def available_charts(bundle: Bundle, causes: list[RankedCause]) -> list[ChartRef]:
    """The charts worth drawing for this incident: skip a chart whose signal family is absent."""
    refs = []
    if bundle.kpis is not None:
        refs.append(ChartRef("kpi", "KPI with the onset and change events"))
    seen: list[str] = []
    for cause in causes:
        name = cause.node.split(":", 1)[1] if cause.node.startswith("feature:") else None
        if name and name in bundle.histograms and name not in seen and len(seen) < FEATURE_CHARTS:
            seen.append(name)
            refs.append(ChartRef("feature", f"feature {name}: training vs serving", name))
    if evidence.latency(bundle) is not None:  # computing the numbers is cheap; drawing waits for the request
        refs.append(ChartRef("latency", "latency per service, before and after"))
    if evidence.quality(bundle) is not None:
        refs.append(ChartRef("quality", "quality by model version and segment"))
    return refs


class BundleCache:
    """The last few stored bundles, loaded once for a page and its charts (keys are content hashes).

    Asked only with a record just read from the store: a deleted incident's pages are 404 before they get here, so
    its bundle, while still cached, is not served (another incident with the same body has the same bundle)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[str, Bundle] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, record: IncidentRecord, *, settings: Settings) -> Bundle:
        key = f"{settings.data_dir}:{record.bundle_file}"
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        bundle = stored_bundle(record, settings=settings)
        with self._lock:
            self._items[key] = bundle
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return bundle
