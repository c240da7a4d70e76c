import json
import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import rca
import rca.service  # noqa: F401  bound to the real generate_candidates before any test here patches it (see below)
from rca.contract import load_bundle
from rca.contract.bundle import Bundle
from rca.contract.models import Event
from rca.corpus import write_recipe
from rca.errors import BundleError, ConfigError, ConflictError, NotFoundError
from rca.generators.base import Anomaly, Candidates, Hypothesis
from rca.ranking.dataset import build_training_table, corpus_incidents, count_copies, feature_sources
from rca.ranking.evaluate import evaluate_scores, largest_score, random_metrics
from rca.ranking.features import BASE_FEATURES, ID_COLUMNS, UNPORTABLE_FEATURES, incident_table
from rca.ranking.heuristic import HeuristicRanker
from rca.ranking.lgbm import N_SEEDS, LgbmRanker, fit_lgbm
from rca.ranking.registry import RankerRegistry
from rca.ranking.train import challenger_wins, train_ranker
from tests.builders import INCIDENT, write_minimal_bundle
from tests.ops_builders import CUR_START
from tests.ops_builders import incident as ops_incident
from tests.rank_builders import synthetic_table


def candidates(bundle):
    """Fixed candidates for tests that patch ``rca.generators.generate_candidates``. A module that imports the name
    while the patch is on keeps the stand-in for the rest of the session (``rca.service`` does, when ``rca evaluate``
    first imports it), so this module imports ``rca.service`` first."""
    onset = bundle.incident.current.start
    return Candidates(
        [Hypothesis("feature:amount", "data_drift", "hist", 4.0, onset=onset, features={"hist.psi": 0.4}),
         Hypothesis("feature:amount", "data_drift", "sample", 2.0, features={"sample.ks": 0.3, "junk": 1.0}),
         Hypothesis("service:api", "dependency_latency", "trace", 6.0, onset=onset,
                    features={"trace.latency_ratio": 3.0})],
        [Anomaly("kpi:approval_rate", "kpi", 5.0, onset=onset)])


def test_feature_table_has_fixed_columns_and_generator_features(bundle_dir):
    b = load_bundle(bundle_dir)
    rows = incident_table(b, candidates(b)).rows
    assert list(rows.columns[:len(ID_COLUMNS) + len(BASE_FEATURES)]) == [*ID_COLUMNS, *BASE_FEATURES]
    assert sorted(rows.columns[len(ID_COLUMNS) + len(BASE_FEATURES):]) == ["hist.psi", "sample.ks",
                                                                           "trace.latency_ratio"]
    amount = rows[rows["node"] == "feature:amount"].iloc[0]
    assert amount["n_generators"] == 2 and amount["score_rank"] == 2 and amount["score_rel_max"] == 4 / 6
    assert np.isnan(rows[rows["node"] == "service:api"]["hist.psi"].iloc[0])
    # the model-deploy event at 07:55 targets the model, which is downstream of amount: not on its path
    assert amount["event_on_path"] == 0


def test_only_events_that_can_produce_the_kind_count_as_fitting():
    backfill = Event(timestamp=CUR_START - timedelta(hours=2), kind="data_backfill", target="source:orders_db")
    later = Event(timestamp=CUR_START + timedelta(hours=1), kind="pipeline_deploy", target="pipeline:p")
    graph = nx.DiGraph([("source:orders_db", "pipeline:p"), ("pipeline:p", "feature:amount"),
                        ("feature:amount", "model:m@v1")])
    b = Bundle(incident=ops_incident(), events=(backfill, later), graph=graph)
    onset = CUR_START + timedelta(minutes=30)
    rows = incident_table(b, Candidates([Hypothesis("feature:amount", kind, "hist", 5.0, onset=onset)
                                         for kind in ("data_drift", "training_serving_skew")])).rows
    by_kind = rows.set_index("kind")
    # both sit downstream of the backfill; only skew is something a backfill produces
    assert by_kind["event_on_path"].tolist() == [1.0, 1.0]
    assert by_kind.loc["data_drift", "event_fit_on_path"] == 0.0
    assert np.isnan(by_kind.loc["data_drift", "event_fit_hours_before_onset"])
    assert by_kind.loc["training_serving_skew", "event_fit_on_path"] == 1.0
    # the deploy came after the onset: the fitting event is the backfill, 2.5 h before it
    assert by_kind.loc["training_serving_skew", "event_fit_hours_before_onset"] == pytest.approx(2.5)


