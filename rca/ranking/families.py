"""Which signal families a ranker's training incidents had: recorded with every trained model.

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

import pandas as pd

from rca.ranking.features import FAMILIES


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
