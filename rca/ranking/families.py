"""Signal families in training: which ones a ranker's incidents had, and the reduced copies it also trains on.

`dropout` picks, for each training incident, families its reduced copy lacks (`DROPOUTS`), so the ranker also
learns from bundles as sparser sources send them (`rca.ranking.dataset.build_training_table`). Measured on the
validation incidents of `labeled_incidents/` (``bench/family_dropout.py``, same code and table, with and
without the copies): AC@1 0.605 against 0.553 without metrics, 0.763 against 0.684 without predictions, 0.912
against 0.886 without KPIs, and on the gate's whole validation split 0.884 against 0.874 as the bundles came.
Not everywhere: without events 0.816 against 0.842, without histograms 0.658 against 0.693 (AC@3 is equal or
higher in every combination).

Training stores `family_mix` in the model's metadata (``meta["family_mix"]``): training incidents per family
*signature*, the sorted set of families present (e.g. ``graph+kpis+metrics``). It says what a model has seen,
for the people who read a ranker's metadata (`rca rankers list --format json`); it does not choose the ranker.

It used to: an incident lacking a family that fewer than 10 training incidents had lacked went to the heuristic
scorer, on the theory that the trees' missing-value branches were untested there. Measured, that cost far more
than it saved: on the validation incidents of `labeled_incidents/` with the KPIs removed the champion ranks the
cause first in 0.912 of them and the heuristic in 0.360; without metrics and traces 0.500 and 0.096; and the
champion was ahead in every combination tried (``bench/family_dropout.py``). So every incident goes to the
trained ranker.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from rca.ranking.features import FAMILIES

DROPOUTS = (("kpis",), ("metrics",), ("traces",), ("metrics", "traces"), ("events",), ("graph",),
            ("predictions",), ("histograms", "feature_samples"), ("predictions", "histograms", "feature_samples"),
            ("kpis", "metrics"))
"""The family combinations a training incident's reduced copy may lack: bundles as other systems send them (no
KPI file; traces but no metrics or the reverse; a trigger that posts only the model's own signals; no declared
graph; no change feed)."""

EVIDENCE = ("predictions", "histograms", "feature_samples", "traces", "kpis", "metrics")
"""Families a generator finds anomalies in (events and the graph only relate them)."""


def signature(families) -> str:
    """The family signature of one incident: its present families, sorted, joined by ``+``."""
    return "+".join(sorted(set(families)))


def row_signature(row: pd.Series) -> str:
    """The signature from one feature row's ``family=*`` columns."""
    return signature(f for f in FAMILIES if row.get(f"family={f}", 0.0) == 1.0)


def family_mix(rows: pd.DataFrame) -> dict[str, int]:
    """Training incidents per family signature, from a hypothesis table's rows (one count per incident)."""
    if rows.empty:
        return {}
    first = rows.groupby("incident_id", sort=True).first()
    counts = first.apply(row_signature, axis=1).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def dropout(incident_id: str, present) -> tuple[str, ...] | None:
    """The families the reduced training copy of ``incident_id`` lacks, or None when no copy is worth making.

    One of `DROPOUTS`, chosen by a hash of the id (the same incident always loses the same families, whatever the
    process), among those that remove a present family and leave some evidence family.

    >>> dropout("inc-1", ["metrics", "traces", "graph"]) in {("metrics",), ("traces",), ("graph",)}
    True
    >>> dropout("inc-1", ["metrics"]) is None
    True
    """
    present = set(present)
    usable = [d for d in DROPOUTS if present & set(d) and present & (set(EVIDENCE) - set(d))]
    if not usable:
        return None
    digest = int.from_bytes(hashlib.sha256(incident_id.encode()).digest()[:8], "big")
    return tuple(sorted(present & set(usable[digest % len(usable)])))
