"""`rca rankers prune`: the versions a rollback or the retrain gate needs stay, the newest others stay, the rest go."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rca.config import get_settings
from rca.errors import ConfigError, ConflictError, NotFoundError
from rca.ranking.registry import RankerRegistry
from rca.ranking.train import train_ranker
from tests.rank_builders import synthetic_table
from tests.test_contract_errors import run_cli


@pytest.fixture(scope="module")
def ranker():
    return train_ranker(synthetic_table(30))


def _registry(root, ranker, n: int) -> tuple[RankerRegistry, list[str]]:
    """``n`` versions of one small ranker, a day apart (the names, and so `versions`, in that order)."""
    registry = RankerRegistry(root)
    days = pd.date_range("2026-01-01", periods=n, freq="D", tz="UTC")
    return registry, [registry.save(ranker, now=day.to_pydatetime()) for day in days]


def _promote_and_roll_back(registry) -> list[dict]:
    """Stack [v1, v3, v5] (v5 champion), v6 rolled back, v0, v2, v4, v7, v8, v9 never promoted; returns the log."""
    v = registry.versions()
    for version in (v[1], v[3], v[5], v[6]):
        registry.promote(version, "better")
    registry.rollback("v6 misbehaves", by="ann")
    return registry.history()


def test_prune_keeps_the_stack_the_rolled_back_and_the_newest_and_deletes_the_rest(tmp_path, ranker):
    registry, v = _registry(tmp_path / "rankers", ranker, 10)
    logged = _promote_and_roll_back(registry)
    size = sum(f.stat().st_size for f in (registry.root / v[0]).iterdir())

    dry = registry.prune(2, dry_run=True, by="ops")
    assert dry["removed"] == [v[0], v[2], v[4], v[7]] and dry["kept"] == 6 and dry["bytes"] == 4 * size
    assert registry.versions() == v and registry.history() == logged       # a dry run changes nothing

    entry = registry.prune(2, by="ops")
    assert entry["removed"] == dry["removed"] and entry["by"] == "ops" and entry["bytes"] == 4 * size
    assert registry.versions() == [v[1], v[3], v[5], v[6], v[8], v[9]]
    assert not any((registry.root / version).exists() for version in entry["removed"])
    assert not list(registry.root.glob(".prune-*"))
    assert registry.history() == [*logged, entry]
    assert json.loads(registry.log.read_text().splitlines()[-1]) == entry
    assert {k: entry[k] for k in ("action", "removed", "kept", "keep")} == {
        "action": "prune", "removed": [v[0], v[2], v[4], v[7]], "kept": 6, "keep": 2}
    assert registry.champion_version() == v[5] and registry.rolled_back() == {v[6]: "v6 misbehaves"}

    assert registry.prune(2)["removed"] == [] and len(registry.history()) == len(logged) + 1  # nothing: no entry
    assert registry.prune(0)["removed"] == [v[8], v[9]]
    assert registry.versions() == [v[1], v[3], v[5], v[6]]

    # a rollback still returns to each champion before, down to the packaged one
    assert registry.rollback("v5 too")["version"] == v[3] and registry.champion().meta["version"] == v[3]
    assert registry.rollback("v3 too")["version"] == v[1]
    assert registry.rollback("v1 too")["version"] is None and registry.champion() is None


def test_a_pruned_version_says_when_it_was_pruned(tmp_path, ranker):
    registry, v = _registry(tmp_path / "rankers", ranker, 3)
    registry.promote(v[2], "first")
    entry = registry.prune(0, by="cli:ops")
    assert entry["removed"] == [v[0], v[1]]
    day = entry["at"][:10]
    with pytest.raises(NotFoundError, match=f"cannot promote '{v[0]}': pruned from .* on {day} by cli:ops; known: "
                                            f"{v[2]}"):
        registry.promote(v[0], "by hand")
    with pytest.raises(NotFoundError, match=f"ranker version '{v[1]}': pruned from .* on {day}"):
        registry.load(v[1])
    with pytest.raises(NotFoundError, match=f"cannot promote 'lgbm-nope': not in {registry.root}"):
        registry.promote("lgbm-nope", "by hand")
    assert registry.champion_version() == v[2] and registry.history()[-1] == entry


def test_prune_leaves_directories_that_are_no_versions_alone(tmp_path, ranker):
    registry, v = _registry(tmp_path / "rankers", ranker, 2)
    half = registry.root / "lgbm-20260301-000000-deadbeef"     # a retrain still writing its model files
    half.mkdir()
    (half / "model.txt").write_text("half")
    hidden = registry.root / ".staging"                         # hidden, even with a meta.json
    hidden.mkdir()
    (hidden / "meta.json").write_text("{}")
    assert registry.versions() == v
    assert registry.prune(0)["removed"] == v
    assert registry.versions() == [] and half.is_dir() and hidden.is_dir()


@pytest.mark.parametrize("keep", [-1, 1.5, True])
def test_prune_refuses_a_keep_that_is_no_count(tmp_path, ranker, keep):
    registry, v = _registry(tmp_path / "rankers", ranker, 2)
    with pytest.raises(ConfigError, match=f"keep: got {keep!r}, expected "):
        registry.prune(keep)
    assert registry.versions() == v and registry.history() == []


def test_a_prune_cut_short_is_finished_by_the_next(tmp_path, ranker, monkeypatch):
    registry, v = _registry(tmp_path / "rankers", ranker, 3)

    def busy(path):
        raise OSError("busy")

    with monkeypatch.context() as patch:
        patch.setattr("rca.ranking.registry.shutil.rmtree", busy)
        with pytest.raises(ConfigError, match="OSError: busy"):
            registry.prune(1)
    # logged, out of sight, its files left in .prune-*: the next prune deletes them
    assert registry.versions() == [v[2]] and registry.history()[-1]["removed"] == [v[0], v[1]]
    assert len(list(registry.root.glob(".prune-*"))) == 1
    registry.save(ranker, now=pd.Timestamp("2026-02-01", tz="UTC").to_pydatetime())
    assert registry.prune(1)["removed"] == [v[2]] and not list(registry.root.glob(".prune-*"))


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setattr("rca.ranking.registry.PACKAGED_CHAMPION", tmp_path / "no-packaged")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_rca_rankers_prune(env, capsys, ranker):
    registry, v = _registry(env.resolved_rankers_dir, ranker, 4)
    registry.promote(v[1], "first")

    code, out = run_cli(capsys, "rankers", "prune", "--keep", "1", "--dry-run")
    assert code == 0 and out.out.splitlines()[:2] == [f"would remove {v[0]}", f"would remove {v[2]}"]
    assert out.out.splitlines()[2].startswith("would free ") and out.out.rstrip().endswith(" MB (2 versions); 2 kept")
    assert registry.versions() == v

    code, out = run_cli(capsys, "rankers", "prune", "--keep", "1")
    assert code == 0 and out.out.splitlines()[:2] == [f"removed {v[0]}", f"removed {v[2]}"]
    assert out.out.splitlines()[2].startswith("freed ") and registry.versions() == [v[1], v[3]]

    code, out = run_cli(capsys, "rankers", "list")
    assert code == 0 and f"prune    2 never promoted: {v[0]}, {v[2]}  (" in out.out
    assert "2 versions kept, by cli" in out.out

    code, out = run_cli(capsys, "rankers", "promote", v[0], "--reason", "it was fine")
    assert code == 2 and "Traceback" not in out.err and out.err.count("\n") == 1
    assert out.err.startswith(f"error: cannot promote '{v[0]}': pruned from ") and registry.champion_version() == v[1]

    code, out = run_cli(capsys, "rankers", "prune", "--keep", "-1")
    assert code == 2 and out.err.startswith("error: keep: got -1, expected ") and out.err.count("\n") == 1

    code, out = run_cli(capsys, "rankers", "prune")
    assert code == 0 and out.out == "nothing to prune; 2 versions kept\n"


def test_no_prune_while_a_retrain_runs(env, ranker):
    from rca import service

    registry, v = _registry(env.resolved_rankers_dir, ranker, 2)
    with service._one_retrain(env, "rca train", busy="-"):
        with pytest.raises(ConflictError, match=r"^rca train \(process \d+\) since .* UTC is running; prune the "
                                                r"registry when it is done$"):
            service.prune_rankers(env, 0)
    assert registry.versions() == v
    assert service.prune_rankers(env, 0, dry_run=True)["removed"] == v and registry.versions() == v


def test_the_listing_shows_a_prune_and_skips_a_version_pruned_while_listing(env, ranker, monkeypatch):
    from rca import service

    registry, v = _registry(env.resolved_rankers_dir, ranker, 3)
    registry.prune(1)
    listing = service.list_rankers(env)
    assert [x["version"] for x in listing["versions"]] == [v[2]]
    assert [e["action"] for e in listing["history"]] == ["prune"] and listing["history"][0]["removed"] == v[:2]
    monkeypatch.setattr(RankerRegistry, "versions", lambda self: v)        # listed just before a prune
    assert [x["version"] for x in service.list_rankers(env)["versions"]] == [v[2]]
