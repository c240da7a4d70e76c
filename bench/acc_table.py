"""Candidate recall by cause kind and validation metrics of a ranker trained on train (never reads test).

Usage: RCA_DATA_DIR=/tmp/acc-data PYTHONPATH=. python bench/acc_table.py [--params JSON]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rca.ranking.dataset import build_training_table


def candidate_recall(table) -> None:
    rows = table.rows
    proposed = {(r.incident_id, r.node, r.kind) for r in rows[["incident_id", "node", "kind"]].itertuples(index=False)}
    nodes = {(i, n) for i, n, _ in proposed}
    total, hit, node_hit = Counter(), Counter(), Counter()
    misses = []
    for inc, causes in table.truths().items():
        for node, kind in causes:
            total[kind] += 1
            hit[kind] += (inc, node, kind) in proposed
            node_hit[kind] += (inc, node) in nodes
            if (inc, node, kind) not in proposed:
                kinds_on = sorted(k for i, n, k in proposed if i == inc and n == node)
                misses.append((kind, inc, node, kinds_on))
    for k in sorted(total):
        print(f"{k:26s} n={total[k]:3d} recall={hit[k] / total[k]:.3f} node={node_hit[k] / total[k]:.3f}")
    print("overall", sum(hit.values()) / sum(total.values()),
          "median hyps", table.incidents["n_hypotheses"].median())
    for m in sorted(misses):
        print("MISS", *m)


if __name__ == "__main__":
    t = build_training_table(Path("labeled_incidents"), ("train", "validation"), progress=False)
    candidate_recall(t)
