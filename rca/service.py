"""The use cases that the CLI and the API both call: analyze a bundle (and, later, review and retrain)."""

from __future__ import annotations

from pathlib import Path

from rca.contract import Answer, Bundle, load_bundle
from rca.generators import generate_candidates

_RANKER_CACHE: dict[str, object] = {}


def get_ranker():
    """The ranker in use: the registry's champion, else the packaged champion, else the heuristic scorer.

    The single entry point for every caller. The registry champion is reloaded whenever ``champion.json``
    changes (its mtime), so a promotion or a rollback takes effect without a restart.
    """
    from rca.config import get_settings
    from rca.ranking.heuristic import HeuristicRanker
    from rca.ranking.registry import RankerRegistry, packaged_champion

    registry = RankerRegistry(get_settings().resolved_rankers_dir)
    stamp = (str(registry.root), registry.pointer.stat().st_mtime_ns if registry.pointer.is_file() else None)
    if _RANKER_CACHE.get("stamp") != stamp:
        ranker = registry.champion() or packaged_champion() or HeuristicRanker()
        _RANKER_CACHE.update(stamp=stamp, ranker=ranker)
    return _RANKER_CACHE["ranker"]


def analyze(bundle: Bundle, *, top: int = 10, ranker=None) -> Answer:
    """Rank the likely root causes of one incident. A pure function of the bundle (and the ranker)."""
    candidates = generate_candidates(bundle)
    return (ranker or get_ranker()).rank(bundle, candidates, top=top)


def analyze_path(path: str | Path, *, top: int = 10, ranker=None) -> Answer:
    return analyze(load_bundle(path), top=top, ranker=ranker)
