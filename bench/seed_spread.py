"""How far a ranker's figures move with its booster seeds alone: the noise band around any one retraining.

Trains seed ensembles (`rca.ranking.lgbm.N_SEEDS` boosters from each base seed) on the train splits of the corpus
and its nested corpora, and prints each one's validation AC@1 / AC@3 and, with ``--realdata``, its
service-level AC@1 / AC@3 on those real incidents, beside the packaged champion's. A report, never a selection:
the gate decides on validation, and the real incidents are a test set.

    PYTHONPATH=. .venv/bin/python bench/seed_spread.py [--seeds 7 107 207 307] [--realdata ../shared/realdata/petshop]
        [--apart mesh-41 [--drop]]

With ``--apart NAME`` (a nested corpus, e.g. ``mesh-41``), validation is also reported over the incidents of the
other corpora, so that a corpus added to training is judged on incidents that are not its own; ``--drop`` trains
without it (the same table and features otherwise): the two runs are the before and after of adding it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import of_corpus
from rca.ranking.dataset import build_training_table
from rca.ranking.evaluate import evaluate_scores
from rca.ranking.lgbm import fit_lgbm
from rca.ranking.registry import packaged_champion
from rca.ranking.train import TRAIN_SPLITS, VALIDATION_SPLIT, training_table


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("labeled_incidents"))
    parser.add_argument("--realdata", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 107, 207, 307])
    parser.add_argument("--apart", default=None, help="a nested corpus: validation also over the other corpora")
    parser.add_argument("--drop", action="store_true", help="with --apart: train without that corpus")
    args = parser.parse_args(argv)
    table = training_table([args.corpus], progress=True)
    train, validation = table.split(*TRAIN_SPLITS), table.split(VALIDATION_SPLIT)
    others = None
    if args.apart is not None:
        def not_apart(t):
            ids = t.incidents["incident_id"]
            return t.subset(ids[~of_corpus(ids, args.apart)])
        others = not_apart(validation)
        if args.drop:
            train = not_apart(train)
    real = build_training_table(args.realdata, None) if args.realdata is not None else None
    rankers = {f"seeds from {s}": fit_lgbm(train.rows, params={"seed": s}) for s in args.seeds}
    champion = packaged_champion()
    if champion is not None:
        rankers = {f"champion {champion.name}": champion, **rankers}
    rows = []
    for name, ranker in rankers.items():
        v = evaluate_scores(validation, ranker.score_table(validation.rows), by_kind=False)["overall"]
        row = {"ranker": name, "validation AC@1": v["AC@1"], "validation AC@3": v["AC@3"]}
        if others is not None:
            o = evaluate_scores(others, ranker.score_table(others.rows), by_kind=False)["overall"]
            row.update({f"not {args.apart} AC@1": o["AC@1"], f"not {args.apart} AC@3": o["AC@3"]})
        if real is not None:
            r = evaluate_scores(real, ranker.score_table(real.rows), by_kind=False)["node_level"]
            row.update({"real AC@1": r["AC@1"], "real AC@3": r["AC@3"]})
        rows.append(row)
        print("  ".join(f"{k} {val:.3f}" if isinstance(val, float) else f"{val:34s}" for k, val in row.items()),
              flush=True)
    return rows


if __name__ == "__main__":
    main()
