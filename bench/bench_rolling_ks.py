"""Throughput of the rolling KS detector on 1M values: ``PYTHONPATH=. python bench/bench_rolling_ks.py``."""

from __future__ import annotations

import argparse
import time

import numpy as np

from rca.detectors import rolling_ks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--reference", type=int, default=5000)
    parser.add_argument("--alpha", type=float, default=1e-6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ref = rng.normal(size=args.reference)
    values = rng.normal(size=args.n)
    values[args.n // 2:] += 0.5  # one shift half-way, so detections (and p-values) happen too
    t0 = time.perf_counter()
    hits = list(rolling_ks(ref, values, window_size=args.window, alpha=args.alpha))
    elapsed = time.perf_counter() - t0
    print(f"{args.n} values, window {args.window}, reference {args.reference}: {elapsed:.2f} s, "
          f"{args.n / elapsed:,.0f} values/s, {len(hits)} detections (first at {hits[0] if hits else None})")


if __name__ == "__main__":
    main()