def test_onsets_are_timed_from_the_current_window_s_first_sample_not_its_nominal_start():
    # a trigger's window starts at 08:00 and the 5-minute samples at 08:01:08: a change seen at the first sample
    # starts at 0, one at the second 5 minutes later, as when the samples begin on the boundary
    offset = timedelta(minutes=1, seconds=8)
    times = pd.date_range(CUR_START - timedelta(hours=1), CUR_START + timedelta(hours=1), freq="5min") + offset
    metrics = pd.DataFrame({"timestamp": times, "service": "api", "name": "latency_p95", "value": 1.0})
    first = CUR_START + offset
    b = Bundle(incident=ops_incident(), metrics=metrics)
    rows = incident_table(b, Candidates([Hypothesis("service:api", "dependency_latency", "metrics", 5.0, onset=first),
                                         Hypothesis("service:db", "dependency_latency", "metrics", 4.0,
                                                    onset=first + timedelta(minutes=5))])).rows
    assert rows.set_index("node")["onset_hours_from_window_start"].to_dict() == {
        "service:api": 0.0, "service:db": pytest.approx(5 / 60)}
    # without sampled series the window's own start is the origin
    bare = incident_table(Bundle(incident=ops_incident()),
                          Candidates([Hypothesis("service:api", "dependency_latency", "trace", 5.0, onset=first)])).rows
    assert bare["onset_hours_from_window_start"].iloc[0] == pytest.approx(offset.total_seconds() / 3600)


def test_feature_table_handles_missing_families(tmp_path):
    root = write_minimal_bundle(tmp_path / "b")
    for name in ("predictions.parquet", "histograms.jsonl", "traces.jsonl", "events.jsonl", "graph.json",
                 "metrics.parquet"):
        (root / name).unlink()
    b = load_bundle(root)
    rows = incident_table(b, candidates(b)).rows
    assert rows["family=kpis"].eq(1).all() and rows["family=traces"].eq(0).all()
    assert rows["event_on_path"].eq(0).all() and rows["event_hours_before_onset"].isna().all()
    empty = incident_table(b, Candidates()).rows
    assert empty.empty and list(empty.columns) == [*ID_COLUMNS, *BASE_FEATURES]


def test_heuristic_prefers_the_upstream_anomaly_that_explains_the_symptom(bundle_dir):
    b = load_bundle(bundle_dir)
    onset = b.incident.current.start
    c = Candidates([Hypothesis("service:model-server", "dependency_latency", "trace", 5.0, onset=onset),
                    Hypothesis("service:api", "dependency_latency", "trace", 5.5, onset=onset)],
                   [Anomaly("kpi:approval_rate", "kpi", 5.0, onset=onset)])
    answer = HeuristicRanker().rank(b, c)
    assert answer.causes[0].node == "service:model-server"  # callee of api, upstream of it
    assert sum(x.confidence for x in answer.causes) <= 1 + 1e-9
    assert "service:model-server" in answer.causes[0].explanation


def test_training_is_deterministic():
    rows = synthetic_table(40).rows
    a, b = fit_lgbm(rows), fit_lgbm(rows.sample(frac=1.0, random_state=3))  # row order must not matter
    assert a.model_strings() == b.model_strings() and len(a.boosters) == N_SEEDS
    assert len(set(a.model_strings())) == N_SEEDS          # each seed draws its own feature subsets


def test_trained_ranker_beats_baselines_and_roundtrips(tmp_path):
    table = synthetic_table(80, seed=1, signal=2.0)
    ranker = train_ranker(table)
    test = table.split("test")
    ours = evaluate_scores(test, ranker.score_table(test.rows), calibration=ranker.calibration)
    assert ours["overall"]["AC@1"] > random_metrics(test)["overall"]["AC@1"] + 0.3
    assert ours["overall"]["AC@1"] >= evaluate_scores(test, largest_score(test.rows))["overall"]["AC@1"]
    assert ranker.meta["training_incidents"][0] == "inc-000" and "inc-079" not in ranker.meta["training_incidents"]
    loaded = LgbmRanker.load(ranker.save(tmp_path / "m"))
    assert np.array_equal(loaded.score_table(test.rows), ranker.score_table(test.rows))
    assert loaded.calibration == ranker.calibration and loaded.feature_names[-1] == "hist.psi"
    # size- and resolution-dependent columns stay in the table but are not trained on
    assert "n_hypotheses" in test.rows.columns and not set(UNPORTABLE_FEATURES) & set(ranker.feature_names)
    assert {"ppr_rel", "ppr_rank", "anomalous_descendant_share"} <= set(ranker.feature_names)


