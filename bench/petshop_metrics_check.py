"""Where the OPS generators alone stand on the real PetShop incidents (a TEST set: nothing here is tuned on it).

Runs the metrics, KPI, trace and event generators on every bundle under ``--root``, ranks services by their
best hypothesis score (no graph, no trained ranker), and prints service-level recall (the labelled service
has any hypothesis), AC@1, AC@3, AC@5 and the number of hypotheses per incident, overall and per scenario.
Labels are read only here, after the generators ran, to score the answers.

    PYTHONPATH=. /tmp/rcavenv/bin/python bench/petshop_metrics_check.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

from rca.contract.load import load_bundle, load_label
from rca.generators import generate_candidates

GENERATORS = ("events", "kpis", "metrics", "traces")


def service_ranking(hypotheses) -> list[str]:
    best: dict[str, float] = {}
    for h in hypotheses:
        if h.node.startswith("service:"):
            best[h.node] = max(best.get(h.node, 0.0), h.score)
    return sorted(best, key=lambda n: (-best[n], n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/work/shared/realdata/petshop"))
    args = parser.parse_args()
    rows = []
    t0 = time.perf_counter()
    for case in sorted(p for p in args.root.iterdir() if (p / "incident.json").exists()):
        bundle = load_bundle(case)
        cands = generate_candidates(bundle, GENERATORS)
        ranking = service_ranking(cands.hypotheses)
        truth = {c.node for c in load_label(case).causes}
        rank = next((i + 1 for i, n in enumerate(ranking) if n in truth), None)
        scenario = case.name.split("_t")[0].removeprefix("petshop_") if "_t" in case.name else case.name
        scenario = "_".join(case.name.split("_")[1:3])
        rows.append((scenario, rank, len(cands.hypotheses)))
    elapsed = time.perf_counter() - t0

    def report(name, rs):
        n = len(rs)
        ranks = [r for _, r, _ in rs]
        ac = {k: sum(r is not None and r <= k for r in ranks) / n for k in (1, 3, 5)}
        recall = sum(r is not None for r in ranks) / n
        med = statistics.median(h for _, _, h in rs)
        print(f"{name:20s} n={n:3d} recall={recall:.3f} AC@1={ac[1]:.3f} AC@3={ac[3]:.3f} AC@5={ac[5]:.3f} "
              f"median_hypotheses={med:.0f}")

    groups = defaultdict(list)
    for r in rows:
        groups[r[0]].append(r)
    report("all", rows)
    for name in sorted(groups):
        report(name, groups[name])
    print(f"{len(rows)} incidents in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
