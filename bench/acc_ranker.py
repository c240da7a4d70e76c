"""Validation metrics of a ranker trained on train (calibrated on validation). Never reads the test split.

Usage: RCA_DATA_DIR=/tmp/acc-data PYTHONPATH=. python bench/acc_ranker.py ['{"num_iterations": 500}' ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rca.ranking.dataset import build_training_table
from rca.ranking.evaluate import evaluate_scores
from rca.ranking.train import train_ranker


def report(table, params: dict | None) -> None:
    ranker = train_ranker(table, params=params)
    val = table.split("validation")
    m = evaluate_scores(val, ranker.score_table(val.rows), calibration=ranker.calibration)
    o = m["overall"]
    worst = min(m["by_kind"].items(), key=lambda kv: kv[1]["AC@3"])
    print(json.dumps(params), f"AC@1 {o['AC@1']:.3f} AC@3 {o['AC@3']:.3f} MRR {o['MRR']:.3f} "
          f"ECE {m['ece']:.3f} worst AC@3 {worst[0]} {worst[1]['AC@3']:.2f}")
    if "-v" in sys.argv:
        for k, v in m["by_kind"].items():
            print(f"  {k:26s} n={v['n']:3d} AC@1 {v['AC@1']:.2f} AC@3 {v['AC@3']:.2f}")


if __name__ == "__main__":
    t = build_training_table(Path("labeled_incidents"), ("train", "validation"), progress=False)
    grid = [json.loads(a) for a in sys.argv[1:] if a != "-v"] or [None]
    for params in grid:
        report(t, params)