def test_registry_promote_rollback_history(tmp_path):
    registry = RankerRegistry(tmp_path / "rankers")
    assert registry.champion() is None and registry.versions() == []
    table = synthetic_table(30)
    v1 = registry.save(train_ranker(table), now=pd.Timestamp("2026-01-01T00:00:00Z").to_pydatetime())
    v2 = registry.save(train_ranker(synthetic_table(30, seed=5)),
                       now=pd.Timestamp("2026-01-08T00:00:00Z").to_pydatetime())
    assert registry.versions() == [v1, v2]
    with pytest.raises(ConflictError, match="nothing to roll back"):
        registry.rollback()
    registry.promote(v1, "first")
    registry.promote(v2, "better", by="ops")
    assert registry.champion_version() == v2 and registry.champion().meta["version"] == v2
    assert registry.rollback("v2 misbehaves", by="ann")["version"] == v1 and registry.champion_version() == v1
    # the first promotion rolled back: no registry champion, the packaged one is used again
    assert registry.rollback("v1 too")["version"] is None
    assert registry.champion_version() is None and registry.champion() is None
    actions = [(e["action"], e["version"], e["previous"], e.get("by")) for e in registry.history()]
    assert actions == [("promote", v1, None, None), ("promote", v2, v1, "ops"), ("rollback", v1, v2, "ann"),
                       ("rollback", None, v1, None)]
    with pytest.raises(ConflictError):
        registry.rollback()
    registry.promote(v2, "roll forward again")
    assert registry.champion_version() == v2 and registry.rollback()["version"] is None  # a stack: v1 was popped
    with pytest.raises(NotFoundError, match=v1):  # names the versions there are
        registry.promote("lgbm-nope", "x")
    # a log cut short (a crash mid-append) is named, never guessed around; the champion pointer is untouched
    with registry.log.open("a") as f:
        f.write('{"action": "promote", "vers\n')
    with pytest.raises(ConfigError, match=r"promotions.jsonl line 7"):
        registry.rollback()
    assert registry.champion_version() is None


def test_registry_refuses_to_promote_or_restore_a_version_that_does_not_load(tmp_path):
    registry = RankerRegistry(tmp_path / "rankers")
    v1, v2, v3 = (registry.save(train_ranker(synthetic_table(30, seed=seed)),
                                now=pd.Timestamp(f"2026-01-0{seed}T00:00:00Z").to_pydatetime()) for seed in (1, 2, 3))
    registry.promote(v1, "first")
    (registry.root / v2 / "model.txt").write_text("garbage")           # damaged on disk
    (registry.root / "junk").mkdir()
    (registry.root / "junk" / "meta.json").write_text("{}")            # no model files
    with pytest.raises(ConfigError, match=v2):
        registry.promote(v2, "by hand")
    with pytest.raises(NotFoundError, match="no ranker artifact"):
        registry.promote("junk", "by hand")
    registry.promote(v3, "better")
    shutil.rmtree(registry.root / v1)                                   # cleaned up by hand
    with pytest.raises(NotFoundError, match=v1):
        registry.rollback("v3 misbehaves")
    # nothing was recorded: the champion is the one that loads, the log has the two promotions
    assert registry.champion_version() == v3 and registry.champion().meta["version"] == v3
    assert [(e["action"], e["version"]) for e in registry.history()] == [("promote", v1), ("promote", v3)]


def test_a_registry_that_cannot_be_written_to_is_named_and_keeps_its_log_and_champion(tmp_path):
    registry = RankerRegistry(tmp_path / "rankers")
    v1, v2 = (registry.save(train_ranker(synthetic_table(30, seed=seed)),
                            now=pd.Timestamp(f"2026-01-0{seed}T00:00:00Z").to_pydatetime()) for seed in (1, 2))
    registry.promote(v1, "first")
    registry.pointer.with_suffix(".tmp").mkdir()  # the pointer cannot be written (as in a read-only directory)
    with pytest.raises(ConfigError, match="a registry directory this process can write to"):
        registry.promote(v2, "better")
    with pytest.raises(ConfigError, match="a registry directory this process can write to"):
        registry.rollback("v1 misbehaves")
    assert registry.champion_version() == v1 and [e["version"] for e in registry.history()] == [v1]


def test_gate_refuses_a_worse_challenger():
    good = {"overall": {"AC@1": 0.8, "MRR": 0.85}}
    worse = {"overall": {"AC@1": 0.7, "MRR": 0.9}}
    tie_better_mrr = {"overall": {"AC@1": 0.8, "MRR": 0.86}}
    assert not challenger_wins(worse, good)
    assert challenger_wins(good, worse) and challenger_wins(tie_better_mrr, good) and challenger_wins(good, None)
    assert not challenger_wins({"overall": {"AC@1": 0.8, "MRR": 0.8}}, good)


def test_the_gate_also_compares_on_the_champions_own_validation_incidents():
    from types import SimpleNamespace

    from rca.ranking.train import MIN_KNOWN_VALIDATION, known_validation, refusal

    validation = synthetic_table(200).split("validation")                     # 40 incidents
    ids = list(validation.incidents["incident_id"])
    champion = SimpleNamespace(meta={"validation_incidents": ids[:35] + ["inc-older-1", "inc-older-2"]})
    known = known_validation(validation, champion)
    assert list(known.incidents["incident_id"]) == ids[:35] and set(known.rows["incident_id"]) == set(ids[:35])
    assert known_validation(validation, SimpleNamespace(meta={"validation_incidents": ids})) is None   # all of it
    few = SimpleNamespace(meta={"validation_incidents": ids[:MIN_KNOWN_VALIDATION - 1]})
    assert known_validation(validation, few) is None and known_validation(validation, SimpleNamespace(meta={})) is None
    assert known_validation(validation, None) is None                           # no champion yet

    good, worse = {"overall": {"AC@1": 0.88, "MRR": 0.9}}, {"overall": {"AC@1": 0.86, "MRR": 0.9}}
    assert refusal(good, worse) is None and refusal(worse, good) == "worse than the champion on validation"
    # better on the whole split (a new corpus only it trained for), worse where the champion was chosen: refused
    assert refusal(good, worse, {"n": 35, "challenger": worse, "champion": good}) == \
        "worse than the champion on the 35 validation incidents it was validated on"
    assert refusal(good, worse, {"n": 35, "challenger": good, "champion": worse}) is None


