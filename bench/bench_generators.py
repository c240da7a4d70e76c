"""Time the data-side generators on a bundle of 100k predictions, 80 features x 30 buckets and a raw sample
table of 80 features x 20k rows (5k training, 15k serving over 38 hours; 3 features drift):
``PYTHONPATH=. python bench/bench_generators.py``."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from rca.contract.bundle import Bundle
from rca.generators import get_generator
from tests.builders import T0
from tests.hist_builders import bundle as hist_bundle, numeric

N, FEATURES, BUCKETS = 100_000, 80, 30
SAMPLE_TRAIN, SAMPLE_SERVING = 5_000, 15_000
REPEATS = 5  # the median is reported: the machine is shared


def build() -> Bundle:
    rng = np.random.default_rng(0)
    feats = []
    for i in range(FEATURES):
        hours = [rng.normal(0.5 if (i < 3 and h >= 8 + 25) else 0, 1, 500) for h in range(8, 8 + BUCKETS)]
        fh = numeric(f"f{i:02d}", [rng.normal(size=1)] * 8 + hours, rng.normal(size=5000))
        feats.append(type(fh)(feature=fh.feature, training=fh.training, serving=fh.serving[8:]))
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 38 * 3600, N)), unit="s")
    preds = pd.DataFrame({"timestamp": ts, "model_version": pd.Categorical(np.full(N, "v1")),
                          "score": rng.uniform(size=N), "label": rng.integers(0, 2, N).astype(float),
                          "country": pd.Categorical(rng.choice(list("ABCDEFGH"), N)),
                          "device": pd.Categorical(rng.choice(["web", "ios", "android"], N))})
    b = hist_bundle(feats)
    return Bundle(incident=b.incident, histograms=b.histograms, predictions=preds, feature_samples=samples(rng))


def samples(rng) -> pd.DataFrame:
    n = SAMPLE_TRAIN + SAMPLE_SERVING
    offsets = np.sort(rng.uniform(0, 38 * 3600, SAMPLE_SERVING))
    ts = np.concatenate([np.full(SAMPLE_TRAIN, (T0 - pd.Timedelta(days=7)).value),
                         (T0 + pd.to_timedelta(offsets, unit="s")).asi8])
    data = {"timestamp": pd.to_datetime(ts, utc=True), "role": ["training"] * SAMPLE_TRAIN + ["serving"] * SAMPLE_SERVING}
    late = np.r_[np.zeros(SAMPLE_TRAIN, bool), offsets >= 33 * 3600]
    for i in range(FEATURES):
        x = rng.normal(size=n)
        if i < 3:
            x[late] += 0.5
        data[f"f{i:02d}"] = x
    return pd.DataFrame(data)


def main() -> None:
    b = build()
    total = 0.0
    for name in ("histograms", "samples", "predictions", "segments"):
        gen = get_generator(name)
        gen.generate(b)  # warm-up (imports, scipy distributions)
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            cands = gen.generate(b)
            times.append(time.perf_counter() - t0)
        dt = float(np.median(times))
        total += dt
        print(f"{name:12s} {dt * 1000:7.1f} ms  {len(cands.hypotheses)} hypotheses")
    print(f"{'total':12s} {total * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
