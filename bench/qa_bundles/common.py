"""What both generators share: the description of one bundle, and writing its incident and its truth."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class QaBundle:
    """One QA bundle: what it imitates, the fault injected, its true cause, and how to write it.

    ``write(folder, scale)`` writes the bundle into ``folder`` (which it creates); ``scale`` (0 < scale <= 1) is
    the share of the QA's traffic to write, used by the trace bundles only (the metric bundles are small).
    """

    name: str
    family: str                  # "metrics" | "traces"
    style: str                   # the source the bundle imitates
    fault: str                   # the injected fault, in words
    node: str                    # the true cause, as the label names it
    kind: str
    write: Callable[[Path, float], Path]


def iso(t: pd.Timestamp) -> str:
    """``2026-11-20T14:00:00Z``: the spelling exporters use, which the contract reads."""
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_incident(folder: Path, *, name: str, baseline: tuple, current: tuple, detected: pd.Timestamp,
                   symptom: dict | None, node: str, kind: str, note: str) -> None:
    """``incident.json`` (windows, symptom) and ``label.json`` (the one true cause) of a QA bundle."""
    incident = {"id": name, "model": "storefront", "detected_at": iso(detected),
                "baseline": {"start": iso(baseline[0]), "end": iso(baseline[1])},
                "current": {"start": iso(current[0]), "end": iso(current[1])}}
    if symptom:
        incident["symptom"] = symptom
    (folder / "incident.json").write_text(json.dumps(incident, indent=1))
    (folder / "label.json").write_text(json.dumps({"causes": [{"node": node, "kind": kind}], "source": "qa",
                                                   "notes": note}, indent=1))
