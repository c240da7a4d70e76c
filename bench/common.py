"""Helpers shared by the benchmarks: timing, the machine's description, log-log slopes, progress bars, which
incidents are of a nested corpus."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

import numpy as np

PACKAGES = ("numpy", "pandas", "scipy", "pyarrow", "lightgbm", "fastapi", "uvicorn", "sqlalchemy", "evidently",
            "nannyml")


def timed(fn: Callable[[], object], *, repeat: int = 3, warmup: bool = True) -> tuple[float, object]:
    """``(median seconds over repeat calls, the last result)``; one untimed warm-up call first (imports, caches)."""
    result = fn() if warmup else None
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def loglog_slope(sizes: Iterable[float], seconds: Iterable[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): 1 is linear growth, < 1 sub-linear."""
    x, y = np.log(np.asarray(list(sizes), float)), np.log(np.maximum(np.asarray(list(seconds), float), 1e-6))
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def of_corpus(incident_ids, name: str | None) -> np.ndarray:
    """Which of ``incident_ids`` (a pandas Series; reduced copies ``<id>~without=...`` included) are of the nested
    corpus ``name``, whose ids are ``<name>-NNNN``; none when ``name`` is None."""
    if not name:
        return np.zeros(len(incident_ids), dtype=bool)
    return incident_ids.astype(str).str.startswith(f"{name}-").to_numpy()


def progress(iterable: Iterable, **kwargs):
    """A tqdm bar on a terminal, the plain iterable otherwise (logs stay clean)."""
    from tqdm import tqdm

    return tqdm(iterable, disable=not sys.stderr.isatty(), leave=False, **kwargs)


def machine() -> dict:
    """What the figures were measured on."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
            "memory_gib": round(mem, 1), "python": platform.python_version(), "platform": platform.platform(),
            "cpu": _cpu_model(), "load_1min_at_start": round(load[0], 2), "reference_s_at_start": reference_seconds(),
            "versions": versions}


def reference_seconds(*, repeat: int = 5) -> float:
    """Median seconds of a fixed workload like the engine's own (a numpy sort, a pandas group-by median, a
    Python loop). On a shared machine the same code has run up to twice as slow on one day as on another; the
    benchmarks record this figure at their start and end, a first check before comparing runs of different
    days (it does not capture every kind of slowdown: memory or I/O contention may not show in it)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    x, keys = rng.normal(size=1_000_000), rng.integers(0, 1_000, 1_000_000)

    def work() -> float:
        np.sort(x)
        pd.Series(x).groupby(keys).median()
        return float(sum(i * i for i in range(200_000)))

    return timed(work, repeat=repeat)[0]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
