"""`rca evaluate`: every ranker and baseline on one split, the real data, and the Markdown report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from rca.errors import ConfigError
from rca.generators.windows import JUST_BEFORE
from rca.ranking.dataset import HypothesisTable, build_training_table, corpus_incidents, lacking, materialized
from rca.ranking.evaluate import evaluate_scores, largest_score, latest_change, random_metrics, rankings
from rca.ranking.families import LACKING
from rca.ranking.heuristic import HeuristicRanker
from rca.ranking.metrics import first_hit

METRICS = ("AC@1", "AC@3", "Avg@5", "MRR", "NDCG@5")


def candidate_recall(table: HypothesisTable) -> dict:
    """Share of incidents whose true cause is among the hypotheses (node+kind, and node only)."""
    truths = table.truths()
    pairs = table.rows.groupby("incident_id").apply(lambda g: set(zip(g["node"], g["kind"])), include_groups=False)
    exact = [bool(truths[i] & pairs.get(i, set())) for i in truths]
    nodes = [bool({n for n, _ in truths[i]} & {n for n, _ in pairs.get(i, set())}) for i in truths]
    return {"n": len(truths), "recall": float(np.mean(exact)) if exact else float("nan"),
            "node_recall": float(np.mean(nodes)) if nodes else float("nan"),
            "median_hypotheses": float(table.incidents["n_hypotheses"].median()) if len(truths) else 0.0}


def evaluate_table(table: HypothesisTable, ranker, *, scores: np.ndarray | None = None) -> dict[str, dict]:
    """Metrics of the ranker in use (``scores``: its scores of the table's rows, when already computed), the
    heuristic scorer and the naive baselines on one table."""
    heuristic = HeuristicRanker()
    results = {}
    if not isinstance(ranker, HeuristicRanker):
        scores = ranker.score_table(table.rows) if scores is None else scores
        results[ranker.name] = evaluate_scores(table, scores, calibration=ranker.calibration)
    results["heuristic"] = evaluate_scores(table, heuristic.score_table(table.rows),
                                           calibration=heuristic.calibration)
    results["largest score"] = evaluate_scores(table, largest_score(table.rows))
    results["latest change"] = evaluate_scores(table, latest_change(table.rows))
    results["random"] = random_metrics(table)
    return results


def top1_misses(table: HypothesisTable, scores: np.ndarray, *, node_level: bool = False) -> list[dict]:
    """The incidents whose first-ranked hypothesis is not a true cause: id, true causes, the rank of the first
    true one (None when no generator proposed it) and what was ranked first; for a reviewer to look at."""
    ranked = rankings(table.rows, scores)
    out = []
    for incident, truth in sorted(table.truths().items()):
        ranking = ranked.get(incident, [])
        pos = first_hit(ranking, truth, node_level=node_level)
        if pos == 1:
            continue
        out.append({"incident": incident, "truth": "; ".join(f"{n} {k}" for n, k in sorted(truth)),
                    "rank": None if np.isinf(pos) else int(pos),
                    "first": f"{ranking[0][0]} {ranking[0][1]}" if ranking else ""})
    return out


def run_evaluation(corpus: Path | None, split: str, realdata: Path | None, ranker, *, processes: int = 2,
                   lacking_families: bool = True) -> dict:
    """Build the tables (cached) and evaluate; the split named is the only one read from the corpus.

    With ``lacking_families`` the corpus' incidents are also ranked without each family combination of
    `rca.ranking.families.LACKING` (``out["lacking"]``, `evaluate_lacking`): how the ranker does on bundles
    from sources that send less."""
    out: dict = {"ranker": ranker.name, "split": split}
    if corpus is not None:
        corpus_dir = materialized(corpus)
        present = sorted({e.split for e in corpus_incidents(corpus_dir)})
        if split not in present:
            raise ConfigError("--split", split, f"a split with incidents in {corpus}: "
                                                f"{', '.join(present) or 'none (it holds no bundles)'}")
        table = build_training_table(corpus_dir, (split,), processes=processes,
                                     without=LACKING if lacking_families else ())
        copy = table.incidents["incident_id"].map(lacking) != ""
        out["corpus"] = _evaluate_part(corpus, table.subset(table.incidents.loc[~copy, "incident_id"]), ranker)
        if lacking_families:
            out["lacking"] = evaluate_lacking(table.subset(table.incidents.loc[copy, "incident_id"]), ranker)
    if realdata is not None:
        if not corpus_incidents(realdata):
            raise ConfigError("--realdata", str(realdata),
                              "a folder of labeled bundles (<id>/incident.json and label.json)")
        out["realdata"] = _evaluate_part(realdata, build_training_table(realdata, None, processes=processes), ranker,
                                         node_level=True)
    return out


def evaluate_lacking(copies: HypothesisTable, ranker) -> list[dict]:
    """AC@1, AC@3 (node and kind) and the ECE of top-1 confidence of the ranker in use and of the heuristic
    scorer on the copies of incidents without each family combination (`rca.ranking.dataset.lacking`): one row
    per combination, in `LACKING` order, each over the incidents that had some family of it (``n``)."""
    names = copies.incidents["incident_id"].map(lacking)
    heuristic = HeuristicRanker()
    out = []
    for combination in ("+".join(d) for d in LACKING):
        part = copies.subset(copies.incidents.loc[names == combination, "incident_id"])
        if part.incidents.empty:
            continue
        row = {"without": combination, "n": len(part.incidents)}
        for label, scorer in (("ranker", ranker), ("heuristic", heuristic)):
            got = evaluate_scores(part, scorer.score_table(part.rows), by_kind=False,
                                  calibration=scorer.calibration)
            row[label] = {"AC@1": got["overall"]["AC@1"], "AC@3": got["overall"]["AC@3"], "ECE": got["ece"]}
        out.append(row)
    return out


def _evaluate_part(path: Path, table: HypothesisTable, ranker, *, node_level: bool = False) -> dict:
    scores = ranker.score_table(table.rows)
    return {"path": str(path), "candidates": candidate_recall(table),
            "results": evaluate_table(table, ranker, scores=scores),
            "by_baseline": by_baseline(table, scores),
            "misses": top1_misses(table, scores, node_level=node_level)}


def by_baseline(table: HypothesisTable, scores: np.ndarray) -> list[dict]:
    """The ranker's AC@1 and AC@3 (node and kind, and node only) on the incidents whose baseline lies just
    before the current window and on those compared with another period (`rca.generators.windows.baseline_layout`),
    the second being where a period's own differences pass for changes; empty for a table without the column."""
    if "baseline" not in table.incidents.columns:
        return []
    out = []
    for layout, ids in sorted(table.incidents.groupby("baseline")["incident_id"], key=lambda g: g[0] != JUST_BEFORE):
        part = table.subset(ids)
        got = evaluate_scores(part, scores[table.rows["incident_id"].isin(set(ids)).to_numpy()], by_kind=False)
        out.append({"baseline": layout, "n": len(ids),
                    **{f"{level}:{m}": got[level][m] for level in ("overall", "node_level") for m in ("AC@1", "AC@3")}})
    return out


NAIVE = ("largest score", "latest change", "random")


def _share(level: str, metric: str):
    """A target measured as one metric's share of a part's incidents: (value, incidents)."""
    return lambda ours, _: (ours[level][metric], ours[level]["n"])


def _lowest_kind(ours, _):
    kind = min(ours["by_kind"].values(), key=lambda k: k["AC@3"])
    return kind["AC@3"], kind["n"]


TARGETS = (
    # (part, what, measure(the ranker's results, every scorer's results) -> (value, incidents it is a share of,
    #  None when it is no share), comparison, target)
    ("corpus", "AC@1 (node+kind)", _share("overall", "AC@1"), ">=", 0.85),
    ("corpus", "AC@3 (node+kind)", _share("overall", "AC@3"), ">=", 0.95),
    ("corpus", "AC@1 above the best naive baseline",
     lambda ours, every: (ours["overall"]["AC@1"] - max(every[n]["overall"]["AC@1"] for n in NAIVE), None), ">=",
     0.25),
    ("corpus", "lowest AC@3 of a cause kind", _lowest_kind, ">=", 0.80),
    ("corpus", "ECE of top-1 confidence", lambda ours, _: (ours.get("ece", float("nan")), None), "<=", 0.08),
    ("realdata", "service-level AC@1", _share("node_level", "AC@1"), ">=", 0.6),
    ("realdata", "service-level AC@3", _share("node_level", "AC@3"), ">=", 0.85),
)
"""The engine's accuracy targets (the ranking issue's definition of done), checked in every report. "Ours" is the
ranker in use: the first entry of a part's results (`evaluate_table`)."""


def target_rows(evaluation: dict) -> list[dict]:
    """Each target of `TARGETS` whose part was evaluated: what, target, measured value, met, and for a share of
    incidents its 95% Wilson interval (``interval``, None otherwise): how far the figure could move on as many
    other incidents of the same kind."""
    out = []
    for part, what, measure, op, target in TARGETS:
        if part not in evaluation:
            continue
        results = evaluation[part]["results"]
        value, n = measure(next(iter(results.values())), results)
        value = float(value)
        met = bool(value >= target if op == ">=" else value <= target)
        interval = None
        if n:
            ci = stats.binomtest(round(value * n), n).proportion_ci(0.95, method="wilson")
            interval = (float(ci.low), float(ci.high))
        out.append({"part": part, "what": what, "target": f"{op} {target:.2f}", "value": value, "met": met,
                    "n": n, "interval": interval})
    return out


def format_part(evaluation: dict, part: str) -> list[str]:
    """One part's heading, candidate recall and metric tables (plain Markdown, read on a terminal too)."""
    data = evaluation[part]
    c = data["candidates"]
    split = evaluation["split"] if part == "corpus" else "all (test only)"
    lines = [f"## {part}: {data['path']} ({c['n']} incidents, split {split})", "",
             f"candidate recall {c['recall']:.3f} (node only {c['node_recall']:.3f}), "
             f"median hypotheses per incident {c['median_hypotheses']:.0f}", ""]
    for lvl in (["overall", "node_level"] if part == "corpus" else ["node_level"]):
        lines += [f"{'node+kind' if lvl == 'overall' else 'node only (service level)'}:", "",
                  "| ranker | " + " | ".join(METRICS) + " | ECE |", "|---" * (len(METRICS) + 2) + "|"]
        for name, res in data["results"].items():
            lines.append(f"| {name} | " + " | ".join(f"{res[lvl].get(m, float('nan')):.3f}" for m in METRICS)
                         + f" | {_num(res.get('ece'))} |")
        lines.append("")
    layouts = data.get("by_baseline") or []
    if layouts:
        ranker = next(iter(data["results"]))
        lines += [f"By how the baseline lies ({ranker}; another period: further back than the longer of the two "
                  "windows, or after the current one):", "", "| baseline | incidents | AC@1 | AC@3 | service AC@1 | service AC@3 |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['baseline']} | {r['n']} | {r['overall:AC@1']:.3f} | {r['overall:AC@3']:.3f} | "
                  f"{r['node_level:AC@1']:.3f} | {r['node_level:AC@3']:.3f} |" for r in layouts]
        lines.append("")
    return lines


def format_targets(evaluation: dict) -> list[str]:
    rows = target_rows(evaluation)
    if not rows:
        return []
    lines = ["## Targets", "", "Interval: the 95% Wilson interval of a share of incidents (n of them).", "",
             "| part | what | target | measured | interval | met |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['part']} | {r['what']} | {r['target']} | {_num(r['value'])} | {_interval(r)} | "
              f"{'yes' if r['met'] else '**no**'} |" for r in rows]
    return [*lines, ""]


def _interval(row: dict) -> str:
    return "" if row["interval"] is None else f"{row['interval'][0]:.2f}-{row['interval'][1]:.2f} (n={row['n']})"


def lacking_rows(evaluation: dict) -> list[dict]:
    """`evaluate_lacking`'s rows after the corpus incidents as they came (``without`` "nothing")."""
    results = evaluation["corpus"]["results"]
    ours, heuristic = next(iter(results.values())), results["heuristic"]
    first = {"without": "nothing", "n": evaluation["corpus"]["candidates"]["n"],
             "ranker": {**{m: ours["overall"][m] for m in ("AC@1", "AC@3")}, "ECE": ours.get("ece")},
             "heuristic": {**{m: heuristic["overall"][m] for m in ("AC@1", "AC@3")}, "ECE": heuristic.get("ece")}}
    return [first, *evaluation["lacking"]]


def format_lacking(evaluation: dict) -> list[str]:
    """The corpus split's incidents ranked without some signal families, beside the heuristic scorer."""
    if "lacking" not in evaluation or "corpus" not in evaluation:
        return []
    lines = [f"## Bundles lacking signal families ({evaluation['corpus']['path']}, split {evaluation['split']})", "",
             "Each incident again, its bundle without the families named (as a source that does not send them "
             "would post it), over the incidents that had them; resource_metrics: without the CPU and memory "
             "series. Node and kind.", "",
             f"| without | incidents | {evaluation['ranker']} AC@1 | AC@3 | ECE | heuristic AC@1 | AC@3 |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['without']} | {r['n']} | {r['ranker']['AC@1']:.3f} | {r['ranker']['AC@3']:.3f} | "
              f"{_num(r['ranker'].get('ECE'))} | {r['heuristic']['AC@1']:.3f} | {r['heuristic']['AC@3']:.3f} |"
              for r in lacking_rows(evaluation)]
    return [*lines, ""]


def _num(value: float | None) -> str:
    """A table cell: blank for a scorer without confidences (None), 'n/a' where none was given (nan: no incident
    with a ranked hypothesis to bin)."""
    if value is None:
        return ""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def format_tables(evaluation: dict) -> str:
    """Plain-text tables for the terminal: the targets, then each part's metrics."""
    lines = format_targets(evaluation)
    for part in ("corpus", "realdata"):
        if part in evaluation:
            lines += format_part(evaluation, part)
    lines += format_lacking(evaluation)
    return "\n".join(lines)


def write_report(evaluation: dict, path: Path) -> list[Path]:
    """The Markdown report with its charts (PNG under ``<report dir>/figures/``); returns the files written.

    Each part (the corpus split, the real data) is one section: its tables, then its charts."""
    from rca.ranking import charts

    path.parent.mkdir(parents=True, exist_ok=True)
    figures = path.parent / "figures"
    written = []
    body = ["# Ranking evaluation", "",
            f"Generated by `rca evaluate` with ranker `{evaluation['ranker']}`. AC@k: share of incidents whose "
            "true cause (same node and kind) is in the top k; Avg@5 the mean of AC@1..AC@5; ECE over top-1 "
            "confidence vs top-1 correctness, 10 equal-width bins.", "", *format_targets(evaluation)]
    for part in ("corpus", "realdata"):
        if part not in evaluation:
            continue
        body += format_part(evaluation, part)
        results = evaluation[part]["results"]
        level = "node_level" if part == "realdata" else "overall"
        written.append(charts.ac_bars(results, figures / f"{part}-ac.png", level=level))
        body += [f"![AC@k per ranker ({part})](figures/{part}-ac.png)", ""]
        kinds = next(iter(results.values())).get("by_kind", {})
        if kinds:
            written.append(charts.per_kind_ac3(results, figures / f"{part}-kind-ac3.png"))
            body += [f"### AC@3 per cause kind ({part}, node+kind)", "", "| kind | " + " | ".join(results) + " |",
                     "|---" * (len(results) + 1) + "|"]
            for kind in kinds:
                body.append(f"| {kind} (n={kinds[kind]['n']}) | "
                            + " | ".join(f"{r['by_kind'][kind]['AC@3']:.3f}" for r in results.values()) + " |")
            body += ["", f"![AC@3 per cause kind ({part})](figures/{part}-kind-ac3.png)", ""]
        first = next(iter(results.values()))
        if "reliability" in first:
            written.append(charts.reliability(first["reliability"], figures / f"{part}-reliability.png"))
            body += [f"### Reliability of top-1 confidence ({part}, {next(iter(results))})", "",
                     "| bin | count | mean confidence | accuracy |", "|---|---|---|---|"]
            body += [f"| {r['bin']} | {r['count']} | {r['confidence']:.3f} | {r['accuracy']:.3f} |"
                     for r in first["reliability"] if r["count"]]
            body += ["", f"![reliability](figures/{part}-reliability.png)", ""]
        misses = evaluation[part].get("misses")
        if misses:
            scope = "the service" if part == "realdata" else "node and kind"
            body += [f"### Missed at top 1 ({part}, {evaluation['ranker']}; {scope})", "",
                     "| incident | true cause | its rank | ranked first |", "|---|---|---|---|"]
            body += [f"| {m['incident']} | {m['truth']} | {m['rank'] or 'not proposed'} | {m['first']} |"
                     for m in misses]
            body.append("")
    if "lacking" in evaluation and "corpus" in evaluation:
        body += format_lacking(evaluation)
        written.append(charts.lacking_bars(lacking_rows(evaluation), figures / "corpus-lacking.png",
                                           ranker=evaluation["ranker"]))
        body += ["![AC@1 on bundles lacking families](figures/corpus-lacking.png)", ""]
    path.write_text("\n".join(body) + "\n")
    return [path, *written]


def _known_lines(known: dict | None) -> list[str]:
    """The gate's second comparison, on the validation incidents the champion was validated on."""
    if not known:
        return []
    ours, theirs = known["challenger"]["overall"], known["champion"]["overall"]
    return [f"- on the {known['n']} validation incidents the champion was validated on: AC@1 {ours['AC@1']:.3f} "
            f"against {theirs['AC@1']:.3f}, MRR {ours['MRR']:.3f} against {theirs['MRR']:.3f} (the gate requires "
            "both comparisons)"]


def write_retrain_report(result: dict, path: Path, *, exported: int | None = None,
                         when: str | None = None) -> list[Path]:
    """The weekly retraining's report for the platform team (Markdown, two charts beside it named after it):
    the gate's decision and why, what the challenger trained on, and challenger against champion on the
    validation split, overall and per cause kind. ``result`` is `rca.ranking.train.retrain`'s."""
    from rca.ranking import charts

    metrics = {name: m for name, m in (("challenger " + result["challenger"], result["metrics"]["challenger"]),
                                       (f"champion {result.get('champion') or ''}".strip(),
                                        result["metrics"]["champion"])) if m is not None}
    ours, theirs = result["metrics"]["challenger"]["overall"], (result["metrics"]["champion"] or {}).get("overall")
    decision = ("**promoted**" if result["promoted"] else
                "**not promoted** nor stored: the same model as the champion, byte for byte (no new data since)"
                if result.get("twin") else f"**not promoted**: {result['refused']} "
                "(the champion stays in use)")
    versus = (f"validation AC@1 {ours['AC@1']:.3f} against the champion's {theirs['AC@1']:.3f}, MRR "
              f"{ours['MRR']:.3f} against {theirs['MRR']:.3f}" if theirs else "there was no champion to beat")
    training = result.get("training", {})
    lines = [f"# Retraining{' ' + when if when else ''}", "",
             f"Challenger `{result['challenger']}`: {decision}; {versus}. The gate promotes a challenger unless it "
             "is worse on validation AC@1 (ties broken by MRR), on the whole split or on the part the champion was "
             "validated on; `rca rankers rollback` undoes a promotion.", "",
             *([f"**Warning**: {result['warning']}.", ""] if result.get("warning") else []),
             f"- trained on: {training.get('incidents', '?')} incidents (+{training.get('reduced_copies', 0)} copies "
             "lacking signal families)",
             *([f"- reviewed incidents exported this run: {exported}"] if exported is not None else []),
             f"- validated on: {training.get('validation_incidents', '?')} incidents",
             *_known_lines(result.get("known")),
             "",
             "| ranker (validation, node and kind) | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{m['overall'][k]:.3f}" for k in METRICS) + " |"
              for name, m in metrics.items()]
    stem = path.with_suffix("")
    written = [charts.ac_bars(metrics, stem.parent / "figures" / f"{stem.name}-ac.png")]
    lines += ["", f"![AC@k on validation](figures/{written[0].name})", ""]
    kinds = result["metrics"]["challenger"].get("by_kind", {})
    if kinds:
        lines += ["| kind | " + " | ".join(f"{name} AC@3" for name in metrics) + " |",
                  "|---" * (len(metrics) + 1) + "|"]
        lines += [f"| {kind} (n={kinds[kind]['n']}) | "
                  + " | ".join(f"{m['by_kind'].get(kind, {}).get('AC@3', float('nan')):.3f}" for m in metrics.values())
                  + " |" for kind in kinds]
        written.append(charts.per_kind_ac3(metrics, stem.parent / "figures" / f"{stem.name}-kind-ac3.png"))
        lines += ["", f"![AC@3 per cause kind on validation](figures/{written[1].name})", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return [path, *written]
