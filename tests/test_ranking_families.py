"""The family mix recorded with a trained ranker, and the champion ranking incidents whatever families they lack."""

import pandas as pd
import pytest

from rca.contract import load_bundle
from rca.generators import generate_candidates
from rca.ranking.features import FAMILIES
from rca.ranking.families import family_mix, signature
from tests.builders import write_minimal_bundle


def rows(incident, families, n=2):
    data = {"incident_id": [incident] * n, "node": [f"service:s{i}" for i in range(n)], "kind": ["dependency_errors"] * n}
    data.update({f"family={f}": [float(f in families)] * n for f in FAMILIES})
    return pd.DataFrame(data)


def test_family_mix_counts_incidents_not_rows():
    table = pd.concat([rows("a", {"metrics", "kpis"}, n=3), rows("b", {"kpis", "metrics"}),
                       rows("c", {"predictions", "metrics"})], ignore_index=True)
    assert family_mix(table) == {"kpis+metrics": 2, "metrics+predictions": 1}
    assert signature(["metrics", "kpis", "kpis"]) == "kpis+metrics"


def test_the_champion_ranks_an_incident_lacking_families_its_training_always_had(tmp_path, monkeypatch):
    """It used to go to the heuristic; bench/family_dropout.py measured the champion far ahead there."""
    from rca.config import get_settings
    from rca.ranking.registry import RankerRegistry
    from rca.ranking.train import train_ranker
    from rca.service import get_ranker
    from tests.rank_builders import synthetic_table

    monkeypatch.setenv("RCA_RANKERS_DIR", str(tmp_path / "rankers"))
    monkeypatch.setattr("rca.ranking.registry.PACKAGED_CHAMPION", tmp_path / "no-packaged")
    get_settings.cache_clear()
    try:
        ranker = train_ranker(synthetic_table(30))
        ranker.meta["family_mix"] = {signature(FAMILIES): 30}  # trained only on fully instrumented incidents
        registry = RankerRegistry(tmp_path / "rankers")
        version = registry.save(ranker)
        registry.promote(version, "first")
        bundle = load_bundle(write_minimal_bundle(tmp_path / "b"))
        assert set(FAMILIES) - set(bundle.families())  # premise: the bundle lacks some
        answer = get_ranker().rank(bundle, generate_candidates(bundle), top=5)
        assert answer.ranker == version and answer.causes
    finally:
        get_settings.cache_clear()


def test_a_bundle_without_families_lacks_exactly_those(tmp_path):
    from rca.contract.bundle import EMPTY_FAMILY

    bundle = load_bundle(write_minimal_bundle(tmp_path / "b"))
    present = bundle.families()
    assert set(present) == set(FAMILIES) - {"feature_samples"}   # premise: the minimal bundle has the rest
    assert set(EMPTY_FAMILY) == set(FAMILIES)
    for family in present:
        assert bundle.without([family]).families() == [f for f in present if f != family]
    assert bundle.without(FAMILIES).families() == []
    assert bundle.without([]).families() == present and bundle.families() == present   # a copy; the original stays
    with pytest.raises(ValueError, match="unknown families \\['spans'\\]; known: predictions"):
        bundle.without(["spans"])


def test_dropout_removes_a_present_family_leaves_evidence_and_is_stable():
    from rca.ranking.families import DROPOUTS, EVIDENCE, dropout

    present = set(FAMILIES) - {"feature_samples"}
    picks = {i: dropout(f"inc-{i}", present) for i in range(200)}
    assert all(picks[i] == dropout(f"inc-{i}", sorted(present)) for i in picks)      # the id decides, not order
    for drop in picks.values():
        assert drop and set(drop) <= present and (present - set(drop)) & set(EVIDENCE)
    assert len(set(picks.values())) >= len(DROPOUTS) - 2   # spread over the combinations, not one favourite
    assert dropout("inc-0", {"metrics", "graph"}) == ("graph",)    # the only one leaving evidence
    assert dropout("inc-0", {"metrics"}) is None and dropout("inc-0", set()) is None


def test_a_copy_without_resource_metrics_keeps_the_other_series(tmp_path):
    """CPU and memory series go (as from a source that sends none); latency, errors and traffic stay."""
    from dataclasses import replace

    from rca.ranking.families import RESOURCE_METRICS, bundle_without, droppable

    times = pd.date_range("2026-01-01", periods=4, freq="5min", tz="UTC")
    names = ["latency_p95", "cpu_usage", "memory_rss_bytes", "error_rate", "request_count"]
    frame = pd.DataFrame([{"timestamp": t, "service": "api", "name": n, "value": 1.0} for t in times for n in names])
    bundle = load_bundle(write_minimal_bundle(tmp_path / "b"))
    with_metrics = replace(bundle, metrics=frame)
    assert RESOURCE_METRICS in droppable(with_metrics) and RESOURCE_METRICS not in bundle.families()
    copy = bundle_without(with_metrics, [RESOURCE_METRICS, "kpis"])
    assert sorted(copy.metrics["name"].unique()) == ["error_rate", "latency_p95", "request_count"]
    assert copy.kpis is None and len(with_metrics.metrics) == 20          # the original is untouched
    assert RESOURCE_METRICS not in droppable(copy)
    only = replace(bundle, metrics=frame[frame["name"] == "cpu_usage"])
    assert bundle_without(only, [RESOURCE_METRICS]).metrics is None      # nothing left: no metrics at all
    with pytest.raises(ValueError, match="unknown families \\['cpu'\\]; known: .*, graph, resource_metrics"):
        bundle_without(bundle, ["cpu"])