def _mini_corpus(corpus, splits: dict[str, str]):
    """A corpus of minimal bundles, one per ``{id: split}``, a day apart in that order."""
    for i, incident in enumerate(splits):
        write_minimal_bundle(corpus / incident, seed=i)
    pd.DataFrame({"id": list(splits), "split": list(splits.values()),
                  "detected_at": [f"2026-11-{20 + i}T14:05:00Z" for i in range(len(splits))],
                  "kinds": "data_drift", "nodes": "feature:amount", "n_causes": 1, "source": "test",
                  "path": list(splits)}).to_csv(corpus / "manifest.csv", index=False)
    return corpus


def test_build_training_table_from_a_corpus(tmp_path, monkeypatch):
    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "validation", "inc-2": "test"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    assert [e.split for e in corpus_incidents(corpus)] == ["train", "validation", "test"]
    cache = tmp_path / "cache"
    table = build_training_table(corpus, ("train", "validation"), processes=1, progress=False, cache_dir=cache)
    assert sorted(table.incidents["incident_id"]) == ["inc-0", "inc-1"]
    assert table.rows.loc[table.rows["node"] == "feature:amount", "is_cause"].eq(1).all()
    assert table.rows.loc[table.rows["node"] == "service:api", "is_cause"].eq(0).all()
    assert json.loads(table.incidents["causes"][0]) == [["feature:amount", "data_drift"]]
    assert table.incidents["baseline"].tolist() == ["just before"] * 2   # a 24 h baseline ending 8 h before
    cached = build_training_table(corpus, ("train", "validation"), processes=1, progress=False, cache_dir=cache)
    pd.testing.assert_frame_equal(cached.rows, table.rows)
    assert len(list(cache.glob("rows-*.parquet"))) == 1 and not list(cache.glob(".*"))   # no temporary file left


