"""`rca why`: a hypothesis' score gap with another, split into feature contributions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rca.contract import load_bundle
from rca.errors import InputError
from rca.generators import generate_candidates
from rca.ranking.heuristic import HeuristicRanker
from rca.ranking.registry import packaged_champion
from rca.ranking.why import Contrast, Part, Placed, contrast, render_contrast
from rca.service import analyze
from tests.test_contract_errors import run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "feature-store-outage"


@pytest.fixture(scope="module")
def ranked():
    ranker = packaged_champion()
    assert ranker is not None, "the repository ships a champion"
    bundle = load_bundle(EXAMPLE)
    return bundle, generate_candidates(bundle), ranker, analyze(bundle, ranker=ranker, top=100)


def test_the_parts_sum_to_the_score_gap_and_the_places_are_the_answers(ranked):
    bundle, candidates, ranker, answer = ranked
    third = answer.causes[2]
    c = contrast(bundle, candidates, ranker, node=third.node, kind=third.kind.value, shown=5)
    assert (c.asked.node, c.asked.kind, c.asked.rank) == (third.node, third.kind.value, 3)
    assert (c.other.node, c.other.kind, c.other.rank) == (answer.causes[0].node, answer.causes[0].kind.value, 1)
    assert c.asked.confidence == pytest.approx(third.confidence, abs=1e-6)
    assert len(c.parts) == 5 and sum(p.contribution for p in c.parts) + c.rest == pytest.approx(c.gap, abs=1e-6)
    sizes = [abs(p.contribution) for p in c.parts]
    assert sizes == sorted(sizes, reverse=True)
    assert c.asked.confidence / c.other.confidence == pytest.approx(math.exp(c.gap / c.temperature), rel=1e-6)


def test_the_first_is_compared_with_the_second_and_any_other_can_be_named(ranked):
    bundle, candidates, ranker, answer = ranked
    first, second, fourth = answer.causes[0], answer.causes[1], answer.causes[3]
    c = contrast(bundle, candidates, ranker, node=first.node)      # its highest-ranked kind, against the 2nd
    assert (c.asked.rank, c.other.rank, c.other.node, c.other.kind) == (1, 2, second.node, second.kind.value)
    assert c.gap > 0
    c = contrast(bundle, candidates, ranker, node=first.node, versus=fourth.node, versus_kind=fourth.kind.value)
    assert c.other.rank == 4 and sum(p.contribution for p in c.parts) + c.rest == pytest.approx(c.gap, abs=1e-6)


def test_what_cannot_be_explained_says_why(ranked, bundle_dir):
    bundle, candidates, ranker, answer = ranked
    with pytest.raises(InputError, match="no hypothesis names service:nowhere: no generator proposed it"):
        contrast(bundle, candidates, ranker, node="service:nowhere")
    for blank in ("", "  "):  # was "no hypothesis names : no generator proposed it"
        with pytest.raises(InputError, match=r"a node is needed, the one asked about \(e.g. service:db\)$"):
            contrast(bundle, candidates, ranker, node=blank)
    node = answer.causes[0].node
    kinds = sorted({c.kind.value for c in answer.causes if c.node == node})
    with pytest.raises(InputError, match=f"as data_drift: it has hypotheses of kind {', '.join(kinds)} only"):
        contrast(bundle, candidates, ranker, node=node, kind="data_drift")
    with pytest.raises(InputError, match="does not split its scores"):
        contrast(bundle, candidates, HeuristicRanker(), node=node)
    metrics = pd.read_parquet(bundle_dir / "metrics.parquet")     # a service measured only since the incident
    current = metrics[metrics.timestamp >= pd.Timestamp("2026-11-20T08:00:00Z")]
    pd.concat([metrics, current.assign(service="newcomer", name="latency_p95")]).to_parquet(
        bundle_dir / "metrics.parquet")
    blind = load_bundle(bundle_dir)
    with pytest.raises(InputError, match="its metric series latency_p95 had too few baseline points"):
        contrast(blind, generate_candidates(blind), ranker, node="service:newcomer")


def test_an_absent_feature_value_is_null_in_json():
    place = Placed(node="service:a", kind="dependency_latency", rank=1, confidence=0.9, score=2.0)
    c = Contrast(ranker="lgbm-test", asked=place, other=place, temperature=1.0, rest=0.0,
                 parts=[Part(feature="metric.latency_z", value=None, other_value=3.0, contribution=0.5)])
    assert json.loads(c.model_dump_json())["parts"] == [{"feature": "metric.latency_z", "value": None,
                                                        "other_value": 3.0, "contribution": 0.5}]
    assert render_contrast(c).splitlines()[4].split()[-2:] == ["absent", "3"]


def test_the_command_prints_the_gap_as_a_table_or_json(capsys):
    code, out = run_cli(capsys, "why", str(EXAMPLE), "model:credit-risk@v41", "--features", "3")
    assert code in (0, None), out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("model:credit-risk@v41 (concept_drift) ranks ") and ", below service:" in lines[0]
    assert lines[-1].startswith("(the other features)") and len(lines) == 4 + 3 + 1
    code, out = run_cli(capsys, "why", str(EXAMPLE), "model:credit-risk@v41", "--format", "json")
    data = json.loads(out.out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert set(data) == {"ranker", "asked", "other", "gap", "temperature", "parts", "rest"} and len(data["parts"]) == 8
    code, out = run_cli(capsys, "why", str(EXAMPLE), "service:nowhere")
    assert code == 2 and out.err.startswith("error: field 'node': no hypothesis names service:nowhere")


def test_a_versus_kind_without_versus_is_refused_not_ignored(ranked, capsys):
    bundle, candidates, ranker, answer = ranked
    first = answer.causes[0]
    with pytest.raises(InputError, match="give versus too") as info:
        contrast(bundle, candidates, ranker, node=first.node, versus_kind=first.kind.value)
    assert info.value.field == "versus_kind"
    code, out = run_cli(capsys, "why", str(EXAMPLE), first.node, "--versus-kind", first.kind.value)
    assert code == 2 and out.err.startswith("error: field 'versus_kind': ") and "Traceback" not in out.err


@pytest.mark.parametrize("option", ["--kind", "--versus-kind"])
def test_a_kind_that_is_no_cause_kind_is_a_usage_error_naming_the_option(capsys, option):
    code, out = run_cli(capsys, "why", str(EXAMPLE), "model:credit-risk@v41", "--versus", "service:x", option, "bogus")
    assert code == 2 and "Traceback" not in out.err
    assert f"Invalid value for '{option}'" in out.err and "'bogus' is not one of" in out.err and "data_drift" in out.err
