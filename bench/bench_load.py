"""Time loading a bundle with 100k prediction rows, 50 features x 30 hourly histograms and 5k traces.

Target (issue 2): under 2 s on the 2-core reference machine.

    ./dev rca --help >/dev/null; .venv/bin/python bench/bench_load.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.make_bundle import write_large_bundle  # noqa: E402
from rca.contract import load_bundle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_large_bundle(Path(tmp) / "large")
        load_bundle(root)  # warm-up: imports and file cache
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            bundle = load_bundle(root)
            times.append(time.perf_counter() - t0)
        print(f"bundle: {len(bundle.predictions):,} predictions, {len(bundle.histograms)} features x "
              f"{len(next(iter(bundle.histograms.values())).serving)} buckets, "
              f"{bundle.spans['trace_id'].nunique():,} traces ({len(bundle.spans):,} spans)")
        print(f"load_bundle: median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
              f"max {max(times):.3f} s over {args.repeat} runs (target < 2 s)")


if __name__ == "__main__":
    main()