def test_a_corpus_bundle_that_does_not_load_names_its_incident_and_corpus(tmp_path, monkeypatch):
    """A truncated archive said only "inc-1.tar.gz: truncated or corrupt archive", a label with a misspelt kind only
    "label.json, field 'causes.0.kind'": not which of the corpora training reads, nor (for the label) which incident."""
    from rca.simulate.write import archive

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "train", "inc-2": "validation"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    bundle = archive(corpus / "inc-1", corpus / "inc-1.tar.gz", root_name="inc-1").read_bytes()
    (corpus / "inc-1.tar.gz").write_bytes(bundle[: len(bundle) // 2])
    manifest = corpus / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(",inc-1\n", ",inc-1.tar.gz\n"))
    with pytest.raises(BundleError, match=f"^incident inc-1 of corpus {re.escape(str(corpus))}: inc-1.tar.gz: truncated or corrupt "
                                          "archive .*; expected a complete .tar.gz or .zip$"):
        build_training_table(corpus, None, processes=1, progress=False, cache_dir=tmp_path / "cache")
    label = corpus / "inc-2" / "label.json"
    label.write_text(label.read_text().replace("data_drift", "data_drfit"))
    with pytest.raises(BundleError, match=f"^incident inc-2 of corpus {re.escape(str(corpus))}: label.json, field 'causes.0.kind': "
                                          "Input should be 'data_drift', "):
        build_training_table(corpus, ("validation",), processes=1, progress=False, cache_dir=tmp_path / "cache")


def test_a_damaged_feature_cache_is_built_again(tmp_path, monkeypatch, caplog):
    """A kill while the cache was written left a file every later train, retrain or evaluate failed on
    ('Parquet magic bytes not found in footer'), until someone deleted it by hand."""
    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "validation"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    cache = tmp_path / "cache"
    table = build_training_table(corpus, None, processes=1, progress=False, cache_dir=cache)
    (rows_file,) = cache.glob("rows-*.parquet")
    rows_file.write_bytes(rows_file.read_bytes()[:100])
    again = build_training_table(corpus, None, processes=1, progress=False, cache_dir=cache)
    pd.testing.assert_frame_equal(again.rows, table.rows)
    assert "unreadable" in caplog.text and len(pd.read_parquet(rows_file)) == len(table.rows)


def test_feature_caches_unused_for_a_month_go_when_another_is_written(tmp_path, monkeypatch):
    """Every change of the feature code left its tables behind for good (tens of MB per corpus and change)."""
    from rca.ranking.dataset import CACHE_UNUSED_DAYS

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "validation"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    cache = tmp_path / "cache"
    build_training_table(corpus, ("validation",), processes=1, progress=False, cache_dir=cache)
    (read_again,) = cache.glob("rows-*.parquet")
    stale = [cache / "rows-old.parquet", cache / "incidents-old.parquet"]
    month_ago = time.time() - (CACHE_UNUSED_DAYS + 1) * 86400
    for path in [*stale, *cache.glob("*.parquet")]:
        path.touch()
        os.utime(path, (month_ago, month_ago))
    build_training_table(corpus, ("validation",), processes=1, progress=False, cache_dir=cache)  # a read: used now
    assert read_again.stat().st_mtime > month_ago and all(p.is_file() for p in stale)   # nothing written, none go
    build_training_table(corpus, ("train",), processes=1, progress=False, cache_dir=cache)      # another written
    assert not any(p.exists() for p in stale) and read_again.is_file()
    assert len(list(cache.glob("rows-*.parquet"))) == 2


def test_training_incidents_get_a_reduced_copy_and_validation_ones_do_not(tmp_path, monkeypatch):
    from rca.ranking.families import dropout

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "review", "inc-2": "validation"})
    seen = {}

    def spy(bundle, **_):
        seen.setdefault(bundle.incident_id, []).append(set(bundle.families()))
        return candidates(bundle)

    monkeypatch.setattr("rca.generators.generate_candidates", spy)
    table = build_training_table(corpus, ("train", "review", "validation"), processes=1, progress=False,
                                 cache_dir=tmp_path / "cache", reduced_splits=("train", "review"))
    full = set(load_bundle(corpus / "inc-0").families())
    drops = {i: dropout(i, full) for i in ("inc-0", "inc-1")}
    assert all(drops.values())   # premise: the minimal bundle has families to spare
    reduced = {f"{i}~without={'+'.join(d)}" for i, d in drops.items()}
    assert set(table.incidents["incident_id"]) == {"inc-0", "inc-1", "inc-2"} | reduced
    assert table.incidents.set_index("incident_id").loc[sorted(reduced), "split"].tolist() == ["train", "review"]
    assert count_copies(table.incidents["incident_id"]) == (3, 2)
    # the reduced copy's candidates came from the bundle without those families, and its rows say so
    assert set(drops["inc-0"]) in [full - s for s in seen[INCIDENT["id"]]]
    rows = table.rows[table.rows["incident_id"] == sorted(reduced)[0]]
    assert not rows.empty and rows["is_cause"].sum() >= 1
    for family in drops["inc-0"]:
        assert rows[f"family={family}"].eq(0).all()
        assert table.rows.loc[table.rows["incident_id"] == "inc-0", f"family={family}"].eq(1).all()


def test_evaluating_a_recipe_corpus_generates_its_bundles_first(tmp_path, monkeypatch):
    """`rca evaluate --corpus labeled_incidents/mesh-17` reads a corpus whose bundles are not in the repository."""
    import shutil

    from rca.config import get_settings
    from rca.corpus import read_manifest, write_recipe
    from rca.ranking.report import run_evaluation

    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        entries = write_recipe(tmp_path / "m", n=0, seed=3, mesh=3, cache_root=tmp_path / "data" / "corpora")
        shutil.rmtree(tmp_path / "data" / "corpora")            # as in a fresh clone: only the recipe is there
        split = entries[0].split
        out = run_evaluation(tmp_path / "m", split, None, HeuristicRanker(), processes=1, lacking_families=False)
        assert out["corpus"]["candidates"]["n"] == sum(e.split == split for e in read_manifest(tmp_path / "m"))
    finally:
        get_settings.cache_clear()


def test_a_table_of_copies_without_resource_metrics(tmp_path, monkeypatch):
    """``without`` takes `RESOURCE_METRICS` as it takes a family: the copy's generators see no CPU series."""
    from rca.ranking.families import RESOURCE_METRICS

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "validation", "inc-1": "validation"})
    seen = []

    def spy(bundle, **_):
        seen.append(None if bundle.metrics is None else sorted(bundle.metrics["name"].unique()))
        return candidates(bundle)

    monkeypatch.setattr("rca.generators.generate_candidates", spy)
    table = build_training_table(corpus, ("validation",), processes=1, progress=False, cache_dir=tmp_path / "cache",
                                 without=((RESOURCE_METRICS,),))
    assert sorted(table.incidents["incident_id"]) == ["inc-0", "inc-0~without=resource_metrics", "inc-1",
                                                      "inc-1~without=resource_metrics"]
    assert sorted(seen, key=str) == [None, None, ["cpu_usage"], ["cpu_usage"]]   # the minimal bundle's only series


