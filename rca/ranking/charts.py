"""The evaluation report's charts (matplotlib, Agg backend, PNG). Drawing lives here, not in results."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ac_bars(results: dict[str, dict], path: Path, *, level: str = "overall") -> Path:
    """Grouped bars: AC@1, AC@3, Avg@5 per ranker."""
    plt = _pyplot()
    metrics = ("AC@1", "AC@3", "Avg@5")
    names = list(results)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, m in enumerate(metrics):
        ax.bar(x + (i - 1) * 0.27, [results[n][level][m] for n in names], 0.27, label=m)
    ax.set_xticks(x, [textwrap.fill(n, 16) for n in names])   # long version names break at hyphens and spaces
    ax.set_ylim(0, 1)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(metrics), frameon=False)
    ax.set_ylabel("node and kind" if level == "overall" else "node only")
    return _save(fig, path)


def per_kind_ac3(results: dict[str, dict], path: Path) -> Path:
    """AC@3 per cause kind, one bar per ranker."""
    plt = _pyplot()
    names = list(results)
    kinds = list(next(iter(results.values()))["by_kind"])
    x = np.arange(len(kinds))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for i, n in enumerate(names):
        ax.bar(x + i * width - 0.4 + width / 2, [results[n]["by_kind"][k]["AC@3"] for k in kinds], width, label=n)
    ax.set_xticks(x, kinds, rotation=35, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("AC@3")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(names), 3), fontsize="small",
              frameon=False)
    return _save(fig, path)


def lacking_bars(rows: list[dict], path: Path, *, ranker: str = "ranker") -> Path:
    """AC@1 per family combination removed (one row each, `rca.ranking.report.lacking_rows`), the ranker in use
    beside the heuristic scorer."""
    return paired_bars([f"{r['without']} (n={r['n']})" for r in rows],
                       {ranker: [r["ranker"]["AC@1"] for r in rows],
                        "heuristic": [r["heuristic"]["AC@1"] for r in rows]},
                       path, xlabel="AC@1 (node and kind) without ...")


def paired_bars(labels: list[str], pair: dict[str, list[float]], path: Path, *, xlabel: str) -> Path:
    """Two horizontal bars per label (the first series above the second), scores in [0, 1], labels top down;
    horizontal so long labels stay readable."""
    plt = _pyplot()
    y = np.arange(len(labels))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(labels) + 1.0))
    for offset, (name, values) in zip((0.2, -0.2), pair.items()):
        ax.barh(y + offset, values, 0.4, label=name)
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize="small", frameon=False)
    return _save(fig, path)


def reliability(table: list[dict], path: Path) -> Path:
    """Reliability diagram: accuracy vs mean confidence per bin, the diagonal is perfect calibration."""
    plt = _pyplot()
    rows = [r for r in table if r["count"]]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.scatter([r["confidence"] for r in rows], [r["accuracy"] for r in rows],
               s=[20 + 3 * r["count"] for r in rows])
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("top-1 accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _pyplot().close(fig)
    return path
