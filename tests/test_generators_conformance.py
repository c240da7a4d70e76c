"""Every registered generator: deterministic, evidence on every hypothesis, incident-only bundle -> nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rca.contract.load import load_bundle
from rca.contract.models import NODE_KIND_OF_CAUSE, CauseKind
from rca.contract.nodes import node_kind
from rca.generators import get_generator, registered
from tests.builders import INCIDENT


def _summary(cands):
    return ([(h.node, str(h.kind), h.score, h.onset, sorted(h.features.items()),
              [e.model_dump() for e in h.evidence]) for h in cands.hypotheses],
            [(a.node, a.signal, a.score) for a in cands.anomalies])


def test_registry_has_the_data_side_generators():
    assert {"events", "histograms", "kpi_segments", "kpis", "metrics", "predictions", "samples", "segments",
            "traces"} == set(registered())


@pytest.mark.parametrize("name", registered())
def test_incident_only_bundle_gives_nothing(name, tmp_path: Path):
    (tmp_path / "incident.json").write_text(json.dumps(INCIDENT))
    cands = get_generator(name).generate(load_bundle(tmp_path))
    assert cands.hypotheses == [] and cands.anomalies == []


@pytest.mark.parametrize("name", registered())
def test_deterministic_with_evidence_and_right_node_kind(name, bundle_dir: Path):
    bundle = load_bundle(bundle_dir)
    first, second = get_generator(name).generate(bundle), get_generator(name).generate(bundle)
    assert _summary(first) == _summary(second)
    for h in first.hypotheses:
        assert h.evidence, f"{name}: {h.node} {h.kind} has no evidence"
        assert h.score >= 0 and h.generator == name
        assert node_kind(h.node) == NODE_KIND_OF_CAUSE[CauseKind(h.kind)]
        assert all(isinstance(v, float) for v in h.features.values())


def test_per_bundle_results_are_computed_once_per_bundle_and_options(tmp_path: Path):
    import dataclasses

    from rca.generators.base import per_bundle

    calls = []

    @per_bundle
    def derived(bundle, *, scale: float = 2.0):
        calls.append(scale)
        return [scale]

    (tmp_path / "incident.json").write_text(json.dumps(INCIDENT))
    bundle = load_bundle(tmp_path)
    assert derived(bundle) is derived(bundle, scale=2.0)  # defaults filled in: one entry
    assert derived(bundle, scale=3.0) == [3.0]
    assert calls == [2.0, 3.0]
    derived(dataclasses.replace(bundle))  # a copy starts without the kept results
    assert calls == [2.0, 3.0, 2.0]