def test_evaluation_ranks_the_split_as_it_came_and_without_each_family_combination(tmp_path, monkeypatch):
    from rca.config import get_settings
    from rca.ranking.families import DROPOUTS, LACKING, RESOURCE_METRICS, droppable
    from rca.ranking.report import run_evaluation

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "test", "inc-2": "test"})
    seen = []

    def spy(bundle, **_):
        seen.append(frozenset(bundle.families()))
        return candidates(bundle)

    monkeypatch.setattr("rca.generators.generate_candidates", spy)
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        out = run_evaluation(corpus, "test", None, HeuristicRanker(), processes=1)
        assert out["corpus"]["candidates"]["n"] == 2      # the split as it came: the copies are apart
        bundle = load_bundle(corpus / "inc-1")
        full, droppable_here = set(bundle.families()), set(droppable(bundle))
        assert all(set(d) & droppable_here for d in LACKING)   # premise: every combination removes something here
        assert LACKING[-1] == (RESOURCE_METRICS,) and ("metrics",) in DROPOUTS                       # premise
        assert [(r["without"], r["n"]) for r in out["lacking"]] == [("+".join(d), 2) for d in LACKING]
        # the minimal bundle's only metric series is its CPU: without resource metrics it has no metrics at all,
        # as the ("metrics",) copy
        assert {frozenset(full - s) for s in seen} == {frozenset()} | {frozenset(set(d) & full) for d in DROPOUTS}
        assert "lacking" not in run_evaluation(corpus, "test", None, HeuristicRanker(), processes=1,
                                               lacking_families=False)
    finally:
        get_settings.cache_clear()


@pytest.fixture
def training_corpus(tmp_path, monkeypatch):
    """Four train and two validation incidents with fixed candidates, no packaged champion, a fresh data dir, and
    a gate that replaces a champion on two validation incidents (`MIN_VALIDATION` lowered to 2)."""
    from rca.config import get_settings

    monkeypatch.setattr("rca.ranking.train.MIN_VALIDATION", 2)

    corpus = _mini_corpus(tmp_path / "corpus", {f"inc-{i}": s for i, s in enumerate(["train"] * 4 + ["validation"] * 2)})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    monkeypatch.setattr("rca.ranking.registry.PACKAGED_CHAMPION", tmp_path / "no-packaged")
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield corpus
    get_settings.cache_clear()


def test_a_retrain_on_the_same_data_trains_a_twin_and_does_not_promote_it(training_corpus, tmp_path):
    from rca.ranking.train import retrain

    first = retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    assert first["promoted"] and not first["twin"] and first["champion"] is None
    again = retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    assert again["twin"] and not again["promoted"] and again["champion"] == first["challenger"]
    assert again["challenger"] == first["challenger"]          # not stored again: the registry holds one version
    assert RankerRegistry(tmp_path / "rankers").versions() == [first["challenger"]]
    assert RankerRegistry(tmp_path / "rankers").champion_version() == first["challenger"]
    assert again["training"] == {"incidents": 4, "reduced_copies": 4, "validation_incidents": 2}


def test_the_gate_does_not_replace_a_champion_on_too_few_validation_incidents():
    """`rca train --corpus` on a small corpus replaced the champion in use on 3 validation incidents."""
    from rca.ranking.train import MIN_VALIDATION, refusal

    good = {"overall": {"n": MIN_VALIDATION - 1, "AC@1": 1.0, "MRR": 1.0}}
    worse = {"overall": {"n": MIN_VALIDATION - 1, "AC@1": 0.5, "MRR": 0.6}}
    assert refusal(good, worse) == (f"only {MIN_VALIDATION - 1} validation incidents, fewer than the {MIN_VALIDATION} "
                                    "the gate needs to replace a champion (promote it by hand to use it anyway)")
    assert refusal(good, None) is None                                   # nothing to replace
    enough = {"overall": {**good["overall"], "n": MIN_VALIDATION}}
    assert refusal(enough, worse) is None


def test_a_challenger_worse_than_the_packaged_ranker_is_said_to_be(training_corpus, monkeypatch):
    """After a weak ranker was promoted by hand (past the gate), the weekly retrain promoted whatever beat it, worse
    than the packaged ranker on the same split, without a word."""
    from types import SimpleNamespace

    from rca.ranking.train import _packaged_better, training_table

    class Perfect:
        name = "lgbm-packaged-abc1234"

        def score_table(self, rows):
            return rows["is_cause"].to_numpy(dtype=float)

    monkeypatch.setattr("rca.ranking.train.packaged_champion", lambda: Perfect())
    validation = training_table([training_corpus], processes=1, progress=False).split("validation")
    weak = {"overall": {"n": 2, "AC@1": 0.0, "MRR": 0.2}}
    said = _packaged_better(SimpleNamespace(name="lgbm-hand-promoted"), validation, weak)
    assert said == ("the packaged ranker lgbm-packaged-abc1234 is better on this validation split than the challenger "
                    "(AC@1 1.000 vs 0.000): the champion in use may have been promoted by hand past the gate; `rca "
                    "rankers rollback` back to the packaged ranker (or promote it) to use it")
    assert _packaged_better(Perfect(), validation, weak) is None          # the packaged ranker is the champion
    assert _packaged_better(SimpleNamespace(name="v2"), validation, {"overall": {"n": 2, "AC@1": 1.0, "MRR": 1.0}}) \
        is None


