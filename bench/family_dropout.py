"""How the trained champion and the heuristic scorer rank incidents that lack signal families.

Other systems send other bundles: a trigger may post predictions and histograms with no KPI file, or no service
metrics. This takes the validation incidents of a corpus (never its test split), removes families from each
bundle (every combination given), and prints AC@1 / AC@3 of the packaged champion and of the heuristic scorer
on what is left. Being validation, it may inform choices (it chose training with family dropout,
`rca.ranking.families`); nothing is fitted to it. The same measurement on the test split, for the record, is a
section of `rca evaluate`'s report.

    PYTHONPATH=. .venv/bin/python bench/family_dropout.py [--corpus labeled_incidents] [--drop kpis metrics+traces ...]
        [--ranker NAME=DIR ...]   # other trained rankers beside the packaged champion, e.g. a challenger

Measured 2026-12-03 (validation split of labeled_incidents, 114 incidents), AC@1 of the champion
lgbm-packaged-d31bbec (trained with family dropout) / the same table without the reduced copies / the previous
champion lgbm-packaged-35c9d1f / the heuristic:
as they came 0.912 / 0.904 / 0.921 / 0.351; without kpis 0.912 / 0.886 / 0.912 / 0.360; without metrics
0.605 / 0.553 / 0.553 / 0.105; without predictions 0.763 / 0.684 / 0.693 / 0.316; without events
0.816 / 0.842 / 0.860 / 0.360; without histograms 0.658 / 0.693 / 0.693 / 0.412; without metrics and traces
0.509 / 0.491 / 0.500 / 0.096. Every trained ranker is far ahead of the heuristic, which is why
`rca.service.get_ranker` no longer hands incidents lacking families to it (`rca.ranking.families`).

Measured 2026-12-05 (same split, champion lgbm-packaged-c67f554 / heuristic), ``--drop none resource_metrics``:
as they came 0.904 / 0.351; without the CPU and memory series (`rca.ranking.families.RESOURCE_METRICS`)
0.851 / 0.360.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import progress

DEFAULT_DROPS = ("none", "kpis", "metrics", "events", "predictions", "histograms", "predictions+histograms",
                 "metrics+traces", "kpis+metrics", "resource_metrics")


def without(bundle, drop: str):
    """A copy of ``bundle`` without the families named in ``drop`` (``a+b``; ``none`` keeps every one;
    ``resource_metrics``: the CPU and memory series, `rca.ranking.families.bundle_without`)."""
    from rca.ranking.families import bundle_without

    try:
        return bundle_without(bundle, [] if drop == "none" else drop.split("+"))
    except ValueError as exc:
        raise SystemExit(f"--drop {drop}: {exc}") from None


def run(corpus: Path, drops: list[str], extra: dict[str, Path] | None = None) -> list[dict]:
    from rca.contract import load_bundle, load_label
    from rca.generators import generate_candidates
    from rca.ranking.dataset import corpus_incidents
    from rca.ranking.heuristic import HeuristicRanker
    from rca.ranking.lgbm import LgbmRanker
    from rca.ranking.registry import packaged_champion

    rankers = {"champion": packaged_champion(), **{n: LgbmRanker.load(d) for n, d in (extra or {}).items()},
               "heuristic": HeuristicRanker()}
    ranks: dict[tuple[str, str], list[int]] = {(d, r): [] for d in drops for r in rankers}
    entries = corpus_incidents(corpus, ("validation",))
    for entry in progress(entries, desc="incidents", unit="incident"):
        bundle = load_bundle(entry.path)
        truth = {(c.node, str(c.kind)) for c in load_label(entry.path).causes}
        for drop in drops:
            reduced = without(bundle, drop)
            candidates = generate_candidates(reduced)
            for name, ranker in rankers.items():
                causes = ranker.rank(reduced, candidates, top=10).causes
                ranks[drop, name].append(next((c.rank for c in causes if (c.node, str(c.kind)) in truth), 11))
    out = []
    for (drop, name), got in ranks.items():
        got = np.asarray(got)
        out.append({"without": drop, "ranker": name, "n": int(got.size), "AC@1": float((got == 1).mean()),
                    "AC@3": float((got <= 3).mean())})
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("labeled_incidents"))
    parser.add_argument("--drop", nargs="+", default=list(DEFAULT_DROPS),
                        help="family combinations to remove, e.g. kpis metrics+traces resource_metrics (none: the "
                             "bundle as is; resource_metrics: the CPU and memory series)")
    parser.add_argument("--ranker", nargs="+", default=[], metavar="NAME=DIR",
                        help="a trained ranker's directory (rca train --out DIR) to measure beside the champion")
    args = parser.parse_args(argv)
    extra = dict(r.split("=", 1) if "=" in r else (Path(r).name, r) for r in args.ranker)
    rows = run(args.corpus, args.drop, {n: Path(d) for n, d in extra.items()})
    print(f"validation split of {args.corpus}; {rows[0]['n'] if rows else 0} incidents")
    print("| without | ranker | AC@1 | AC@3 |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['without']} | {r['ranker']} | {r['AC@1']:.3f} | {r['AC@3']:.3f} |")
    return rows


if __name__ == "__main__":
    main()
