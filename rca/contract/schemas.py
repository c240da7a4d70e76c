"""JSON Schema files for the contract, generated from the pydantic models into ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from rca.contract.models import (
    Answer,
    CategoricalHistogram,
    DependencyGraph,
    Event,
    Incident,
    Label,
    NumericHistogram,
)

SCHEMAS = {
    "incident.schema.json": TypeAdapter(Incident),
    "histogram.schema.json": TypeAdapter(NumericHistogram | CategoricalHistogram),
    "event.schema.json": TypeAdapter(Event),
    "graph.schema.json": TypeAdapter(DependencyGraph),
    "label.schema.json": TypeAdapter(Label),
    "answer.schema.json": TypeAdapter(Answer),
}


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of every contract schema (validation mode: what a producer may send)."""
    out = {}
    for name, adapter in SCHEMAS.items():
        schema = adapter.json_schema(mode="validation")
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$id": f"https://rca.invalid/schemas/{name}", **schema}
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path, *, extra: dict[str, str] | None = None) -> list[Path]:
    """Write every schema (and ``extra``: file name -> text) into ``directory``, which must exist."""
    written = []
    for name, text in {**render_schemas(), **(extra or {})}.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path, *, extra: dict[str, str] | None = None) -> list[str]:
    """Names of the schema files that are missing or differ from what the models generate."""
    stale = []
    for name, text in {**render_schemas(), **(extra or {})}.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
