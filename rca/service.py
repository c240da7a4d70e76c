"""The use cases that the CLI and the API both call: analyze a bundle (and, later, review and retrain)."""

from __future__ import annotations

from pathlib import Path

from rca.contract import Answer, Bundle, load_bundle
from rca.generators import generate_candidates


def get_ranker():
    """The ranker in use: the promoted champion when one exists, else the rule ranker."""
    from rca.ranking.rule import RuleRanker

    return RuleRanker()


def analyze(bundle: Bundle, *, top: int = 10, ranker=None) -> Answer:
    """Rank the likely root causes of one incident. A pure function of the bundle (and the ranker)."""
    candidates = generate_candidates(bundle)
    return (ranker or get_ranker()).rank(bundle, candidates, top=top)


def analyze_path(path: str | Path, *, top: int = 10, ranker=None) -> Answer:
    return analyze(load_bundle(path), top=top, ranker=ranker)
