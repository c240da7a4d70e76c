"""Run every benchmark and write docs/benchmarks.md (tables) and docs/figures/bench-*.png (charts).

    ./dev bench                      # installs .[dev,bench], then runs this
    PYTHONPATH=. python bench/run_all.py [--quick] [--only scaling,drift,api,train,other_sources]
        [--out docs/benchmarks.md]

Each benchmark prints its figures as it goes and returns them; this script gathers them into one document.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api_load, drift, other_sources, scaling, train_time  # noqa: E402
from bench.common import machine, reference_seconds  # noqa: E402
from bench.report import write_report  # noqa: E402

BENCHMARKS = {"scaling": scaling.run, "drift": drift.run, "api": api_load.run, "train": train_time.run,
              "other_sources": other_sources.run}
ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not figures to quote")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--figures", type=Path, default=None, help="default: <out's folder>/figures")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; expected some of {', '.join(BENCHMARKS)}")
    results = {"machine": machine(), "quick": args.quick, "seconds": {}}
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        results[name] = BENCHMARKS[name](quick=args.quick)
        results["seconds"][name] = time.perf_counter() - t0
    results["machine"]["reference_s_at_end"] = reference_seconds()
    figures = args.figures or args.out.parent / "figures"
    write_report(results, args.out, figures)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
