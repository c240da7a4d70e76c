"""Fingerprints of bundle archives: equal across last-digit rounding, different for any real change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rca.corpus import sha256_of
from rca.fingerprint import fingerprint_archive, same_content
from rca.simulate.mesh import simulate_mesh_incident
from rca.simulate.write import archive


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fp") / "mesh"
    simulate_mesh_incident(out, seed=5, kind="dependency_latency")
    return out


def _archived(bundle: Path, tmp_path: Path, name: str, change=None) -> Path:
    """An archive of a copy of ``bundle`` after ``change(copy)``."""
    copy = tmp_path / name / bundle.name
    shutil.copytree(bundle, copy)
    if change is not None:
        change(copy)
    return archive(copy, tmp_path / f"{name}.tar.gz", root_name="mesh")


def _edit_metrics(edit):
    def change(copy: Path) -> None:
        frame = pd.read_parquet(copy / "metrics.parquet")
        frame = edit(frame)
        frame.to_parquet(copy / "metrics.parquet", index=False)
    return change


def _next_float(frame: pd.DataFrame) -> pd.DataFrame:
    x = frame["value"].to_numpy()
    return frame.assign(value=np.where(x != 0, np.nextafter(x, np.inf), 0.0))   # one ulp up (0 stays 0)


def _small_value(frame: pd.DataFrame) -> pd.DataFrame:
    i = frame["value"].where(frame["value"] > 0).idxmin()          # the smallest latency, beside request counts
    frame.loc[i, "value"] *= 1.001
    return frame


def _rename_one_service(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[3], "service"] = "elsewhere"
    return frame


def _drop_last_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:-1]


def _edit_json(name: str, old: str, new: str):
    def change(copy: Path) -> None:
        text = (copy / name).read_text()
        assert old in text
        (copy / name).write_text(text.replace(old, new))
    return change


@pytest.mark.parametrize("change, differs", [
    (None, None),
    (_edit_metrics(_next_float), None),                       # another CPU's rounding: the same content
    (_edit_metrics(_small_value), "metrics.parquet: value"),
    (_edit_metrics(_rename_one_service), "metrics.parquet: names, types, strings, row counts"),
    (_edit_metrics(_drop_last_row), "metrics.parquet: names, types, strings, row counts"),
    (_edit_json("incident.json", '"service-mesh"', '"other"'), "incident.json"),
    (_edit_json("label.json", '"seed": 5', '"seed": 6'), "label.json: seed"),
    (lambda c: (c / "notes.txt").write_text("x"), "files"),
])
def test_fingerprints_see_content_not_last_digits(bundle, tmp_path, change, differs):
    reference = fingerprint_archive(_archived(bundle, tmp_path, "reference"))
    other = _archived(bundle, tmp_path, "other", change)
    problem = same_content(fingerprint_archive(other), reference)
    if differs is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(differs), problem


def test_rounding_changes_the_bytes_but_not_the_fingerprint(bundle, tmp_path):
    a, b = _archived(bundle, tmp_path, "a"), _archived(bundle, tmp_path, "b", _edit_metrics(_next_float))
    assert sha256_of(a) != sha256_of(b)
    assert same_content(fingerprint_archive(a), fingerprint_archive(b)) is None
    # and it is what a JSON round trip (fingerprints.json) keeps
    assert same_content(json.loads(json.dumps(fingerprint_archive(a))), fingerprint_archive(b)) is None
