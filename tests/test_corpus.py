"""The committed corpus (labeled_incidents/) and the manifest functions of rca.corpus."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rca.contract import CauseKind, Label, load_label, validate_bundle
from rca.corpus import (Recipe, add_incident, build_corpus, build_planned, corpus_plan, incidents, materialize,
                        read_manifest, read_recipe, sha256_of, training_corpora, write_recipe)
from rca.errors import BundleError, ConfigError
from rca.fingerprint import fingerprint_archive, same_content
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


def test_nested_corpora_are_valid_and_their_ids_unique(manifest, tmp_path):
    nested = training_corpora(CORPUS)[1:]
    assert nested, "labeled_incidents/ has no nested corpus (the extra service-mesh incidents)"
    assert any(read_recipe(c) is not None for c in nested), "no recipe corpus (sim-13)"
    ids = [e.id for e in manifest]
    for corpus in nested:
        entries = read_manifest(corpus)
        ids += [e.id for e in entries]
        recipe = read_recipe(corpus)
        if recipe is None:
            entry = entries[len(entries) // 2]
        else:
            # the recipe's plan is the manifest's incidents; one of them, regenerated, has the pinned bytes
            plan = corpus_plan(recipe.n, recipe.seed, recipe.mesh)
            assert [p[0] for p in plan] == [e.id for e in entries]
            middle = len(plan) // 2
            entry = build_planned(tmp_path / corpus.name, plan[middle], **recipe.options)
            assert entry.id == entries[middle].id
            if entry.sha256 != entries[middle].sha256:   # written on a CPU that rounds otherwise: same content?
                pinned = json.loads((corpus / "fingerprints.json").read_text())[entry.id]
                assert same_content(fingerprint_archive(entry.path), pinned) is None, \
                    f"{corpus}: the simulator changed; rebuild the recipe"
        assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
        assert validate_bundle(entry.path) == []
    assert len(ids) == len(set(ids))


def test_a_recipe_corpus_is_generated_once_and_checked_against_its_manifest(tmp_path):
    cache = tmp_path / "cache"
    entries = write_recipe(tmp_path / "top" / "m", n=0, seed=3, mesh=3, cache_root=cache)
    assert sorted(p.name for p in (tmp_path / "top" / "m").iterdir()) == ["fingerprints.json", "manifest.csv",
                                                                            "recipe.json"]
    assert training_corpora(tmp_path / "top") == [tmp_path / "top", tmp_path / "top" / "m"]
    where = materialize(tmp_path / "top" / "m", cache_root=cache)
    assert where == cache.resolve() / "m" and [e.id for e in read_manifest(where)] == [e.id for e in entries]
    built = {p: p.stat().st_mtime_ns for p in (where / "bundles").iterdir()}
    assert materialize(tmp_path / "top" / "m", cache_root=cache) == where          # reused, not rebuilt
    assert {p: p.stat().st_mtime_ns for p in (where / "bundles").iterdir()} == built
    # a damaged archive is regenerated; a manifest the simulator cannot reproduce is an error
    entries[0].path.write_bytes(b"not an archive")
    materialize(tmp_path / "top" / "m", cache_root=cache)
    assert sha256_of(entries[0].path) == entries[0].sha256
    # a manifest written on another CPU has other bytes for some archives: their fingerprints vouch for them
    manifest, prints = tmp_path / "top" / "m" / "manifest.csv", tmp_path / "top" / "m" / "fingerprints.json"
    manifest.write_text(manifest.read_text().replace(entries[1].sha256, "0" * 64))
    assert materialize(tmp_path / "top" / "m", cache_root=cache) == where
    # ...unless the content differs too: the simulator changed since the recipe was written
    pinned = json.loads(prints.read_text())
    pinned[entries[1].id]["metrics.parquet"]["sums"]["value"][0] *= 1.01
    prints.write_text(json.dumps(pinned))
    with pytest.raises(ConfigError, match=f"{entries[1].id}: metrics.parquet: value.*--recipe"):
        materialize(tmp_path / "top" / "m", cache_root=cache)
    del pinned[entries[1].id]["metrics.parquet"]["sums"]               # a damaged file: named, no traceback
    prints.write_text(json.dumps(pinned))
    with pytest.raises(BundleError, match="fingerprints.json"):
        materialize(tmp_path / "top" / "m", cache_root=cache)
    prints.unlink()                       # a recipe from before fingerprints: bytes decide
    with pytest.raises(ConfigError, match=f"{entries[1].id}: other bytes and no fingerprint"):
        materialize(tmp_path / "top" / "m", cache_root=cache)


def test_a_recipe_with_views_regenerates_its_views(tmp_path):
    cache = tmp_path / "cache"
    entries = write_recipe(tmp_path / "v", n=0, seed=3, mesh=2, views=True, cache_root=cache)
    assert read_recipe(tmp_path / "v").views is True
    shutil.rmtree(cache)                                  # regenerated from the recipe alone
    where = materialize(tmp_path / "v", cache_root=cache)
    assert [sha256_of(e.path) for e in read_manifest(where)] == [e.sha256 for e in entries]
    assert all(load_label(e.path).model_dump().get("views") for e in read_manifest(where))


def test_a_recipe_with_traffic_regenerates_it_and_says_so_when_it_cannot(tmp_path):
    cache = tmp_path / "cache"
    entries = write_recipe(tmp_path / "t", n=0, seed=3, mesh=2, traffic=True, cache_root=cache)
    assert read_recipe(tmp_path / "t") == Recipe(0, 2, 3, views=False, traffic=True)
    plain = build_corpus(tmp_path / "plain", n=0, seed=3, mesh=2)
    assert [e.sha256 for e in plain] != [e.sha256 for e in entries]        # the option changes the incidents
    shutil.rmtree(cache)
    assert [sha256_of(e.path) for e in read_manifest(materialize(tmp_path / "t", cache_root=cache))] == \
        [e.sha256 for e in entries]
    (tmp_path / "t" / "recipe.json").write_text('{"n": 0, "mesh": 2, "seed": 3}')     # the flag lost
    shutil.rmtree(cache)
    with pytest.raises(ConfigError, match="--mesh 2 --seed 3 --recipe"):
        materialize(tmp_path / "t", cache_root=cache)


def test_a_recipe_with_deploys_keeps_the_option(tmp_path):
    cache = tmp_path / "cache"
    entries = write_recipe(tmp_path / "d", n=2, seed=9, deploys=True, cache_root=cache)
    assert read_recipe(tmp_path / "d") == Recipe(2, 0, 9, deploys=True) and read_recipe(tmp_path / "d").flags == \
        " --deploys"
    shutil.rmtree(cache)                                  # regenerated from the recipe alone, option included
    assert [sha256_of(e.path) for e in read_manifest(materialize(tmp_path / "d", cache_root=cache))] == \
        [e.sha256 for e in entries]


def test_a_recipe_with_fanout_keeps_the_option(tmp_path):
    cache = tmp_path / "cache"
    entries = write_recipe(tmp_path / "f", n=0, seed=3, mesh=2, fanout=True, cache_root=cache)
    assert read_recipe(tmp_path / "f") == Recipe(0, 2, 3, fanout=True) and read_recipe(tmp_path / "f").flags == \
        " --fanout"
    plain = build_corpus(tmp_path / "plain", n=0, seed=3, mesh=2)
    assert [e.sha256 for e in plain] != [e.sha256 for e in entries]        # the option changes the incidents
    shutil.rmtree(cache)
    assert [sha256_of(e.path) for e in read_manifest(materialize(tmp_path / "f", cache_root=cache))] == \
        [e.sha256 for e in entries]


@pytest.mark.parametrize("text, field", [("[1]", None), ('{"n": 1, "mesh": -1, "seed": 0}', "mesh"),
                                         ('{"n": 1, "mesh": 0}', "seed"), ("{", None),
                                         ('{"n": 1, "mesh": 0, "seed": 0, "views": 1}', "views"),
                                         ('{"n": 1, "mesh": 0, "seed": 0, "traffic": "yes"}', "traffic"),
                                         ('{"n": 1, "mesh": 0, "seed": 0, "deploys": 1}', "deploys"),
                                         ('{"n": 1, "mesh": 0, "seed": 0, "fanout": "true"}', "fanout")])
def test_a_bad_recipe_names_its_file_and_field(tmp_path, text, field):
    (tmp_path / "recipe.json").write_text(text)
    with pytest.raises(BundleError) as err:
        read_recipe(tmp_path)
    assert err.value.file.endswith("recipe.json") and err.value.field == field


ROW = {"id": "inc-1", "detected_at": "2026-11-20T14:05:00Z", "split": "train", "kinds": "data_drift;dependency_latency",
       "nodes": "feature:amount;service:api", "n_causes": "2", "source": "review", "path": "bundles/inc-1.tar.gz",
       "sha256": "0f" * 32}


def _manifest_of(corpus: Path, *changes: dict) -> Path:
    """A manifest (no bundles) of `ROW` and then one row per ``changes``: `ROW` with these values, its own id."""
    corpus.mkdir(parents=True, exist_ok=True)
    rows = [ROW, *({**ROW, "id": f"inc-{i}", "path": f"bundles/inc-{i}.tar.gz", **change}
                   for i, change in enumerate(changes, start=2))]
    with open(corpus / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROW), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return (corpus / "manifest.csv").resolve()


@pytest.mark.parametrize("field, value, expected", [
    ("split", "valdation", "'valdation' is not a split; expected train, review, validation or test"),
    ("kinds", "data_drift;dependency_latncy", "'dependency_latncy' is not a cause kind; expected kinds separated "
                                              "by ';' among data_drift, training_serving_skew, "),
    ("kinds", "data_drift;", "'' is not a cause kind"),
    ("nodes", "feature:amount", "kinds lists 2 causes and nodes 1; expected one node per kind, in the same order"),
    ("nodes", "feature:amount;service:api;service:db", "kinds lists 2 causes and nodes 3"),
    ("n_causes", "1", "'1'; expected 2, the number of causes kinds and nodes list"),
    ("n_causes", "two", "'two'; expected 2, the number of causes"),
    ("sha256", "0f0f", "'0f0f' is not a sha256; expected 64 lowercase hex digits (the archive's) or nothing"),
    ("sha256", "0F" * 32, "is not a sha256"),               # sha256_of's digest is lowercase: never equal to it
    ("sha256", "0f" * 31 + "0g", "is not a sha256"),
    ("id", "inc-2", "'inc-2' again, first at row 2; expected each incident id once in a manifest"),
])
def test_a_bad_manifest_value_names_the_manifest_row_and_field(tmp_path, field, value, expected):
    """A split with a typo left the incident out of every split without a word; a manifest's causes were not
    checked at all; an id twice was refused by training only once every feature row was built, and never by
    `rca evaluate`, whose metrics took the two incidents as one ranking group."""
    manifest = _manifest_of(tmp_path / "labeled" / "nested", {}, {field: value})
    with pytest.raises(BundleError, match=re.escape(expected)) as err:
        read_manifest(manifest.parent)
    assert (err.value.file, err.value.row, err.value.field) == (str(manifest), 3, field)
    assert str(err.value).startswith(f"{manifest}, row 3, field '{field}': ")


def test_a_short_manifest_row_names_its_first_missing_value(tmp_path):
    manifest = _manifest_of(tmp_path / "c", {})
    lines = manifest.read_text().splitlines()
    short = lines[-1].replace("inc-2", "inc-3").rsplit(",", 3)[0]                   # no source, path nor sha256
    manifest.write_text("\n".join([*lines, short]) + "\n")
    with pytest.raises(BundleError) as err:
        read_manifest(manifest.parent)
    assert str(err.value) == f"{manifest}, row 3, field 'source': empty or missing value"
    assert len(read_manifest(_manifest_of(tmp_path / "d", {"sha256": ""}).parent)) == 2   # an empty sha256 is allowed


def test_a_manifest_row_with_more_values_than_columns_is_refused_not_cut(tmp_path):
    # an unquoted comma in a path: csv.DictReader keeps the values past the header aside, and they were ignored
    manifest = _manifest_of(tmp_path / "c", {})
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*lines[:-1], lines[-1] + ",extra,more"]) + "\n")
    with pytest.raises(BundleError) as err:
        read_manifest(manifest.parent)
    assert str(err.value) == (f"{manifest}, row 2: 2 value(s) past the header's {len(lines[0].split(','))} columns, "
                              "the first 'extra'; expected one value per column (quote a value holding a comma)")


def test_rca_corpus_check_names_each_incident_that_breaks_its_manifest_row(tmp_path, capsys):
    from rca.cli import main

    corpus = tmp_path / "c"
    entries = build_corpus(corpus, n=3, seed=3)
    nested = build_corpus(corpus / "nested", n=2, seed=4)
    with pytest.raises(SystemExit) as exit_info:
        main(["corpus", "check", str(corpus)])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"{corpus}: 5/5 incidents valid\n"
    # one label names another kind than the manifest; one archive's bytes are not the manifest's
    rows = list(csv.DictReader(open(corpus / "manifest.csv")))
    other = next(k for k in CauseKind if k.value != rows[0]["kinds"])
    rows[0]["kinds"] = other.value
    with open(corpus / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (nested[1].path).write_bytes(nested[1].path.read_bytes() + b"\0")
    with pytest.raises(SystemExit) as exit_info:
        main(["corpus", "check", str(corpus)])
    out = capsys.readouterr().out.splitlines()
    assert exit_info.value.code == 1 and out[-1] == f"{corpus}: 3/5 incidents valid"
    assert out[0].startswith(f"{entries[0].id}: label.json's causes {entries[0].nodes[0]} {entries[0].kinds[0]} "
                             f"differ from the manifest's {rows[0]['nodes']} {other.value}")
    assert any(line.startswith(f"{nested[1].id}: ") for line in out[1:-1])


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


def test_cli_writes_a_recipe_and_refuses_a_corpus_with_bundles(tmp_path, monkeypatch, capsys):
    from rca.cli import main
    from rca.config import get_settings

    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        args = ["corpus", "build", "--n", "0", "--mesh", "2", "--seed", "3", "--recipe"]
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--out", str(tmp_path / "r")])
        assert exit_info.value.code == 0 and "2 incidents" in capsys.readouterr().out
        assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["fingerprints.json", "manifest.csv",
                                                                       "recipe.json"]
        assert materialize(tmp_path / "r") == (tmp_path / "data" / "corpora" / "r").resolve()
        build_corpus(tmp_path / "full", n=0, seed=3, mesh=1)
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--out", str(tmp_path / "full")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "bundles/" in err and "Traceback" not in err
    finally:
        get_settings.cache_clear()


def test_a_rebuild_that_stops_half_way_leaves_the_corpus_whole(tmp_path, monkeypatch):
    import rca.corpus

    build_corpus(tmp_path / "c", n=2, seed=3)
    before = (tmp_path / "c" / "manifest.csv").read_text()
    built = []

    def fail_on_second(*args, **kwargs):
        if built:
            raise KeyboardInterrupt
        built.append(build_planned(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(rca.corpus, "build_planned", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(tmp_path / "c", n=2, seed=4)
    assert (tmp_path / "c" / "manifest.csv").read_text() == before
    assert all(e.path.is_file() and sha256_of(e.path) == e.sha256 for e in read_manifest(tmp_path / "c"))
    monkeypatch.undo()
    rebuilt = build_corpus(tmp_path / "c", n=2, seed=4)  # the superseded archives go once the new manifest is in
    assert sorted(p.name for p in (tmp_path / "c" / "bundles").iterdir()) == sorted(e.path.name for e in rebuilt)
