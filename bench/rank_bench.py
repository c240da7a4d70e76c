"""Time ranking one large bundle: load, candidates, graph, features, model.

    PYTHONPATH=. python bench/rank_bench.py [--dir /tmp/rca-bench]

Writes (once) a bundle with 100k predictions, 80 features x 30 serving buckets and 5k traces, then times
`rca.service.analyze_path` stage by stage. The target is under 1.5 s in total.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2026-11-19T00:00:00Z")


def write_bundle(root: Path, *, n_predictions=100_000, n_features=80, n_buckets=30, n_traces=5_000) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    (root / "incident.json").write_text(json.dumps({
        "id": "bench", "model": "m", "detected_at": "2026-11-20T14:05:00Z",
        "baseline": {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
        "current": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T06:00:00Z"},
        "symptom": {"node": "kpi:approval_rate", "direction": "down"}}))
    ts = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 30 * 3600, n_predictions)), unit="s")
    pd.DataFrame({"timestamp": ts, "model_version": "v1", "score": rng.uniform(size=n_predictions),
                  "country": rng.choice(["US", "BR", "DE"], n_predictions)}).to_parquet(root / "predictions.parquet")
    edges = list(np.linspace(0, 1, 11))
    lines = []
    for f in range(n_features):
        lines.append({"feature": f"f{f}", "role": "training", "type": "numeric", "edges": edges,
                      "counts": rng.integers(50, 100, 10).tolist()})
        for b in range(n_buckets):
            start = T0 + pd.Timedelta(hours=b)
            lines.append({"feature": f"f{f}", "role": "serving", "type": "numeric", "edges": edges,
                          "start": start.isoformat(), "end": (start + pd.Timedelta(hours=1)).isoformat(),
                          "counts": rng.integers(5, 10, 10).tolist()})
    (root / "histograms.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    services = ["api", "features", "model-server", "cache"]
    with (root / "traces.jsonl").open("w") as out:
        for t in range(n_traces):
            start = int((T0 + pd.Timedelta(seconds=float(rng.uniform(0, 30 * 3600)))).value)
            spans = []
            for i, svc in enumerate(services):
                spans.append({"resourceSpans": [{"resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": svc}}]}, "scopeSpans": [{"spans": [{
                        "traceId": f"{t:032x}", "spanId": f"{t:012x}{i:04x}",
                        "parentSpanId": "" if i == 0 else f"{t:012x}{0:04x}", "name": f"op{i}",
                        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000),
                        "status": {"code": 0}}]}]}]})
            out.write("\n".join(json.dumps(s) for s in spans) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=Path("/tmp/rca-bench"))
    root = parser.parse_args().dir
    if not (root / "incident.json").is_file():
        write_bundle(root)
    from rca.contract import load_bundle
    from rca.generators import generate_candidates
    from rca.graph import build_graph
    from rca.service import get_ranker

    ranker = get_ranker()
    t = [time.perf_counter()]
    bundle = load_bundle(root)
    t.append(time.perf_counter())
    candidates = generate_candidates(bundle)
    t.append(time.perf_counter())
    build_graph(bundle, candidates)
    t.append(time.perf_counter())
    answer = ranker.rank(bundle, candidates, top=10)
    t.append(time.perf_counter())
    for name, a, b in zip(("load", "candidates", "graph", "rank (graph+features+model)"), t, t[1:]):
        print(f"{name:<30} {b - a:7.3f} s")
    print(f"{'total (load+candidates+rank)':<30} {t[1] - t[0] + t[2] - t[1] + t[4] - t[3]:7.3f} s  "
          f"ranker {answer.ranker}, {len(answer.causes)} causes, {len(candidates.hypotheses)} hypotheses")


if __name__ == "__main__":
    main()
