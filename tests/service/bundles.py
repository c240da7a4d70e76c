"""The example bundle of tests/builders in the three forms the API takes: inline JSON, .tar.gz, .zip."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pandas as pd

from tests.builders import write_minimal_bundle


def bundle_dir(root: Path, *, incident_id: str = "inc-test", symptom: str | None = None,
               seed: int = 0) -> Path:
    path = write_minimal_bundle(root / incident_id, seed=seed)
    incident = json.loads((path / "incident.json").read_text())
    incident["id"] = incident_id
    if symptom is not None:
        incident["symptom"] = {"node": symptom, "direction": "down"}
    (path / "incident.json").write_text(json.dumps(incident))
    (path / "label.json").unlink()  # what a trigger sends has no answer key
    return path


def inline(path: Path) -> dict:
    """The bundle directory as the API's inline JSON body."""
    body: dict = {"incident": json.loads((path / "incident.json").read_text()),
                  "graph": json.loads((path / "graph.json").read_text())}
    for stem in ("histograms", "traces", "events"):
        body[stem] = [json.loads(line) for line in (path / f"{stem}.jsonl").read_text().splitlines() if line]
    for stem in ("predictions", "metrics", "kpis"):
        file = next(path.glob(f"{stem}.*"))
        frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].map(lambda t: t.isoformat())
        body[stem] = json.loads(frame.to_json(orient="records"))
    return body


def tar_gz(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for file in sorted(path.iterdir()):
            tar.add(file, arcname=f"{path.name}/{file.name}")
    return buf.getvalue()


def zip_bytes(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for file in sorted(path.iterdir()):
            zf.write(file, arcname=file.name)
    return buf.getvalue()
