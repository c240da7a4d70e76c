from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from rca.cli import _extra_schemas
from rca.contract.schemas import stale_schemas
from rca.service import analyze_path

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def test_committed_schemas_are_current():
    stale = stale_schemas(SCHEMAS, extra=_extra_schemas())
    assert stale == [], f"run `./dev rca schemas` to regenerate: {stale}"


def test_answer_validates_against_its_schema(bundle_dir):
    schema = json.loads((SCHEMAS / "answer.schema.json").read_text())
    for written in (analyze_path(bundle_dir).model_dump_json(exclude_none=True),   # as the store keeps it
                    analyze_path(bundle_dir).model_dump_json()):                   # as the API and CLI show it
        jsonschema.validate(json.loads(written), schema)


def _cli_answer(bundle: Path, capsys) -> dict:
    """`rca analyze BUNDLE --format json`'s answer, checked against the answer's schema."""
    from rca.cli import main

    try:
        main(["analyze", str(bundle), "--format", "json"])
    except SystemExit as exc:
        assert exc.code == 0
    answer = json.loads(capsys.readouterr().out)
    jsonschema.validate(answer, json.loads((SCHEMAS / "answer.schema.json").read_text()))
    return answer


def test_cli_answer_of_a_bundle_without_an_id_says_so(bundle_dir, capsys):
    """`incident` was left out (the schema requires it, null when the bundle has no id)."""
    incident = json.loads((bundle_dir / "incident.json").read_text())
    del incident["id"]
    (bundle_dir / "incident.json").write_text(json.dumps(incident))
    answer = _cli_answer(bundle_dir, capsys)
    assert answer["incident"] is None and answer["causes"]


def test_incident_schema_accepts_the_contract_example():
    example = {"id": "inc-0042", "model": "fraud-scorer", "detected_at": "2026-11-20T14:05:00Z",
               "baseline": {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"},
               "current": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T14:00:00Z"},
               "symptom": {"node": "kpi:approval_rate", "direction": "down"}}
    jsonschema.validate(example, json.loads((SCHEMAS / "incident.schema.json").read_text()))


def test_cli_answer_for_the_example_validates(capsys):
    answer = _cli_answer(SCHEMAS.parent / "examples" / "feature-store-outage", capsys)
    assert answer["incident"] == "feature-store-outage" and answer["causes"]
