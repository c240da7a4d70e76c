"""Pooling hypotheses that name the same (node, kind) from several generators into one."""

from __future__ import annotations

from rca.generators.base import Hypothesis


def merge_hypotheses(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per (node, kind): the strongest score, the earliest onset, all evidence and features.

    Features of the same name keep their maximum. The result is ordered by first appearance, so it is
    deterministic for a deterministic input.
    """
    merged: dict[tuple[str, str], Hypothesis] = {}
    for h in hypotheses:
        seen = merged.get(h.key)
        if seen is None:
            merged[h.key] = Hypothesis(node=h.node, kind=h.kind, generator=h.generator, score=h.score,
                                       onset=h.onset, evidence=list(h.evidence), features=dict(h.features))
            continue
        if h.score > seen.score:
            seen.score, seen.generator = h.score, h.generator
        if h.onset is not None and (seen.onset is None or h.onset < seen.onset):
            seen.onset = h.onset
        seen.evidence.extend(h.evidence)
        for name, value in h.features.items():
            seen.features[name] = max(value, seen.features.get(name, value))
    return list(merged.values())
