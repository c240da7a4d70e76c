"""The evaluation report: each part's tables and charts together, and the targets checked against the figures."""

import json
import re

import numpy as np
import pandas as pd

from rca.ranking.dataset import HypothesisTable
from rca.ranking.heuristic import HeuristicRanker
from rca.ranking.report import (by_baseline, candidate_recall, evaluate_table, format_tables, target_rows,
                                top1_misses, write_report)
from tests.rank_builders import retrain_result, synthetic_table


class ByScore:
    """Ranks by the generator score, which the synthetic cause has higher by ``0.7 * signal``."""

    name = "by score"
    calibration = HeuristicRanker().calibration

    def score_table(self, rows):
        return rows["score"].to_numpy()


def evaluation(signal_corpus: float, signal_real: float) -> dict:
    parts = {}
    for part, signal in (("corpus", signal_corpus), ("realdata", signal_real)):
        table = synthetic_table(40, signal=signal, seed=3)
        parts[part] = {"path": f"/data/{part}", "candidates": candidate_recall(table),
                       "results": evaluate_table(table, ByScore())}
    return {"ranker": "by score", "split": "test", **parts}


def test_targets_are_measured_from_the_figures_and_judged():
    good, poor = evaluation(12.0, 12.0), evaluation(0.0, 0.0)
    by_what = {(r["part"], r["what"]): r for r in target_rows(good)}
    assert by_what[("corpus", "AC@1 (node+kind)")]["value"] == good["corpus"]["results"]["by score"]["overall"]["AC@1"]
    assert by_what[("realdata", "service-level AC@3")]["value"] == \
        good["realdata"]["results"]["by score"]["node_level"]["AC@3"]
    assert by_what[("corpus", "AC@1 (node+kind)")]["met"]
    assert not any(r["met"] for r in target_rows(poor) if r["what"].startswith(("AC@1", "service-level")))
    only_corpus = {k: v for k, v in good.items() if k != "realdata"}
    assert {r["part"] for r in target_rows(only_corpus)} == {"corpus"}


def test_a_target_that_is_a_share_of_incidents_carries_its_wilson_interval():
    rows = {(r["part"], r["what"]): r for r in target_rows(evaluation(1.0, 1.0))}
    real = rows[("realdata", "service-level AC@1")]
    assert real["n"] == 40 and real["interval"][0] < real["value"] < real["interval"][1]
    # 40 incidents: a figure of about one half could be 15 points either way (Wilson, 95%)
    low, high = real["interval"]
    assert 0.25 < high - low < 0.35
    kinds = evaluation(1.0, 1.0)["corpus"]["results"]["by score"]["by_kind"]
    lowest = rows[("corpus", "lowest AC@3 of a cause kind")]
    assert lowest["n"] == min(kinds.values(), key=lambda k: k["AC@3"])["n"]
    assert rows[("corpus", "ECE of top-1 confidence")]["interval"] is None
    assert rows[("corpus", "AC@1 above the best naive baseline")]["interval"] is None


