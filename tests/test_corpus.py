"""The committed corpus (labeled_incidents/) and the manifest functions of rca.corpus."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rca.contract import CauseKind, Label, load_label, validate_bundle
from rca.corpus import add_incident, build_corpus, incidents, read_manifest
from rca.errors import ConfigError
from tests.builders import write_minimal_bundle

CORPUS = Path(__file__).resolve().parent.parent / "labeled_incidents"


@pytest.fixture(scope="module")
def manifest():
    entries = read_manifest(CORPUS)
    if not entries:
        pytest.fail("labeled_incidents/manifest.csv is missing; run `rca corpus build`")
    return entries


def test_every_kind_has_30_and_6_test_incidents(manifest):
    assert len(manifest) >= 360
    per_kind = Counter(k for e in manifest for k in e.kinds)
    assert set(per_kind) == {str(k) for k in CauseKind}
    assert min(per_kind.values()) >= 30
    test_kinds = Counter(k for e in manifest if e.split == "test" for k in e.kinds)
    assert min(test_kinds[str(k)] for k in CauseKind) >= 6


def test_splits_are_ordered_by_time(manifest):
    order = {"train": 0, "validation": 1, "test": 2}
    ranks = [order[e.split] for e in sorted(manifest, key=lambda e: (e.detected_at, e.id))]
    assert ranks == sorted(ranks)
    last_train = max(e.detected_at for e in manifest if e.split == "train")
    assert all(e.detected_at > last_train for e in manifest if e.split == "test")


def test_a_sample_of_bundles_validates_and_matches_its_manifest_row(manifest):
    rng = np.random.default_rng(0)
    for i in rng.choice(len(manifest), 6, replace=False):
        entry = manifest[int(i)]
        assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
        assert validate_bundle(entry.path) == []
        label = load_label(entry.path)
        assert tuple(str(c.kind) for c in label.causes) == entry.kinds
        assert tuple(c.node for c in label.causes) == entry.nodes


def test_corpus_is_compact():
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total < 100 * 1024**2


def test_nested_corpora_are_valid_and_their_ids_unique(manifest):
    from rca.corpus import training_corpora

    nested = training_corpora(CORPUS)[1:]
    assert nested, "labeled_incidents/ has no nested corpus (the extra service-mesh incidents)"
    ids = [e.id for e in manifest]
    for corpus in nested:
        entries = read_manifest(corpus)
        ids += [e.id for e in entries]
        entry = entries[len(entries) // 2]
        assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
        assert validate_bundle(entry.path) == []
    assert len(ids) == len(set(ids))


def test_mesh_only_corpus_spreads_its_incidents_over_time(tmp_path):
    entries = build_corpus(tmp_path / "m", n=0, seed=3, mesh=5)
    assert [e.id for e in entries] == [f"mesh-3-{j:04d}" for j in range(5)]
    assert len({e.detected_at for e in entries}) == 5
    assert [e.split for e in entries] == ["train", "train", "train", "validation", "test"]
    with pytest.raises(ConfigError, match="at least one"):
        build_corpus(tmp_path / "empty", n=0, seed=3, mesh=0)


def test_build_is_deterministic_and_add_incident_resplits(tmp_path):
    a = build_corpus(tmp_path / "a", n=5, seed=3)
    b = build_corpus(tmp_path / "b", n=5, seed=3)
    assert [e.sha256 for e in a] == [e.sha256 for e in b]
    assert (tmp_path / "a" / "manifest.csv").read_text() == (tmp_path / "b" / "manifest.csv").read_text()
    reviewed = write_minimal_bundle(tmp_path / "reviewed")
    label = Label.model_validate({"causes": [{"node": "feature:amount", "kind": "data_drift"}], "source": "review"})
    entry = add_incident(tmp_path / "a", reviewed, label, source="review", detected_at="2027-01-01T00:00:00Z")
    assert entry.split == "test" and entry.source == "review"
    assert [e.id for e in incidents(tmp_path / "a", "test")][-1] == "inc-test"
    assert len(read_manifest(tmp_path / "a")) == 6
    with pytest.raises(ConfigError, match="already"):
        add_incident(tmp_path / "a", reviewed, label, source="review", detected_at="2027-01-01T00:00:00Z")
    with pytest.raises(ConfigError, match="split"):
        incidents(tmp_path / "a", "holdout")
    # a rebuild keeps the reviewed incident
    rebuilt = build_corpus(tmp_path / "a", n=5, seed=3)
    assert sum(e.source == "review" for e in rebuilt) == 1