def test_a_retrain_does_not_promote_again_a_model_that_was_rolled_back(training_corpus, tmp_path):
    from rca.ranking.train import retrain

    first = retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    registry = RankerRegistry(tmp_path / "rankers")
    registry.rollback("ranks the cascade's tail first")
    assert registry.prune(0)["removed"] == []           # kept for this gate, rolled back as it is
    again = retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    assert first["promoted"] and not again["promoted"] and not again["twin"]
    assert again["refused"] == f"the same model as {first['challenger']}, which was rolled back (ranks the cascade's " \
                               "tail first)"
    assert again["challenger"] == first["challenger"] and registry.versions() == [first["challenger"]]  # not again
    assert registry.champion_version() is None and [e["action"] for e in registry.history()] == ["promote", "rollback"]


def test_a_challenger_gated_against_a_champion_replaced_meanwhile_is_not_promoted(training_corpus, tmp_path,
                                                                                   monkeypatch):
    import rca.ranking.train as train

    first = train.retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    registry = RankerRegistry(tmp_path / "rankers")
    trained = train.train_ranker

    def train_while_someone_rolls_back(table):
        ranker = trained(table)
        registry.rollback("by hand, during the retrain")
        ranker.boosters = ranker.boosters[:1]     # not a twin of anything stored
        return ranker

    monkeypatch.setattr(train, "train_ranker", train_while_someone_rolls_back)
    again = train.retrain([training_corpus], tmp_path / "rankers", processes=1, progress=False)
    assert not again["promoted"] and again["refused"].startswith(
        f"the champion changed from {first['challenger']} to the packaged one while ")
    assert registry.champion_version() is None and [e["action"] for e in registry.history()] == ["promote", "rollback"]
    with pytest.raises(ConflictError, match="the champion changed"):
        registry.promote(again["challenger"], "stale", replacing=first["challenger"])
    assert registry.promote(again["challenger"], "by hand")["previous"] is None   # unchecked by hand


def test_a_retrain_without_validation_incidents_is_a_clear_error_and_stores_nothing(tmp_path, monkeypatch):
    from rca.ranking.train import retrain

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "train"})  # one reviewed incident, say
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    monkeypatch.setattr("rca.ranking.registry.PACKAGED_CHAMPION", tmp_path / "no-packaged")
    with pytest.raises(ConfigError, match="no hypothesis rows in the validation split.*expected a labeled validation "
                                          f"split in one of the corpora read: {re.escape(str(corpus.resolve()))}$"):
        retrain([corpus], tmp_path / "rankers", processes=1, progress=False)
    registry = RankerRegistry(tmp_path / "rankers")
    assert registry.versions() == [] and registry.history() == [] and registry.champion_version() is None


def test_rca_train_out_without_validation_incidents_says_its_confidences_are_not_calibrated(tmp_path, capsys,
                                                                                          monkeypatch):
    from rca.cli import main

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "train"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--corpus", str(corpus), "--processes", "1", "--out", str(tmp_path / "plain"),
              "--no-family-dropout"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and (tmp_path / "plain").is_dir()
    assert "(2 training incidents, 0 reduced copies); no validation incidents, so its confidences are not " \
           "calibrated" in out and "validation: {}" not in out


def test_rca_train_packages_or_gates_and_says_what_it_did(training_corpus, tmp_path, capsys, monkeypatch):
    from rca.cli import main
    from rca.config import get_settings
    from rca.service import _one_retrain

    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))   # where the one-retrain lock lives
    get_settings.cache_clear()
    with _one_retrain(get_settings(), "a retrain", busy="-"):    # running: no gated training beside it
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--corpus", str(training_corpus), "--processes", "1",
                  "--registry", str(tmp_path / "rankers")])
        assert exit_info.value.code == 2 and not (tmp_path / "rankers").exists()
        err = capsys.readouterr().err
        assert f"a retrain (process {os.getpid()}) since " in err and "; train again when it is done" in err
    said = []
    for args in (["--out", str(tmp_path / "packaged")], ["--registry", str(tmp_path / "rankers")],
                 ["--registry", str(tmp_path / "rankers")], ["--out", str(tmp_path / "plain"), "--no-family-dropout"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--corpus", str(training_corpus), "--processes", "1", *args])
        assert exit_info.value.code == 0
        said.append(capsys.readouterr().out)
    assert f"wrote {tmp_path / 'packaged'} (4 training incidents, 4 reduced copies)" in said[0]
    assert said[1].rstrip().endswith("; promoted")
    assert said[2].rstrip().endswith("NOT promoted (the same model as the champion; not stored again)")
    assert " against the champion's AC@1 " in said[2] and " on the same 2 incidents; " in said[2]   # it said neither
    assert " against " not in said[1]                                   # no champion to compare with
    assert "(4 training incidents, 0 reduced copies)" in said[3]
    get_settings.cache_clear()


def test_rca_evaluate_scores_a_ranker_directory_instead_of_the_one_in_use(tmp_path, monkeypatch, capsys):
    from rca.cli import main
    from rca.config import get_settings

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "test", "inc-2": "test"})
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    ranker = train_ranker(synthetic_table(30))
    ranker.meta["version"] = "lgbm-a-challenger"
    ranker.save(tmp_path / "challenger")
    get_settings.cache_clear()
    try:
        for args, code in (([], 0), (["--ranker", str(tmp_path / "challenger")], 0),
                           (["--ranker", str(tmp_path / "nothing-here")], 2)):
            with pytest.raises(SystemExit) as exit_info:
                main(["evaluate", "--corpus", str(corpus), "--no-lacking", "--processes", "1", *args])
            assert exit_info.value.code == code
            out = capsys.readouterr()
            if code == 2:
                assert "nothing-here: no ranker artifact" in out.err and "Traceback" not in out.err
            else:
                assert ("| lgbm-a-challenger |" in out.out) == bool(args)
    finally:
        get_settings.cache_clear()


