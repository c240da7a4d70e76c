"""Out-of-fold accuracy on the training split: a second opinion on a generator or feature change, from every
training incident (882 on 2026-12-03) rather than the validation split alone (294).

The train incidents of the corpus and its nested corpora are dealt into folds by incident (a reduced copy,
`rca.ranking.families.dropout`, goes with its original); each fold is ranked by boosters trained on the other
folds, and only the originals are scored. Prints AC@1 / AC@3 overall and per cause kind; an incident whose cause
no generator proposed counts as a miss. A report, never a selection: the gate decides on validation, and the
test split is not read.

    PYTHONPATH=. .venv/bin/python bench/out_of_fold.py [--folds 5] [--boosters 2] [--seed 0] [--apart mesh-41 [--drop]]

Run it on two commits (the tables are cached per code version) and compare. On 2026-12-03 (882 training
incidents, 2 boosters) the histogram PSI floor at 0.02 instead of 0.05 put 31 of the 38 data-drift causes in the
top 3 instead of 26 (AC@3 0.948 against 0.943 overall, AC@1 0.850 against 0.849), about a minute per run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench.common import of_corpus
from rca.ranking.dataset import COPY_MARK, HypothesisTable
from rca.ranking.evaluate import evaluate_scores
from rca.ranking.lgbm import fit_lgbm
from rca.ranking.train import TRAIN_SPLITS, training_table


def original_id(incident_ids: pd.Series) -> pd.Series:
    """The incident a row belongs to, for a reduced copy (``<id>~without=...``) its original."""
    return incident_ids.str.split(COPY_MARK, regex=False).str[0]


def folds_of(incident_ids, folds: int, seed: int = 0) -> dict[str, int]:
    """A fold per original incident, drawn at random (the same ``seed``, the same folds)."""
    ids = sorted(set(incident_ids))
    return dict(zip(ids, np.random.default_rng(seed).integers(0, folds, len(ids)).tolist()))


def out_of_fold(table: HypothesisTable, *, folds: int = 5, boosters: int = 2, seed: int = 0,
                progress: bool = True, apart: str | None = None,
                drop: bool = False) -> tuple[HypothesisTable, np.ndarray]:
    """The original incidents of ``table`` and each row's score from boosters that never saw its incident.

    ``apart``: a nested corpus (its incident ids start with ``<apart>-``) that is never held out nor scored, only
    trained on in every fold, or with ``drop`` never trained on: the two runs deal the same folds, so they say
    what adding that corpus to training does to the other incidents."""
    rows = table.rows.reset_index(drop=True)
    base = original_id(rows["incident_id"])
    aside = of_corpus(base, apart)
    fold = base.map(folds_of(base[~aside], folds, seed)).to_numpy(dtype=float)    # NaN for the corpus aside
    original = (rows["incident_id"] == base).to_numpy() & ~aside
    scores = np.full(len(rows), np.nan)
    for k in tqdm(range(folds), desc="folds", unit="fold", disable=not progress):
        held = fold == k
        if not (held & original).any() or held.all():
            continue
        ranker = fit_lgbm(rows.loc[~held & ~(aside & drop)], n_seeds=boosters)
        scores[held & original] = ranker.score_table(rows.loc[held & original])
    ids = table.incidents["incident_id"]
    kept = ~ids.str.contains(COPY_MARK, regex=False).to_numpy() & ~of_corpus(ids, apart)
    scored = HypothesisTable(rows.loc[original].reset_index(drop=True),
                             table.incidents.loc[kept].reset_index(drop=True))
    return scored, scores[original]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("labeled_incidents"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--boosters", type=int, default=2, help="boosters per fold (the champion has 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold assignment")
    parser.add_argument("--apart", default=None, help="a nested corpus only trained on, never scored (e.g. mesh-41)")
    parser.add_argument("--drop", action="store_true", help="with --apart: never trained on either")
    args = parser.parse_args(argv)
    train = training_table([args.corpus], progress=True).split(*TRAIN_SPLITS)
    scored, scores = out_of_fold(train, folds=args.folds, boosters=args.boosters, seed=args.seed, apart=args.apart,
                                 drop=args.drop)
    metrics = evaluate_scores(scored, scores)
    overall = metrics["overall"]
    print(f"out of fold, {overall['n']} training incidents: AC@1 {overall['AC@1']:.3f}  AC@3 {overall['AC@3']:.3f}")
    for kind, m in metrics["by_kind"].items():
        print(f"  {kind:24s} n={m['n']:4d}  AC@1 {m['AC@1']:.3f}  AC@3 {m['AC@3']:.3f}")
    return metrics


if __name__ == "__main__":
    main()
