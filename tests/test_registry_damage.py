"""The registry after a kill or a damaged file: a promotion cut short is completed, a damaged model is refused
before LightGBM reads it (it aborted the process), a version is stored whole or not at all, and one damaged version
does not hide the others."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rca.config import Settings
from rca.errors import ConfigError
from rca.ranking.lgbm import LgbmRanker
from rca.ranking.registry import RankerRegistry
from rca.ranking.train import train_ranker
from tests.rank_builders import synthetic_table


@pytest.fixture(scope="module")
def ranker():
    return train_ranker(synthetic_table(30))


def _versions(registry, ranker, n):
    days = pd.date_range("2026-01-01", periods=n, freq="D", tz="UTC")
    return [registry.save(ranker, now=day.to_pydatetime()) for day in days]


def test_a_promotion_cut_short_after_its_log_line_is_completed_and_rolls_back_along_the_log(tmp_path, ranker):
    """Killed between the log line and the pointer swap: the pointer still named A while the log's stack held B,
    the next promotion logged 'was A', and a rollback then restored B, which had never served."""
    registry = RankerRegistry(tmp_path / "rankers")
    a, b, c = _versions(registry, ranker, 3)
    registry.promote(a, "first")
    with registry.log.open("a") as f:   # what a promote of b killed after its log line leaves
        f.write(json.dumps({"action": "promote", "at": "2026-12-07T03:11:16+00:00", "previous": a,
                            "reason": "b", "version": b}) + "\n")
    assert registry.champion_version() == a
    assert registry.settle() == b                         # what `rca rankers list` and every change do first
    entry = registry.promote(c, "third")
    assert entry["previous"] == b and registry.champion_version() == c
    assert registry.rollback("c is bad")["version"] == b and registry.champion_version() == b
    assert registry.rollback("b too")["version"] == a


def test_a_damaged_model_file_is_refused_before_lightgbm_reads_it(tmp_path, ranker):
    """A truncated model file made LightGBM abort the process (SIGABRT, exit 134): `rca rankers promote` died and
    a running service with it."""
    registry = RankerRegistry(tmp_path / "rankers")
    (version,) = _versions(registry, ranker, 1)
    model = registry.root / version / "model.txt"
    model.write_text(model.read_text()[:5000])
    with pytest.raises(ValueError, match="model.txt is not the file that was saved"):
        LgbmRanker.load(registry.root / version)
    with pytest.raises(ConfigError, match="is not the file that was saved") as refused:
        registry.promote(version, "x")
    assert registry.champion_version() is None
    assert str(refused.value).endswith("damaged or changed since\", expected the model files and meta.json a "
                                       "trained ranker's save writes")   # it was cut mid-sentence at 80 characters


def test_a_model_file_without_its_sum_that_lightgbm_cannot_read_is_named(tmp_path, ranker):
    """Versions saved before the sums: the message was 'JSONDecodeError: Extra data: ...' or LightGBM's own, without
    the file."""
    registry = RankerRegistry(tmp_path / "rankers")
    (version,) = _versions(registry, ranker, 1)
    meta = json.loads((registry.root / version / "meta.json").read_text())
    del meta["model_sha256"]
    (registry.root / version / "meta.json").write_text(json.dumps(meta))
    (registry.root / version / "model.txt").write_text("tree\nnot a model\n")
    with pytest.raises(ConfigError, match="model.txt is no model LightGBM can read"):
        registry.promote(version, "x")
    (registry.root / version / "meta.json").write_text(json.dumps(meta) + "\n{}")
    with pytest.raises(ConfigError, match="meta.json is not JSON"):
        registry.load(version)


def test_a_save_cut_short_leaves_no_version(tmp_path, ranker, monkeypatch):
    """A kill while meta.json was written left a version whose meta.json did not parse, and every listing of the
    registry failed on it."""
    registry = RankerRegistry(tmp_path / "rankers")
    (kept,) = _versions(registry, ranker, 1)

    def killed(self, directory):
        (directory / "meta.json").write_text('{"feature_names": [')
        raise KeyboardInterrupt

    monkeypatch.setattr(LgbmRanker, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        registry.save(ranker)
    assert registry.versions() == [kept]


def test_a_damaged_meta_json_is_listed_as_damaged_beside_the_others(tmp_path, ranker):
    from rca.service import list_rankers

    settings = Settings(data_dir=tmp_path / "var", rankers_dir=tmp_path / "rankers")
    registry = RankerRegistry(tmp_path / "rankers")
    good, bad = _versions(registry, ranker, 2)
    (registry.root / bad / "meta.json").write_text('{"feature_names": [')
    listing = {v["version"]: v for v in list_rankers(settings)["versions"]}
    assert listing[good]["n_training_incidents"] > 0 and "damaged" not in listing[good]
    assert listing[bad]["damaged"].endswith("expected the JSON object a trained ranker's save writes")


def test_an_incident_in_two_training_corpora_is_refused(tmp_path, monkeypatch):
    """A corpus copied into another merged each incident's two copies into one ranking group (validation NDCG@5
    1.23) and trained on incidents the gate then validated on; the challenger was promoted."""
    from rca.ranking import train

    a, b = tmp_path / "a", tmp_path / "b"
    tables = {a: synthetic_table(10), b: synthetic_table(10, seed=1)}
    monkeypatch.setattr(train, "training_corpora", lambda d: [Path(d)])
    monkeypatch.setattr(train, "materialized", lambda c, progress: c)
    monkeypatch.setattr(train, "build_training_table", lambda d, splits, **kw: tables[d])
    with pytest.raises(ConfigError, match=r"b: got 'inc-000', expected incident ids not already in .*a: each incident "
                                          "once among the training corpora"):
        train.training_table([a, b])
    tables[b] = synthetic_table(10)
    tables[b].incidents["incident_id"] = "other-" + tables[b].incidents["incident_id"]
    assert len(train.training_table([a, b]).incidents) == 20


def test_promoting_the_champion_again_changes_nothing(tmp_path, ranker):
    """It logged a second promotion of the same version, so a later rollback 'rolled back' to the same champion."""
    from rca.errors import ConflictError

    registry = RankerRegistry(tmp_path / "rankers")
    (a,) = _versions(registry, ranker, 1)
    registry.promote(a, "first")
    with pytest.raises(ConflictError, match=f"{a} is the champion already; nothing changed"):
        registry.promote(a, "again")
    assert [e["action"] for e in registry.history()] == ["promote"]


def test_a_registry_or_data_directory_that_cannot_be_written_is_a_config_error(tmp_path, ranker):
    """`rca train` trained fully and then failed with a traceback (OSError) at saving; `rca train`, `rca retrain` and
    `rca rankers prune` failed with one at the retrain lock."""
    from rca.service import _one_retrain

    (tmp_path / "rankers").write_text("a file, as a read-only mount is to mkdir")
    with pytest.raises(ConfigError, match="expected a registry directory this process can write to"):
        RankerRegistry(tmp_path / "rankers").save(ranker)
    (tmp_path / "var" / ".retrain.lock").mkdir(parents=True)   # a lock that cannot be opened (a read-only mount)
    settings = Settings(data_dir=tmp_path / "var")
    with pytest.raises(ConfigError, match=r"RCA_DATA_DIR: got .*expected a directory this process can write to"):
        with _one_retrain(settings, "rca train", busy=""):
            pass