def test_rca_evaluate_names_a_split_without_incidents_and_an_empty_realdata_folder(tmp_path, monkeypatch, capsys):
    from rca.cli import main
    from rca.config import get_settings

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "test"})
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        for args, said in ((["--corpus", str(corpus), "--split", "validaton"],
                            f"--split: got 'validaton', expected a split with incidents in {corpus}: test, train"),
                           (["--corpus", str(tmp_path / "nothing"), "--realdata", str(tmp_path / "empty")],
                            "--realdata: got")):
            with pytest.raises(SystemExit) as exit_info:
                main(["evaluate", "--no-lacking", "--processes", "1", *args])
            err = capsys.readouterr().err
            assert exit_info.value.code == 2 and said in err and "Traceback" not in err
    finally:
        get_settings.cache_clear()


def test_table_cache_follows_the_code_that_computes_features_only():
    package = Path(rca.__file__).parent
    sources = {p.relative_to(package).as_posix() for p in feature_sources()}
    # what the rows are computed from, directly and through imports (rca.generators imports every generator)
    assert {"ranking/dataset.py", "ranking/features.py", "generators/metrics.py", "graph/symptom.py",
            "contract/load.py", "stats/robust.py", "__init__.py"} <= sources
    # the model, the report and the service do not change the rows
    assert not sources & {"ranking/lgbm.py", "ranking/report.py", "ranking/train.py", "cli.py", "api/app.py"}


def test_training_table_reads_nested_corpora_once_and_never_their_tests(tmp_path, monkeypatch):
    from rca.config import get_settings
    from rca.ranking.train import training_table

    corpus = _mini_corpus(tmp_path / "corpus", {"inc-0": "train", "inc-1": "validation", "inc-2": "test"})
    _mini_corpus(corpus / "more", {"more-0": "train", "more-1": "test"})
    (corpus / "not-a-corpus").mkdir()
    monkeypatch.setattr("rca.generators.generate_candidates", lambda bundle, **_: candidates(bundle))
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        for dirs in ([corpus], [corpus, corpus / "more"]):
            table = training_table(dirs, processes=1, progress=False, family_dropout=False)
            assert sorted(table.incidents["incident_id"]) == ["inc-0", "inc-1", "more-0"]
            assert table.rows.groupby("incident_id")["node"].count().nunique() == 1   # no incident read twice
        # a recipe corpus (two mesh incidents: one train, one validation) is regenerated where it is missing
        write_recipe(corpus / "sim", n=0, seed=3, mesh=2)
        shutil.rmtree(tmp_path / "data" / "corpora")
        table = training_table([corpus], processes=1, progress=False, family_dropout=False)
        assert sorted(table.incidents["incident_id"]) == ["inc-0", "inc-1", "mesh-3-0000", "mesh-3-0001", "more-0"]
        assert (tmp_path / "data" / "corpora" / "sim" / "manifest.csv").is_file()
    finally:
        get_settings.cache_clear()


def test_get_ranker_falls_back_and_follows_the_champion(tmp_path, monkeypatch):
    from rca.config import get_settings
    from rca.ranking.heuristic import HeuristicRanker
    from rca.service import get_ranker

    monkeypatch.setenv("RCA_RANKERS_DIR", str(tmp_path / "rankers"))
    monkeypatch.setattr("rca.ranking.registry.PACKAGED_CHAMPION", tmp_path / "no-packaged")
    get_settings.cache_clear()
    try:
        assert isinstance(get_ranker(), HeuristicRanker)
        registry = RankerRegistry(tmp_path / "rankers")
        version = registry.save(train_ranker(synthetic_table(30)))
        registry.promote(version, "first")
        assert get_ranker().name == version
        mix = get_ranker().meta["family_mix"]          # recorded at training (rca.ranking.families)
        assert sum(mix.values()) == len(get_ranker().meta["training_incidents"])
    finally:
        get_settings.cache_clear()
