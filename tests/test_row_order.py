"""The answer is a function of a bundle's content, not of the order of its rows or lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rca.contract import load_bundle
from rca.service import analyze

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _answer(root: Path) -> dict:
    return analyze(load_bundle(root)).model_dump(mode="json")


def test_events_at_the_same_time_rank_alike_in_any_line_order(tmp_path):
    # Two changes logged at the same second (a coordinated release): their order in events.jsonl used to
    # change the confidences of the whole answer.
    root = shutil.copytree(EXAMPLES / "feature-store-outage", tmp_path / "a")
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines() if line.strip()]
    assert len(events) >= 3
    for event in events:
        event["timestamp"] = events[-1]["timestamp"]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    other = shutil.copytree(root, tmp_path / "b")
    (other / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [events[1], events[2], events[0],
                                                                                 *events[3:]]))
    assert _answer(other) == _answer(root)
