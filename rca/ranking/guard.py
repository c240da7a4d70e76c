"""Out-of-distribution protection: a trained ranker only ranks incidents whose signal mix it was trained on.

A learned ranker is only as good as the incidents it learned from. Its training table records which signal
families each incident had (``family=*`` columns); `family_mix` counts the training incidents per family
*signature* (the sorted set of families present, e.g. ``graph+kpis+metrics``) and training stores it in the
model's metadata (``meta["family_mix"]``). `FamilyGuard` ranks an incident with the trained model when every
family the incident lacks was also absent in at least `MIN_SEEN` training incidents, and with the documented
heuristic (`rca.ranking.heuristic`) otherwise. A family that was present in (nearly) every training
incident is one the trees always split on with real values; an incident without it sends every such split
down a missing-value branch no training incident took, so the model's scores are extrapolation. (Families
the incident has but training lacked are harmless: the model simply ignores their features.)

`MIN_SEEN` = 10 is a minimum sample fixed a priori, not fitted to any evaluation set. (The packaged champion
has seen 90 metrics-only incidents, `rca.simulate.mesh`, so bundles like PetShop's go to the model.) A model without
``family_mix`` in its metadata (trained before it was recorded) is used unguarded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.contract.models import Answer
from rca.generators.base import Candidates
from rca.ranking.base import TableRanker
from rca.ranking.features import FAMILIES

MIN_SEEN = 10


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


class FamilyGuard(TableRanker):
    """The trained ranker on incidents like its training ones, the fallback (heuristic) on the others.

    Parameters
    ----------
    trained : the learned ranker (a `TableRanker` with ``meta["family_mix"]``).
    fallback : the ranker for unfamiliar incidents.
    mix : training incidents per signature (`family_mix`).
    min_seen : how many training incidents a signature needs.
    """

    def __init__(self, trained: TableRanker, fallback: TableRanker, mix: dict[str, int], *,
                 min_seen: int = MIN_SEEN) -> None:
        self.trained, self.fallback, self.mix, self.min_seen = trained, fallback, dict(mix), min_seen
        self.name = trained.name        # the version callers know; each answer names the ranker that made it
        self.calibration = trained.calibration

    @property
    def meta(self) -> dict:
        return getattr(self.trained, "meta", {})

    def familiar(self, sig: str) -> bool:
        """Every family absent from ``sig`` was absent in at least ``min_seen`` training incidents."""
        present = set(sig.split("+")) if sig else set()
        for family in set(FAMILIES) - present:
            lacking = sum(n for s, n in self.mix.items() if family not in (s.split("+") if s else []))
            if lacking < self.min_seen:
                return False
        return True

    def delegate(self, bundle: Bundle) -> TableRanker:
        """The ranker for this bundle."""
        return self.trained if self.familiar(signature(bundle.families())) else self.fallback

    def rank(self, bundle: Bundle, candidates: Candidates, *, top: int = 10) -> Answer:
        return self.delegate(bundle).rank(bundle, candidates, top=top)

    def score_table(self, table: pd.DataFrame) -> np.ndarray:
        """Scores of a (multi-incident) table: per incident, the delegate its signature picks."""
        out = np.zeros(len(table))
        if table.empty:
            return out
        for _, idx in table.groupby("incident_id", sort=False).indices.items():
            part = table.iloc[idx]
            ranker = self.trained if self.familiar(row_signature(part.iloc[0])) else self.fallback
            out[idx] = ranker.score_table(part)
        return out


def guarded(ranker, fallback: TableRanker):
    """``ranker`` wrapped in a `FamilyGuard` when its metadata records a family mix, else ``ranker`` itself."""
    mix = getattr(ranker, "meta", {}).get("family_mix")
    return FamilyGuard(ranker, fallback, mix) if mix else ranker
