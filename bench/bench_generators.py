"""Time the data-side generators on a bundle of 100k predictions and 80 features x 30 buckets:
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
    return Bundle(incident=b.incident, histograms=b.histograms, predictions=preds)


def main() -> None:
    b = build()
    total = 0.0
    for name in ("histograms", "predictions", "segments"):
        gen = get_generator(name)
        gen.generate(b)  # warm-up (imports, scipy distributions)
        t0 = time.perf_counter()
        cands = gen.generate(b)
        dt = time.perf_counter() - t0
        total += dt
        print(f"{name:12s} {dt * 1000:7.1f} ms  {len(cands.hypotheses)} hypotheses")
    print(f"{'total':12s} {total * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
