"""Training time of the ranker (`rca train`) on 1k and 5k incidents.

`rca train` is two steps: the hypothesis table (load + generators + features, per incident, in 2 processes)
and the fit (LightGBM lambdarank on the train split, calibration and metrics on validation). The table is
built once, for real, from the labeled corpus' train and validation splits (cold: a fresh cache). The 1k
and 5k tables are then *resampled* from it: incidents drawn with replacement within their split (3 train :
1 validation), each copy renamed, rows unchanged. So the fit sees realistic rows and group sizes but no new
information; it measures cost, not accuracy. Table cost at 1k/5k is extrapolated linearly from the measured
per-incident cost (each incident is independent work).

    PYTHONPATH=. python bench/train_time.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "labeled_incidents"


def corpus_table(corpus: Path, *, quick: bool):
    """The real hypothesis table of the corpus' train+validation incidents and the seconds it took."""
    from rca.ranking.dataset import HypothesisTable, build_training_table, corpus_incidents, incident_rows

    t0 = time.perf_counter()
    if quick:  # a few incidents in-process, no pool
        entries = [e for split in ("train", "validation") for e in corpus_incidents(corpus, (split,))[:4]]
        results = [incident_rows(e) for e in entries]
        table = HypothesisTable(pd.concat([r for r, _ in results], ignore_index=True),
                                pd.DataFrame([rec for _, rec in results]))
    else:
        cache = Path(tempfile.mkdtemp(prefix="rca-bench-train-"))
        try:
            table = build_training_table(corpus, ("train", "validation"), processes=2, cache_dir=cache,
                                         progress=sys.stderr.isatty())
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return table, time.perf_counter() - t0


def resample(table, n_incidents: int, *, seed: int = 0):
    """A table of ``n_incidents`` drawn with replacement (3 train : 1 validation), copies renamed."""
    from rca.ranking.dataset import HypothesisTable

    rng = np.random.default_rng(seed)
    rows_by_id = dict(tuple(table.rows.groupby("incident_id", sort=False)))
    rows, incidents = [], []
    for split, n in (("train", n_incidents - n_incidents // 4), ("validation", n_incidents // 4)):
        pool = table.incidents[table.incidents["split"] == split].reset_index(drop=True)
        for copy, i in enumerate(rng.integers(0, len(pool), n)):
            record = pool.iloc[i].to_dict()
            new_id = f"{record['incident_id']}~{copy}"
            if record["incident_id"] in rows_by_id:
                rows.append(rows_by_id[record["incident_id"]].assign(incident_id=new_id))
            incidents.append({**record, "incident_id": new_id})
    return HypothesisTable(pd.concat(rows, ignore_index=True), pd.DataFrame(incidents))


def run(*, quick: bool = False, corpus: Path = CORPUS, sizes: tuple[int, ...] | None = None) -> dict:
    from rca.ranking.train import train_ranker

    sizes = sizes or ((40, 80) if quick else (1_000, 5_000))
    table, table_s = corpus_table(corpus, quick=quick)
    n_real = len(table.incidents)
    per_incident = table_s / n_real
    print(f"  hypothesis table: {n_real} real incidents, {len(table.rows):,} rows in {table_s:.1f} s "
          f"({per_incident * 1000:.0f} ms per incident, {1 if quick else 2} process(es))")
    points = []
    for n in sizes:
        sample = resample(table, n)
        t0 = time.perf_counter()
        ranker = train_ranker(sample)
        fit_s = time.perf_counter() - t0
        points.append({"incidents": n, "rows": len(sample.rows), "fit_s": fit_s,
                       "table_s_extrapolated": per_incident * n, "total_s": fit_s + per_incident * n,
                       "trees": int(getattr(ranker, "meta", {}).get("n_trees", 0) or 0)})
        print(f"  {n:>6,} incidents ({len(sample.rows):,} rows): fit + calibrate {fit_s:.1f} s; with the table "
              f"(extrapolated {per_incident * n:.0f} s) {fit_s + per_incident * n:.0f} s")
    return {"corpus_incidents": n_real, "corpus_rows": len(table.rows), "table_s": table_s,
            "table_s_per_incident": per_incident, "points": points}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    return run(quick=parser.parse_args(argv).quick)


if __name__ == "__main__":
    main()
