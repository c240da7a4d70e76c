"""The benchmarks keep running: tiny sizes, checked for shape and for what they measure, never for speed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import drift, run_all
from bench.common import loglog_slope


def test_loglog_slope_recovers_known_exponents():
    sizes = np.array([10, 100, 1000, 10000])
    assert loglog_slope(sizes, 3e-4 * sizes) == pytest.approx(1.0)
    assert loglog_slope(sizes, 2e-6 * sizes**2) == pytest.approx(2.0)
    assert loglog_slope(sizes, np.sqrt(sizes)) == pytest.approx(0.5)


def test_drift_agreement_counts_sets():
    a = drift.agreement({"f1", "f2", "f3"}, {"f2", "f3", "f4", "f5"})
    assert a == {"jaccard": pytest.approx(2 / 5), "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 4)}


def test_drift_samples_drift_where_the_truth_says():
    reference, current, truth = drift.make_samples(20, 4000)
    assert list(reference.columns) == list(current.columns) and len(truth) == 4
    for name in reference.columns:
        if not pd.api.types.is_numeric_dtype(reference[name]):
            continue
        moved = abs(current[name].mean() - reference[name].mean()) / reference[name].std()
        ratio = current[name].std() / reference[name].std()
        assert (moved > 0.1 or abs(ratio - 1) > 0.2) == (name in truth), name


def test_run_all_quick_drift_writes_the_document(tmp_path):
    results = run_all.main(["--quick", "--only", "drift", "--out", str(tmp_path / "b.md")])
    text = (tmp_path / "b.md").read_text()
    assert "## The drift stage against Evidently" in text
    ours = results["drift"]["ours"]
    assert ours["recall"] > 0 and ours["precision"] > 0  # the quick data has large drifts our stage must find
    assert (tmp_path / "figures" / "bench-results.json").is_file()
    machine = results["machine"]
    assert machine["reference_s_at_start"] > 0 and machine["reference_s_at_end"] > 0
    assert f"took {machine['reference_s_at_start']:.3f} s at the start" in text


def test_run_all_rejects_an_unknown_benchmark(tmp_path):
    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--only", "nope", "--out", str(tmp_path / "b.md")])


def spy_on_fits(module, monkeypatch) -> list[set[str]]:
    """Record the incidents of every table ``module.fit_lgbm`` trains on (it still trains), in call order."""
    seen = []
    real_fit = module.fit_lgbm

    def spy(rows, **kw):
        seen.append(set(rows["incident_id"]))
        return real_fit(rows, **kw)

    monkeypatch.setattr(module, "fit_lgbm", spy)
    return seen


def test_out_of_fold_scores_each_original_incident_with_boosters_that_never_saw_it(monkeypatch):
    from bench import out_of_fold
    from rca.ranking.dataset import COPY_MARK, HypothesisTable
    from rca.ranking.evaluate import evaluate_scores
    from tests.rank_builders import synthetic_table

    table = synthetic_table(40, signal=3.0).split("train", "validation", "test")
    copy_id = f"inc-000{COPY_MARK}kpis"
    copy_rows = table.rows[table.rows.incident_id == "inc-000"].assign(incident_id=copy_id)
    copy_record = table.incidents[table.incidents.incident_id == "inc-000"].assign(incident_id=copy_id)
    table = HypothesisTable(pd.concat([table.rows, copy_rows], ignore_index=True),
                            pd.concat([table.incidents, copy_record], ignore_index=True))
    folds = out_of_fold.folds_of(out_of_fold.original_id(table.rows["incident_id"]), 4)
    assert sorted(folds) == sorted(table.incidents.incident_id[table.incidents.incident_id != copy_id])
    seen = spy_on_fits(out_of_fold, monkeypatch)
    scored, scores = out_of_fold.out_of_fold(table, folds=4, boosters=1, progress=False)
    assert copy_id not in set(scored.rows.incident_id) | set(scored.incidents.incident_id)
    assert len(scores) == len(scored.rows) == 40 * 8 and np.isfinite(scores).all()
    # the copy trains with its original's fold: never in the training data that scores inc-000
    held_out = [s for s in seen if "inc-000" not in s]
    assert len(held_out) == 1 and copy_id not in held_out[0]
    assert evaluate_scores(scored, scores)["overall"]["AC@1"] > 0.6     # random would be 1/8


def test_out_of_fold_keeps_a_corpus_apart_trained_on_or_dropped_never_scored(monkeypatch):
    from bench import out_of_fold
    from rca.ranking.dataset import HypothesisTable
    from tests.rank_builders import synthetic_table

    table = synthetic_table(40, signal=3.0).split("train", "validation", "test")
    apart = {f"inc-{i:03d}" for i in range(30, 40)}
    rename = {i: f"extra-{i}" for i in apart}
    table = HypothesisTable(table.rows.replace({"incident_id": rename}),
                            table.incidents.replace({"incident_id": rename}))
    seen = spy_on_fits(out_of_fold, monkeypatch)
    scored, scores = out_of_fold.out_of_fold(table, folds=4, boosters=1, progress=False, apart="extra")
    assert not any(i.startswith("extra-") for i in set(scored.rows.incident_id) | set(scored.incidents.incident_id))
    assert len(scores) == len(scored.rows) == 30 * 8 and np.isfinite(scores).all()
    assert all(set(rename.values()) <= set(s) for s in seen)          # in every fold's training data
    seen.clear()
    dropped, _ = out_of_fold.out_of_fold(table, folds=4, boosters=1, progress=False, apart="extra", drop=True)
    assert seen and all(not any(i.startswith("extra-") for i in s) for s in seen)
    assert list(dropped.incidents.incident_id) == list(scored.incidents.incident_id)


def test_transfer_regime_reads_the_baseline_mode_and_the_naming_style():
    from bench.transfer import regime
    from rca.simulate.mesh import _STYLES

    assert regime({"causes": []}, {"symptom": {"node": "kpi:approval_rate"}}) == {"baseline": "serving"}
    for i, style in enumerate(_STYLES):
        kpi = f"kpi:{style['ok'][0]}"
        assert regime({"baseline": "other_run"}, {"symptom": {"node": kpi}}) == {"baseline": "other_run",
                                                                                   "style": f"style {i}"}


def test_transfer_holds_each_regime_out_of_the_unseen_boosters_training(monkeypatch):
    from bench import transfer
    from rca.ranking.dataset import COPY_MARK, HypothesisTable
    from tests.rank_builders import synthetic_table

    table = synthetic_table(60, signal=3.0).split("train", "validation")
    copy_id = f"inc-001{COPY_MARK}kpis"                 # a reduced copy goes with its original's regime
    table = HypothesisTable(
        pd.concat([table.rows, table.rows[table.rows.incident_id == "inc-001"].assign(incident_id=copy_id)],
                  ignore_index=True),
        pd.concat([table.incidents, table.incidents[table.incidents.incident_id == "inc-001"]
                   .assign(incident_id=copy_id)], ignore_index=True))
    ids = sorted(set(table.incidents.incident_id) - {copy_id})
    regimes = {i: ({"corpus": "top", "baseline": "other_run", "style": "style 0"} if k % 2 else
                   {"corpus": "sim-13", "baseline": "serving"}) for k, i in enumerate(ids)}
    seen = spy_on_fits(transfer, monkeypatch)
    rows = transfer.leave_one_out(table, regimes, boosters=1, progress=False)
    by_name = {r["regime"]: r for r in rows}
    assert sorted(by_name) == ["meshes, baseline other_run", "meshes, style 0", "model serving, sim-13"]
    meshes = {i for i, r in regimes.items() if r["baseline"] == "other_run"}
    assert by_name["meshes, baseline other_run"]["n"] == len(meshes & set(ids[36:]))     # validation only
    # the first fit saw every train incident; the one holding out the meshes saw none of them, nor a copy of one
    assert "inc-001" in seen[0] and copy_id in seen[0]
    unseen = seen[1]
    assert not unseen & meshes and copy_id not in unseen and unseen
    assert by_name["model serving, sim-13"]["unseen"]["AC@1"] > 0.6       # random would be 1/8


def test_family_dropout_removes_resource_series_and_names_a_bad_drop(tmp_path):
    from dataclasses import replace

    from bench.family_dropout import without
    from rca.contract import load_bundle
    from tests.builders import write_minimal_bundle

    times = pd.date_range("2026-01-01", periods=3, freq="5min", tz="UTC")
    frame = pd.DataFrame([{"timestamp": t, "service": "api", "name": n, "value": 1.0}
                          for t in times for n in ("cpu_seconds", "latency_avg")])
    bundle = replace(load_bundle(write_minimal_bundle(tmp_path / "b")), metrics=frame)
    assert without(bundle, "none") is not None and len(without(bundle, "none").metrics) == 6
    assert set(without(bundle, "resource_metrics").metrics["name"]) == {"latency_avg"}
    assert without(bundle, "resource_metrics+kpis").kpis is None
    with pytest.raises(SystemExit, match="--drop spans: unknown families .*, graph, resource_metrics$"):
        without(bundle, "spans")


def test_transfer_mesh_settings_share_their_worlds_and_differ_in_baseline_length(tmp_path):
    import json

    from bench.transfer import MESH_BASELINES, setting_incidents

    folders = {name: setting_incidents(tmp_path, name, 3, progress=False) for name in MESH_BASELINES}
    lengths = {}
    for name, folder in folders.items():
        bundles = sorted(folder.iterdir())
        assert len(bundles) == 3
        labels = [json.loads((b / "label.json").read_text()) for b in bundles]
        assert [lab["causes"][0]["kind"] for lab in labels] == ["dependency_latency", "dependency_errors",
                                                                "resource_saturation"]
        incident = json.loads((bundles[0] / "incident.json").read_text())
        window = pd.Timestamp(incident["baseline"]["end"]) - pd.Timestamp(incident["baseline"]["start"])
        step = pd.Timestamp(incident["current"]["end"]) - pd.Timestamp(incident["current"]["start"])
        lengths[name] = (window, [lab["causes"][0]["node"] for lab in labels], step)
    (one_window, one_nodes, one_step), (three_window, three_nodes, three_step) = (
        lengths["mesh, 1-step baseline"], lengths["mesh, 3-step baseline"])
    assert one_nodes == three_nodes and one_step == three_step and three_window == 3 * one_window


def test_other_sources_accuracy_counts_ranks_within_k():
    from bench.other_sources import accuracy

    rows = [{"rank": 1, "node_rank": 1}, {"rank": 3, "node_rank": 1}, {"rank": None, "node_rank": 2},
            {"rank": None, "node_rank": None}]
    assert accuracy(rows) == {"n": 4, "AC@1": 0.25, "AC@3": 0.5, "node AC@1": 0.5, "node AC@3": 0.75}


def test_other_sources_bundles_are_written_the_same_every_time(tmp_path):
    from bench.qa_bundles import ALL

    for name in ("C01_rcaeval_cpu_route", "b21_jaeger_error_tag_only_fail_reservation"):
        qa = next(b for b in ALL if b.name == name)
        first, second = qa.write(tmp_path / "1" / name, 0.3), qa.write(tmp_path / "2" / name, 0.3)
        files = sorted(p.name for p in first.iterdir())
        assert files == sorted(p.name for p in second.iterdir()) and "label.json" in files
        assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files), name


def test_run_all_quick_other_sources_finds_the_true_cause_in_each_family(tmp_path, capsys):
    from bench import other_sources

    results = run_all.main(["--quick", "--only", "other_sources", "--out", str(tmp_path / "b.md")])
    result = results["other_sources"]
    rows = result["rows"]
    assert [r["bundle"] for r in rows] == list(other_sources.QUICK)
    assert {r["family"] for r in rows} == set(other_sources.FAMILIES) and all(r["bytes"] > 0 for r in rows)
    for family in other_sources.FAMILIES:    # the quick bundles are ones the engine gets right: a regression fails
        assert any(r["rank"] == 1 for r in rows if r["family"] == family), family
    assert result["totals"]["all"]["n"] == len(rows) and 0 < result["totals"]["all"]["AC@1"] <= 1
    printed = capsys.readouterr().out
    assert all(r["bundle"] in printed for r in rows) and "node AC@3" in printed
    text = (tmp_path / "b.md").read_text()
    assert "## Bundles written the way other tools write them (QA)" in text
    assert all(f"\n| {r['bundle']} | {r['style']} |" in text for r in rows)


def test_out_of_fold_misses_name_the_rank_and_what_ranks_above():
    from bench.out_of_fold import misses
    from rca.ranking.dataset import HypothesisTable

    rows = pd.DataFrame({"incident_id": ["a"] * 3 + ["b"] * 2 + ["c"] * 2,
                         "node": ["feature:x", "feature:y", "feature:z", "feature:x", "feature:y", "service:s",
                                  "service:t"],
                         "kind": ["data_drift", "data_drift", "training_serving_skew", "data_drift", "data_drift",
                                  "dependency_latency", "dependency_latency"]})
    incidents = pd.DataFrame({"incident_id": ["a", "b", "c"],
                              "causes": [json.dumps([["feature:y", "data_drift"]]),
                                         json.dumps([["feature:x", "data_drift"]]),
                                         json.dumps([["feature:q", "data_drift"]])]})
    scores = np.array([0.9, 0.1, 0.5, 2.0, 1.0, 0.3, 0.7])
    missed = misses(HypothesisTable(rows, incidents), scores, "data_drift")
    assert missed == [{"incident": "a", "rank": 3, "above": [("feature:x", "data_drift"),
                                                             ("feature:z", "training_serving_skew")],
                       "true_above": 0},
                      {"incident": "c", "rank": None, "above": [("service:t", "dependency_latency"),
                                                                ("service:s", "dependency_latency")],
                       "true_above": 0}]
    assert misses(HypothesisTable(rows, incidents), scores, "dependency_latency") == []
    # two causes: the other one first is counted, and only the causes above, not those below
    two = incidents.assign(causes=[json.dumps([["feature:y", "data_drift"], ["feature:x", "data_drift"]]),
                                   json.dumps([["feature:y", "data_drift"], ["feature:x", "training_serving_skew"]]),
                                   json.dumps([["service:s", "data_drift"], ["service:t", "dependency_latency"]])])
    assert misses(HypothesisTable(rows, two), scores, "data_drift") == [
        {"incident": "b", "rank": 2, "above": [("feature:x", "data_drift")], "true_above": 0},
        {"incident": "c", "rank": None, "above": [("service:t", "dependency_latency"),
                                                  ("service:s", "dependency_latency")], "true_above": 1}]
