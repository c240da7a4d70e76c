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
from dataclasses import replace

import pandas as pd

from rca.contract.bundle import EMPTY_FAMILY, Bundle
from rca.generators.metrics import metric_family
from rca.ranking.features import FAMILIES

RESOURCE_METRICS = "resource_metrics"
"""Not a bundle family: the CPU and memory series of the metrics table (`rca.generators.metrics.metric_family`).
Many sources send none (managed queues, tables and functions; a cloud's default per-request metrics). A copy
without them (`bundle_without`) measures how the ranker does there: ``bench/family_dropout.py --drop
resource_metrics``, or ``without=(("resource_metrics",),)`` in `rca.ranking.dataset.build_training_table`.

Not a training dropout. Measured 2026-12-05: without CPU and memory the champion's validation AC@1 falls from
0.904 to 0.851 on labeled_incidents' 114 (the bench), and from 0.884 to 0.828 on the 294 of every training corpus,
but little at the node alone (0.898 -> 0.889): without CPU, saturation is harder to tell from latency. Training on
such copies as well (``(RESOURCE_METRICS,)`` and ``(RESOURCE_METRICS, "traces")`` in `DROPOUTS`, with a family a
service lacks read as NaN, not 0) raised that to 0.857 and lowered the bundles as they came to 0.874 (four seeds
0.871-0.874, against 0.881-0.891 today), so the gate refused it. NaN alone, without the copies: 0.881 as they
came, 0.820 without CPU and memory; refused too."""

DROPOUTS = (("kpis",), ("metrics",), ("traces",), ("metrics", "traces"), ("events",), ("graph",),
            ("predictions",), ("histograms", "feature_samples"), ("predictions", "histograms", "feature_samples"),
            ("kpis", "metrics"))
"""The family combinations a training incident's reduced copy may lack: bundles as other systems send them (no
KPI file; traces but no metrics or the reverse; a trigger that posts only the model's own signals; no declared
graph; no change feed)."""

LACKING = (*DROPOUTS, (RESOURCE_METRICS,))
"""The combinations `rca evaluate` reports the ranker without (`rca.ranking.report.evaluate_lacking`): every
training dropout, and the CPU and memory series."""

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


def droppable(bundle: Bundle) -> list[str]:
    """What a reduced copy of ``bundle`` could lack: its families (`Bundle.families`), and `RESOURCE_METRICS`
    when its metrics have CPU or memory series."""
    present = bundle.families()
    if bundle.metrics is not None and _is_resource(bundle.metrics["name"]).any():
        present.append(RESOURCE_METRICS)
    return present


def bundle_without(bundle: Bundle, drop) -> Bundle:
    """``bundle`` lacking the families in ``drop`` (`Bundle.without`) and, for `RESOURCE_METRICS`, its CPU and
    memory series (no metrics at all when nothing else is left).

    Raises
    ------
    ValueError
        For a name that is neither a family nor `RESOURCE_METRICS`.
    """
    drop = set(drop)
    unknown = drop - set(EMPTY_FAMILY) - {RESOURCE_METRICS}
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; known: {', '.join([*EMPTY_FAMILY, RESOURCE_METRICS])}")
    out = bundle.without(drop - {RESOURCE_METRICS})
    if RESOURCE_METRICS in drop and out.metrics is not None:
        kept = out.metrics.loc[~_is_resource(out.metrics["name"]).to_numpy()].reset_index(drop=True)
        out = replace(out, metrics=kept if len(kept) else None)
    return out


def _is_resource(names: pd.Series) -> pd.Series:
    families = {n: metric_family(str(n))[0] for n in names.unique()}
    return names.map(families).isin(("cpu", "memory"))
