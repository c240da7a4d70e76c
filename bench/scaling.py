"""Analysis time per stage for simulated bundles of growing size, one axis at a time.

Each axis (prediction rows, features, traces) grows from the target bundle (100k predictions, 80 features, 5k
traces) while the other two stay there. Bundles come from the simulator (`rca.simulate`, all signal families),
so every generator has realistic work. Stages: ``load`` (`load_bundle`), ``candidates`` (every generator),
``graph`` (`build_graph` alone, for information), ``ranking`` (`ranker.rank`: graph, features, model).
End to end = load + candidates + ranking (ranking builds the graph itself).

    PYTHONPATH=. python bench/scaling.py [--quick] [--target]

``--target`` times only the target bundle (the ranking-time figure of the ranker issue: < 1.5 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import loglog_slope, progress, timed

STAGES = ("load", "candidates", "graph", "ranking")
BASE = {"predictions": 100_000, "features": 80, "traces": 5_000}
AXES = {"predictions": [10_000, 30_000, 100_000, 300_000, 1_000_000],
        "features": [20, 50, 80, 200, 500],
        "traces": [1_000, 3_000, 5_000, 20_000, 100_000]}
QUICK_BASE = {"predictions": 3_000, "features": 20, "traces": 200}
QUICK_AXES = {"predictions": [3_000, 6_000], "features": [20, 40], "traces": [200, 400]}
SHAPE_ONLY_AXES = ("features",)
"""Axes written by `bench.make_bundle` (shape only: histograms, predictions, 5-span traces) instead of the
simulator, whose world generation does not finish at 500 features (it does at 300)."""


def write_point(root: Path, *, predictions: int, features: int, traces: int, seed: int = 1,
                shape_only: bool = False) -> Path:
    if shape_only:
        from bench.make_bundle import write_large_bundle

        return write_large_bundle(root, predictions=predictions, features=features, traces=traces, seed=seed)
    from rca.simulate import SimSize, simulate_incident

    simulate_incident(root, seed=seed, size=SimSize(predictions=predictions, features=features, traces=traces),
                      all_families=True)
    return root


def time_stages(root: Path, *, ranker=None, repeat: int = 2, warmup: bool = False) -> dict:
    """Median seconds per stage for one bundle directory, plus its sizes and the end-to-end sum."""
    from rca.contract import load_bundle
    from rca.generators import generate_candidates
    from rca.graph import build_graph
    from rca.service import get_ranker

    ranker = ranker or get_ranker()
    t_load, bundle = timed(lambda: load_bundle(root), repeat=repeat, warmup=warmup)
    # a fresh copy each time: results a bundle keeps for reuse (Bundle.derived) must not carry over between runs
    t_cand, candidates = timed(lambda: generate_candidates(dataclasses.replace(bundle)), repeat=repeat,
                               warmup=warmup)
    t_graph, _ = timed(lambda: build_graph(bundle, candidates), repeat=repeat, warmup=warmup)
    t_rank, answer = timed(lambda: ranker.rank(bundle, candidates, top=10), repeat=repeat, warmup=warmup)
    return {"load": t_load, "candidates": t_cand, "graph": t_graph, "ranking": t_rank,
            "total": t_load + t_cand + t_rank, "rows": len(bundle.predictions) if bundle.predictions is not None else 0,
            "features": len(bundle.histograms), "spans": len(bundle.spans) if bundle.spans is not None else 0,
            "hypotheses": len(candidates.hypotheses), "ranker": answer.ranker}


def run(*, quick: bool = False, work_dir: Path | None = None, repeat: int | None = None) -> dict:
    """Time every point of every axis; returns ``{"base", "points", "slopes", "ranker"}``."""
    from rca.service import get_ranker

    base, axes = (QUICK_BASE, QUICK_AXES) if quick else (BASE, AXES)
    repeat = repeat or (1 if quick else 2)
    tmp = Path(tempfile.mkdtemp(prefix="rca-bench-scaling-", dir=work_dir))
    ranker = get_ranker()
    points = []
    try:
        base_root, base_sim = None, 0.0
        jobs = [(axis, value) for axis, values in axes.items() for value in values]
        for i, (axis, value) in enumerate(progress(jobs, desc="scaling", unit="bundle")):
            size = {**base, axis: value}
            shape_only = axis in SHAPE_ONLY_AXES
            is_base = size == base and not shape_only
            if is_base and base_root is not None:
                root, sim_seconds = base_root, base_sim
            else:
                t0 = time.perf_counter()
                root = write_point(tmp / f"{axis}-{value}", **size, shape_only=shape_only)
                sim_seconds = time.perf_counter() - t0
                if is_base:
                    base_root, base_sim = root, sim_seconds
            stages = time_stages(root, ranker=ranker, repeat=repeat, warmup=i == 0)
            points.append({"axis": axis, "value": value, "is_target": is_base, "writer": "make_bundle" if shape_only else "simulator", "simulate_s": sim_seconds, **stages})
            print(f"  {axis:>11} {value:>9,}: " + "  ".join(f"{s} {stages[s]:.3f}s" for s in (*STAGES, "total"))
                  + f"  ({stages['spans']:,} spans, {stages['hypotheses']} hypotheses)")
            if not is_base:  # keep the disk small: the large bundles are used once
                shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    slopes = {axis: {stage: loglog_slope([p["value"] for p in points if p["axis"] == axis],
                                         [p[stage] for p in points if p["axis"] == axis])
                     for stage in (*STAGES, "total")} for axis in axes}
    target = next((p for p in points if p["is_target"]), None)
    return {"base": base, "points": points, "slopes": slopes, "target_point": target,
            "ranker": getattr(ranker, "name", type(ranker).__name__), "repeat": repeat}


def time_target(*, repeat: int = 3) -> dict:
    """Stage times for the target bundle alone (simulated, every signal family)."""
    with tempfile.TemporaryDirectory(prefix="rca-bench-target-") as tmp:
        root = write_point(Path(tmp) / "target", **BASE)
        stages = time_stages(root, repeat=repeat, warmup=True)
    print("target bundle: " + "  ".join(f"{s} {stages[s]:.3f}s" for s in (*STAGES, "total"))
          + f"  ({stages['spans']:,} spans, {stages['hypotheses']} hypotheses, ranker {stages['ranker']})")
    return stages


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--target", action="store_true", help="only the target bundle, 3 repeats")
    args = parser.parse_args(argv)
    if args.target:
        return time_target()
    result = run(quick=args.quick)
    for axis, s in result["slopes"].items():
        print(f"log-log slope ({axis}): " + ", ".join(f"{k} {v:.2f}" for k, v in s.items()))
    return result


if __name__ == "__main__":
    main()
