"""The drift stage against Evidently's data-drift report on the same reference and current samples.

The data: F features (200 by default; a tenth categorical) with ``rows`` reference and ``rows`` current values
each; a fifth of the features drift by a known amount (mean shifts of 0.2-1 standard deviation, a 1.5x scale
change, or a category's share moved by 0.1-0.2). Ours: the samples are written as a bundle's
``feature_samples.parquet`` (reference rows with role ``training``, current rows spread over the incident's
current window) and we time what a user runs: `load_bundle` then the ``samples`` generator (exact KS, PSI,
Wasserstein, chi-square, plus hourly onsets). A feature is "drifted" for us when the generator proposes any
hypothesis on it. Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` on the same two frames,
a feature is drifted when its per-column test says so (distance >= threshold, or p-value < threshold).

NannyML is not run: its release pins ``lightgbm<=4.5`` (and pulls cloud storage clients), which would
downgrade our runtime dependency, so it stays out of the ``bench`` extra.

    PYTHONPATH=. python bench/drift.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import timed

DETECTED = pd.Timestamp("2026-11-20T14:00:00Z")
SHIFTS = (0.2, 0.3, 0.5, 1.0)          # mean shifts in standard deviations of the reference
CATEGORIES = np.array(["a", "b", "c", "d", "e"])
CATEGORY_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def make_samples(n_features: int, rows: int, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """``(reference, current, {drifted feature: what changed})``: same columns, one per feature."""
    rng = np.random.default_rng(seed)
    ref, cur, truth = {}, {}, {}
    shapes = ("normal", "lognormal", "uniform", "exponential")
    for i in range(n_features):
        name = f"f{i:03d}"
        drifts = i % 5 == 4
        if i % 10 == 9:  # categorical
            p = CATEGORY_P.copy()
            ref[name] = rng.choice(CATEGORIES, rows, p=p)
            if drifts:
                move = 0.1 if (i // 10) % 2 else 0.2
                p = p + np.array([-move, 0, 0, 0, move])
                truth[name] = f"share of 'e' +{move}"
            cur[name] = rng.choice(CATEGORIES, rows, p=p)
            continue
        shape = shapes[i % 4]
        draw = {"normal": lambda: rng.normal(10, 2, rows), "lognormal": lambda: rng.lognormal(3, 0.5, rows),
                "uniform": lambda: rng.uniform(0, 100, rows), "exponential": lambda: rng.exponential(5, rows)}[shape]
        r, c = draw(), draw()
        if drifts:
            k = (i // 5) % (len(SHIFTS) + 1)
            if k == len(SHIFTS):
                c = c.mean() + (c - c.mean()) * 1.5
                truth[name] = f"{shape}: scale x1.5"
            else:
                c = c + SHIFTS[k] * r.std()
                truth[name] = f"{shape}: mean +{SHIFTS[k]} sd"
        ref[name], cur[name] = r, c
    return pd.DataFrame(ref), pd.DataFrame(cur), truth


def write_bundle(root: Path, reference: pd.DataFrame, current: pd.DataFrame) -> Path:
    """A bundle holding only incident.json and feature_samples.parquet built from the two frames."""
    root.mkdir(parents=True, exist_ok=True)
    current_start = DETECTED - pd.Timedelta(hours=6)
    (root / "incident.json").write_text(json.dumps({
        "id": "bench-drift", "model": "bench", "detected_at": DETECTED.isoformat(),
        "baseline": {"start": (DETECTED - pd.Timedelta(hours=30)).isoformat(), "end": current_start.isoformat()},
        "current": {"start": current_start.isoformat(), "end": DETECTED.isoformat()}}))
    n_ref, n_cur = len(reference), len(current)
    serving_ts = current_start + pd.to_timedelta(np.linspace(0, 6 * 3600 - 1, n_cur), unit="s")
    frame = pd.concat([reference, current], ignore_index=True)
    frame.insert(0, "timestamp", np.concatenate([np.full(n_ref, DETECTED - pd.Timedelta(days=7)),
                                                 serving_ts.to_numpy()]))
    frame.insert(1, "role", ["training"] * n_ref + ["serving"] * n_cur)
    frame.to_parquet(root / "feature_samples.parquet", index=False)
    return root


def ours(root: Path, *, repeat: int) -> tuple[float, set[str]]:
    from rca.contract import load_bundle
    from rca.generators import get_generator

    generator = get_generator("samples")
    seconds, candidates = timed(lambda: generator.generate(load_bundle(root)), repeat=repeat)
    drifted = {h.node.split(":", 1)[1] for h in candidates.hypotheses if h.node.startswith("feature:")}
    return seconds, drifted


def _evidently_compat() -> None:
    """Evidently 0.7 imports a helper pandas 3 removed; restore it (bench only, never in rca)."""
    import pandas.core.dtypes.common as common

    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = lambda dtype: pd.api.types.pandas_dtype(dtype).type


def evidently(reference: pd.DataFrame, current: pd.DataFrame, *, repeat: int) -> tuple[float, set[str], str]:
    """Seconds of one data-drift report, the drifted columns, Evidently's version."""
    _evidently_compat()
    import evidently as ev
    from evidently import Report
    from evidently.presets import DataDriftPreset

    seconds, snapshot = timed(lambda: Report([DataDriftPreset()]).run(current, reference), repeat=repeat,
                              warmup=False)
    drifted = set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        by_p_value = "p_value" in config["method"]
        if (value < threshold) if by_p_value else (value >= threshold):
            drifted.add(config["column"])
    return seconds, drifted, ev.__version__