def test_report_keeps_each_parts_charts_in_its_own_section(tmp_path):
    written = write_report(evaluation(12.0, 0.0), tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert all(p.is_file() for p in written)
    sections = re.split(r"^## ", text, flags=re.M)
    corpus = next(s for s in sections if s.startswith("corpus"))
    real = next(s for s in sections if s.startswith("realdata"))
    assert "figures/corpus-ac.png" in corpus and "figures/corpus-ac.png" not in real
    assert "figures/realdata-ac.png" in real and "figures/realdata-kind-ac3.png" in real
    targets = next(s for s in sections if s.startswith("Targets"))
    assert "| realdata | service-level AC@1 | >= 0.60 |" in targets and "**no**" in targets
    assert re.search(r"\| realdata \| service-level AC@1 \| >= 0.60 \| 0\.\d{3} \| 0\.\d\d-[01]\.\d\d \(n=40\) \|", targets)
    assert format_tables(evaluation(12.0, 0.0)).startswith("## Targets")


def test_the_report_splits_the_rankers_figures_by_how_the_baseline_lies(tmp_path):
    """Incidents compared with another period are scored apart from those compared with the hours just before:
    here the first 30 are easy and the last 10 hard, and each group gets its own figures."""
    easy, hard = synthetic_table(30, signal=12.0, seed=1), synthetic_table(10, signal=0.0, seed=2)
    hard = HypothesisTable(hard.rows.assign(incident_id="h" + hard.rows["incident_id"]),
                           hard.incidents.assign(incident_id="h" + hard.incidents["incident_id"]))
    table = HypothesisTable.concat([HypothesisTable(easy.rows, easy.incidents.assign(baseline="just before")),
                                    HypothesisTable(hard.rows, hard.incidents.assign(baseline="another period"))])
    scores = table.rows["score"].to_numpy()
    rows = {r["baseline"]: r for r in by_baseline(table, scores)}
    assert (rows["just before"]["n"], rows["another period"]["n"]) == (30, 10)
    for layout, part in (("just before", easy), ("another period", hard)):
        want = evaluate_table(part, ByScore())["by score"]
        assert rows[layout]["overall:AC@1"] == want["overall"]["AC@1"]
        assert rows[layout]["node_level:AC@3"] == want["node_level"]["AC@3"]
    assert rows["just before"]["overall:AC@1"] > rows["another period"]["overall:AC@1"]
    assert by_baseline(easy, easy.rows["score"].to_numpy()) == []          # a table without the column
    evaluated = evaluation(12.0, 0.0)
    evaluated["realdata"]["by_baseline"] = list(rows.values())
    write_report(evaluated, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    r = rows["another period"]
    assert (f"| another period | 10 | {r['overall:AC@1']:.3f} | {r['overall:AC@3']:.3f} | "
            f"{r['node_level:AC@1']:.3f} | {r['node_level:AC@3']:.3f} |") in text


def test_top1_misses_name_the_rank_of_the_truth_and_what_came_first(tmp_path):
    rows = pd.DataFrame({"incident_id": ["a", "a", "b", "b", "c"],
                         "node": ["service:x", "service:y", "service:x", "service:y", "service:x"],
                         "kind": ["dependency_errors"] * 5})
    causes = {"a": "service:x", "b": "service:x", "c": "service:z"}
    incidents = pd.DataFrame({"incident_id": list(causes), "split": "test", "detected_at": "",
                              "causes": [json.dumps([[n, "dependency_errors"]]) for n in causes.values()],
                              "n_hypotheses": [2, 2, 1]})
    misses = top1_misses(HypothesisTable(rows, incidents), np.array([2.0, 1.0, 1.0, 2.0, 1.0]))
    assert misses == [
        {"incident": "b", "truth": "service:x dependency_errors", "rank": 2, "first": "service:y dependency_errors"},
        {"incident": "c", "truth": "service:z dependency_errors", "rank": None, "first": "service:x dependency_errors"}]
    evaluated = evaluation(12.0, 0.0)
    evaluated["realdata"]["misses"] = misses
    write_report(evaluated, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert "| c | service:z dependency_errors | not proposed | service:x dependency_errors |" in text


def _copies(table: HypothesisTable, families: str) -> HypothesisTable:
    """The table's incidents renamed as copies lacking ``families`` (`rca.ranking.dataset.lacking`)."""
    rename = {i: f"{i}~without={families}" for i in table.incidents["incident_id"]}
    return HypothesisTable(table.rows.assign(incident_id=table.rows["incident_id"].map(rename)),
                           table.incidents.assign(incident_id=table.incidents["incident_id"].map(rename)))


def test_copies_lacking_families_are_scored_per_combination_in_lacking_order(tmp_path):
    from rca.ranking.evaluate import evaluate_scores
    from rca.ranking.families import LACKING
    from rca.ranking.report import evaluate_lacking

    strong, weak = synthetic_table(30, signal=12.0, seed=1), synthetic_table(20, signal=0.0, seed=2)
    resources = synthetic_table(10, signal=12.0, seed=3)
    assert ("kpis",) in LACKING and ("metrics", "traces") in LACKING   # premise: combinations of the report
    copies = HypothesisTable.concat([_copies(resources, "resource_metrics"), _copies(weak, "metrics+traces"),
                                     _copies(strong, "kpis")])
    rows = evaluate_lacking(copies, ByScore())
    assert [r["without"] for r in rows] == ["kpis", "metrics+traces", "resource_metrics"]   # LACKING order
    assert [r["n"] for r in rows] == [30, 20, 10]                                          # absent ones left out
    for r, table in zip(rows, (strong, weak, resources)):
        for name, scorer in (("ranker", ByScore()), ("heuristic", HeuristicRanker())):
            want = evaluate_scores(table, scorer.score_table(table.rows), by_kind=False,
                                   calibration=scorer.calibration)
            assert r[name] == {"AC@1": want["overall"]["AC@1"], "AC@3": want["overall"]["AC@3"], "ECE": want["ece"]}
    assert rows[0]["ranker"]["AC@1"] > rows[1]["ranker"]["AC@1"]
    evaluated = {**evaluation(12.0, 0.0), "lacking": rows}
    written = write_report(evaluated, tmp_path / "report.md")
    section = next(s for s in re.split(r"^## ", (tmp_path / "report.md").read_text(), flags=re.M)
                   if s.startswith("Bundles lacking"))
    ours = evaluated["corpus"]["results"]["by score"]["overall"]
    ece = evaluated["corpus"]["results"]["by score"]["ece"]
    assert f"| nothing | 40 | {ours['AC@1']:.3f} | {ours['AC@3']:.3f} | {ece:.3f} |" in section
    assert f"| kpis | 30 | {rows[0]['ranker']['AC@1']:.3f} |" in section
    assert "figures/corpus-lacking.png" in section and tmp_path / "figures" / "corpus-lacking.png" in written
    assert "Bundles lacking" in format_tables(evaluated)
    assert "Bundles lacking" not in format_tables(evaluation(12.0, 0.0))   # a report without them says nothing


def test_the_retrain_report_says_why_a_challenger_stayed_out_or_had_no_one_to_beat(tmp_path):
    from rca.ranking.report import write_retrain_report

    base = retrain_result("v3", champion="v2", promoted=False)
    good, bad = base["metrics"]["challenger"], base["metrics"]["champion"]   # by score, and against it
    kept = {**base, "metrics": {"challenger": bad, "champion": good}}         # this week's challenger is worse
    written = write_retrain_report(kept, tmp_path / "week.md", when="2026-12-07 03:00 UTC")
    text = written[0].read_text()
    assert text.startswith("# Retraining 2026-12-07 03:00 UTC")
    assert "Challenger `v3`: **not promoted**: worse than the champion on validation (the champion stays in use); " \
           "validation AC@1 " \
           f"{bad['overall']['AC@1']:.3f} against the champion's {good['overall']['AC@1']:.3f}" in text
    assert "validation incidents the champion was validated on:" not in text      # no second comparison made
    assert "reviewed incidents exported" not in text   # not given: not claimed
    assert [p.name for p in written[1:]] == ["week-ac.png", "week-kind-ac3.png"] and all(p.is_file() for p in written)
    twin = {**kept, "twin": True, "metrics": {"challenger": good, "champion": good}}
    assert "**not promoted** nor stored: the same model as the champion" in write_retrain_report(twin, tmp_path / "t.md")[0].read_text()
    first = {**kept, "champion": None, "promoted": True, "metrics": {"challenger": good, "champion": None}}
    text = write_retrain_report(first, tmp_path / "first.md")[0].read_text()
    assert "**promoted**; there was no champion to beat" in text
    assert "| challenger v3 |" in text and "| champion" not in text
    assert "Warning" not in text
    warned = {**kept, "warning": "the packaged ranker lgbm-packaged-x is better"}
    assert "**Warning**: the packaged ranker lgbm-packaged-x is better." in write_retrain_report(
        warned, tmp_path / "w.md")[0].read_text()


def test_the_retrain_report_shows_the_comparison_on_the_champions_own_validation_incidents(tmp_path):
    from rca.ranking.report import write_retrain_report

    base = retrain_result("v3", champion="v2", promoted=False)
    good, bad = base["metrics"]["challenger"], base["metrics"]["champion"]
    refused = {**base, "refused": "worse than the champion on the 40 validation incidents it was validated on",
               "known": {"n": 40, "challenger": bad, "champion": good}}
    text = write_retrain_report(refused, tmp_path / "week.md")[0].read_text()
    assert "**not promoted**: worse than the champion on the 40 validation incidents it was validated on" in text
    assert (f"- on the 40 validation incidents the champion was validated on: AC@1 {bad['overall']['AC@1']:.3f} "
            f"against {good['overall']['AC@1']:.3f}") in text


def test_an_ece_over_no_ranked_incident_reads_n_a_not_nan(tmp_path):
    """A lacking-families row whose copies had no hypothesis to bin printed 'nan' in the report's table."""
    evaluated = evaluation(12.0, 0.0)
    row = {"without": "kpis", "n": 3, "ranker": {"AC@1": 0.0, "AC@3": 0.0, "ECE": float("nan")},
           "heuristic": {"AC@1": 0.0, "AC@3": 0.0, "ECE": float("nan")}}
    evaluated["lacking"] = [row]
    evaluated["corpus"]["results"]["by score"]["ece"] = float("nan")
    write_report(evaluated, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert "| kpis | 3 | 0.000 | 0.000 | n/a | 0.000 | 0.000 |" in text and "| <= 0.08 | n/a |  | **no** |" in text
    assert "nan" not in text