def agreement(found: set[str], truth: set[str]) -> dict:
    both = found & truth
    union = found | truth
    return {"jaccard": len(both) / len(union) if union else 1.0,
            "precision": len(both) / len(found) if found else 1.0,
            "recall": len(both) / len(truth) if truth else 1.0}


def run(*, quick: bool = False, n_features: int | None = None, rows: int | None = None,
        repeat: int | None = None) -> dict:
    n_features = n_features or (24 if quick else 200)
    rows = rows or (2_000 if quick else 10_000)
    repeat = repeat or (1 if quick else 3)
    reference, current, truth = make_samples(n_features, rows)
    tmp = Path(tempfile.mkdtemp(prefix="rca-bench-drift-"))
    try:
        our_s, our_set = ours(write_bundle(tmp / "bundle", reference, current), repeat=repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"features": n_features, "rows": rows, "truth": sorted(truth), "truth_detail": truth,
              "ours": {"seconds": our_s, "drifted": sorted(our_set), **agreement(our_set, set(truth))},
              "input": "feature_samples (raw values), load_bundle + samples generator"}
    print(f"  ours: {our_s:.3f} s, {len(our_set)} drifted (truth {len(truth)}), "
          f"precision {result['ours']['precision']:.2f} recall {result['ours']['recall']:.2f}")
    try:
        ev_s, ev_set, ev_version = evidently(reference, current, repeat=1 if quick else 2)
    except ImportError as exc:
        result["evidently"] = {"error": f"not installed ({exc}); pip install '.[bench]'"}
        print(f"  evidently: {result['evidently']['error']}")
        return result
    result["evidently"] = {"seconds": ev_s, "version": ev_version, "drifted": sorted(ev_set),
                           **agreement(ev_set, set(truth))}
    result["ratio"] = ev_s / our_s
    result["ours_vs_evidently"] = agreement(our_set, ev_set)
    result["disagree"] = {"only_ours": sorted(our_set - ev_set), "only_evidently": sorted(ev_set - our_set)}
    print(f"  evidently {ev_version}: {ev_s:.3f} s, {len(ev_set)} drifted, precision "
          f"{result['evidently']['precision']:.2f} recall {result['evidently']['recall']:.2f}; ratio "
          f"{result['ratio']:.1f}x; Jaccard ours/evidently {result['ours_vs_evidently']['jaccard']:.2f}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    return run(quick=parser.parse_args(argv).quick)


if __name__ == "__main__":
    main()
