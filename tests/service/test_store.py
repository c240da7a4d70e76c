from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import rca.service as service
from rca.contract import load_bundle, load_label
from rca.corpus import read_manifest
from rca.errors import ConfigError, ConflictError
from rca.store import queries
from rca.store.db import get_engine, session_scope
from rca.store.models import ReviewRecord, ReviewVerdict
from tests.rank_builders import retrain_result
from tests.service.bundles import bundle_dir, inline, tar_gz


def test_migrated_schema_matches_the_models(migrated):
    with get_engine(migrated.resolved_database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def _review(reviewer, verdict, node="feature:a", kind="data_drift", minute=0, rid=0):
    return ReviewRecord(id=rid, incident_id="i", reviewer=reviewer, verdict=ReviewVerdict(verdict), node=node,
                        kind=kind, created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute))


def test_confirmed_causes_count_each_reviewers_latest_verdict():
    reviews = [_review("ann", "confirm", minute=0, rid=1), _review("ann", "reject", minute=5, rid=2),
               _review("bob", "confirm", minute=1, rid=3),
               _review("cy", "name_cause", node="service:db", kind="dependency_errors", minute=2, rid=4)]
    # feature:a: ann's latest is reject, bob confirms -> tie, not confirmed; service:db named once
    assert queries.confirmed_causes(reviews) == [("service:db", "dependency_errors")]
    assert queries.confirmed_causes(reviews + [_review("dee", "confirm", minute=9, rid=5)]) == [
        ("feature:a", "data_drift"), ("service:db", "dependency_errors")]
    assert {r.id for r in queries.latest_verdicts(reviews)} == {2, 3, 4}


def test_the_disputed_incidents_query_agrees_with_the_rule_on_review_histories(session):
    """`disputed_incidents` counts the votes in SQL; `disputed_causes` is the rule written out. On random
    histories (changed minds, withdrawals, ties, named causes, equal timestamps) they pick the same incidents,
    most recently reviewed first."""
    import numpy as np

    from rca.store.models import IncidentRecord

    rng = np.random.default_rng(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    verdicts = ["confirm", "reject", "name_cause", "withdraw"]
    expected = {}
    for i in range(60):
        incident_id = f"inc-{i:02d}"
        session.add(IncidentRecord(id=incident_id, model="m" if i % 3 else "other", detected_at=start,
                                   created_at=start, updated_at=start, body_sha256="0" * 64, bundle_file="x.json"))
        session.commit()
        reviews = []
        for _ in range(int(rng.integers(0, 7))):
            review = ReviewRecord(incident_id=incident_id, reviewer=str(rng.choice(["ann", "bob", "cy"])),
                                  verdict=ReviewVerdict(rng.choice(verdicts)), node=str(rng.choice(["n:a", "n:b"])),
                                  kind="data_drift", created_at=start + timedelta(minutes=int(rng.integers(0, 40))))
            session.add(review)
            session.commit()
            session.refresh(review)
            reviews.append(review)
        if queries.disputed_causes(reviews):
            expected[incident_id] = max(r.created_at for r in reviews)
    ranked = sorted(expected, key=lambda k: (expected[k], k), reverse=True)
    assert len(ranked) >= 5   # the draw holds disputes to find
    assert [r.id for r in queries.disputed_incidents(session, limit=100)] == ranked
    assert [r.id for r in queries.disputed_incidents(session, model="other", limit=3)] == [
        k for k in ranked if int(k[4:]) % 3 == 0][:3]


def _submit(session, settings, path, fmt):
    data = json.dumps(inline(path)).encode() if fmt == "json" else tar_gz(path)
    return service.submit_incident(session, body=data, fmt=fmt, settings=settings)


def test_a_reviewed_incident_the_labeled_corpus_has_already_is_left_out_of_the_export(session, migrated, stub_ranker,
                                                                                      tmp_path, caplog):
    """A corpus bundle replayed through the service and confirmed there stopped every later retrain: training
    refuses an incident id in two corpora, and nothing but deleting the incident (and its reviews) undid it."""
    corpus = tmp_path / "corpus" / "nested"
    corpus.mkdir(parents=True)
    with open(corpus / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "detected_at", "split", "kinds", "nodes", "n_causes", "source", "path",
                                   "sha256"],
                                  ["inc-replayed", "2026-11-20T14:05:00Z", "train", "data_drift", "feature:amount", "1",
                                   "simulated", "bundles/inc-replayed.tar.gz", ""]])
    settings = migrated.model_copy(update={"corpus_dir": tmp_path / "corpus"})
    for incident_id in ("inc-replayed", "inc-new"):
        sub = _submit(session, settings, bundle_dir(tmp_path, incident_id=incident_id), "json")
        service.analyze_incident(session, incident_id=sub.record.id, settings=settings, bundle=sub.bundle)
        service.record_review(session, settings=settings, incident_id=incident_id, reviewer="ann",
                              review=service.ReviewIn(verdict="confirm", rank=1))
    assert [p.name for p in service.export_reviewed(session, settings=settings)] == ["inc-new.tar.gz"]
    assert "reviewed incident inc-replayed left out of the export: the labeled corpus" in caplog.text


def test_an_export_the_disk_refuses_names_the_data_directory(session, migrated, stub_ranker, tmp_path,
                                                              monkeypatch):
    """An immutable reviewed/ directory ended the retrain with 'internal error: PermissionError: ...'."""
    sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id="inc-x"), "json")
    service.analyze_incident(session, incident_id=sub.record.id, settings=migrated, bundle=sub.bundle)
    service.record_review(session, settings=migrated, incident_id="inc-x", reviewer="ann",
                          review=service.ReviewIn(verdict="confirm", rank=1))
    service.export_reviewed(session, settings=migrated)

    def refused(src, dst):
        raise PermissionError(1, "Operation not permitted", str(src))

    monkeypatch.setattr("rca.service.os.replace", refused)
    with pytest.raises(ConfigError) as err:
        service.export_reviewed(session, settings=migrated)
    assert str(err.value) == (f"RCA_DATA_DIR: got '{migrated.data_dir}', expected a directory the retrain can write "
                              "the reviewed corpus reviewed/ in (Operation not permitted)")
    assert [e.id for e in read_manifest(migrated.data_dir / "reviewed")] == ["inc-x"]   # the last export stays


def test_export_writes_confirmed_incidents_in_the_corpus_format(session, migrated, stub_ranker, tmp_path):
    for incident_id, fmt in [("inc-j", "json"), ("inc-t", "tar.gz"), ("inc-u", "json")]:
        sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id=incident_id), fmt)
        service.analyze_incident(session, incident_id=sub.record.id, settings=migrated, bundle=sub.bundle)
    confirm = service.ReviewIn(verdict="confirm", rank=3)
    service.record_review(session, settings=migrated, incident_id="inc-j", reviewer="ann", review=confirm)
    service.record_review(session, settings=migrated, incident_id="inc-t", reviewer="ann", review=confirm)
    service.record_review(session, settings=migrated, incident_id="inc-u", reviewer="ann",
                          review=service.ReviewIn(verdict="reject", rank=1))  # nothing confirmed: not exported
    written = service.export_reviewed(session, settings=migrated)
    assert sorted(p.name for p in written) == ["inc-j.tar.gz", "inc-t.tar.gz"]
    assert [e.id for e in read_manifest(migrated.data_dir / "reviewed")] == ["inc-j", "inc-t"]
    for path in written:
        bundle = load_bundle(path)
        assert bundle.incident.id == path.name.removesuffix(".tar.gz")
        assert bundle.predictions is not None and len(bundle.predictions) == 200
        label = load_label(path)
        assert [(c.node, c.kind.value) for c in label.causes] == [("model:fraud-scorer@v1", "model_regression")]
        assert label.source == "review"
    # a later verdict withdraws the label: the export follows
    service.record_review(session, settings=migrated, incident_id="inc-j", reviewer="ann", review=service.ReviewIn(
        verdict="reject", node="model:fraud-scorer@v1", kind="model_regression"))
    assert [p.name for p in service.export_reviewed(session, settings=migrated)] == ["inc-t.tar.gz"]
    assert [e.id for e in read_manifest(migrated.data_dir / "reviewed")] == ["inc-t"]


def test_export_leaves_out_what_was_stored_before_the_contract_checked_it(session, migrated, stub_ranker, tmp_path,
                                                                         caplog):
    from rca.store.models import ReviewCreate

    for incident_id in ("inc-old-review", "inc-old-model", "inc-ok"):
        sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id=incident_id), "json")
        service.analyze_incident(session, incident_id=incident_id, settings=migrated, bundle=sub.bundle)
        service.record_review(session, settings=migrated, incident_id=incident_id, reviewer="ann",
                              review=service.ReviewIn(verdict="confirm", rank=1))
    # a name_cause the review API took before it asked for a name after the colon
    queries.add_review(session, data=ReviewCreate(incident_id="inc-old-review", reviewer="bob",
                                                  verdict=ReviewVerdict.name_cause, node="feature:", kind="data_drift"))
    # a bundle stored before a blank model name was refused
    stored = migrated.data_dir / "bundles" / queries.get_incident(session, incident_id="inc-old-model").bundle_file
    body = json.loads(stored.read_text())
    body["incident"]["model"] = "  "
    stored.write_text(json.dumps(body))
    written = {p.name: p for p in service.export_reviewed(session, settings=migrated)}
    assert sorted(written) == ["inc-ok.tar.gz", "inc-old-review.tar.gz"]
    first = queries.get_incident(session, incident_id="inc-old-review").answer["causes"][0]
    label = load_label(written["inc-old-review.tar.gz"])                   # readable: training will not stop on it
    assert [(c.node, c.kind.value) for c in label.causes] == [(first["node"], first["kind"])]
    assert "(feature:, data_drift) left out" in caplog.text and "inc-old-model left out" in caplog.text


def test_export_leaves_out_a_bundle_lost_or_damaged_on_disk(session, migrated, stub_ranker, tmp_path, caplog):
    for incident_id, fmt in [("inc-gone", "json"), ("inc-cut", "tar.gz"), ("inc-list", "json"), ("inc-ok", "json")]:
        sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id=incident_id), fmt)
        service.analyze_incident(session, incident_id=incident_id, settings=migrated, bundle=sub.bundle)
        service.record_review(session, settings=migrated, incident_id=incident_id, reviewer="ann",
                              review=service.ReviewIn(verdict="confirm", rank=1))
    stored = {i: migrated.data_dir / "bundles" / queries.get_incident(session, incident_id=i).bundle_file
              for i in ("inc-gone", "inc-cut", "inc-list")}
    stored["inc-gone"].unlink()
    stored["inc-cut"].write_bytes(stored["inc-cut"].read_bytes()[:100])
    stored["inc-list"].write_text("[]")
    assert [p.name for p in service.export_reviewed(session, settings=migrated)] == ["inc-ok.tar.gz"]
    for incident_id in ("inc-gone", "inc-cut", "inc-list"):
        assert f"reviewed incident {incident_id} left out of the export" in caplog.text


def test_export_of_incidents_named_like_its_working_directories(session, migrated, stub_ranker, tmp_path):
    for incident_id in ("reviewed", "previous", "staged"):
        sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id=incident_id), "tar.gz")
        service.analyze_incident(session, incident_id=incident_id, settings=migrated, bundle=sub.bundle)
        service.record_review(session, settings=migrated, incident_id=incident_id, reviewer="ann",
                              review=service.ReviewIn(verdict="confirm", rank=1))
    for _ in range(2):  # the second export replaces the first one's corpus
        written = service.export_reviewed(session, settings=migrated)
        assert sorted(p.name for p in written) == ["previous.tar.gz", "reviewed.tar.gz", "staged.tar.gz"]
    assert sorted(e.id for e in read_manifest(migrated.data_dir / "reviewed")) == ["previous", "reviewed", "staged"]
    assert load_bundle(written[0]).incident.id == written[0].name.removesuffix(".tar.gz")


def test_a_retrain_while_another_runs_is_refused(session, migrated, stub_ranker, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def slow_retrain(corpus_dirs, registry_dir):
        started.set()
        release.wait(30)
        return retrain_result("v2", champion="v1")

    monkeypatch.setitem(sys.modules, "rca.ranking.train", types.SimpleNamespace(retrain=slow_retrain))
    reports = []

    def weekly_job():
        with session_scope(migrated.resolved_database_url) as other:
            reports.append(service.retrain(other, settings=migrated))

    job = threading.Thread(target=weekly_job)
    assert service.last_retrain(migrated) == {"state": "none"}
    job.start()
    try:
        assert started.wait(30)
        with pytest.raises(ConflictError, match=r"^a retrain \(process \d+\) since .* UTC is running; its result will be in the promotion log"):
            service.retrain(session, settings=migrated)
        running = service.last_retrain(migrated)
        assert running["state"] == "running" and running["process"] == os.getpid() and running["by"] is None
        assert running["holder"] == (migrated.data_dir / ".retrain.lock").read_text().strip()
    finally:
        release.set()
        job.join(30)
    assert [r["challenger"] for r in reports] == ["v2"]
    done = service.last_retrain(migrated)
    assert done["state"] == "done" and done["started_at"] == running["started_at"] and done["finished_at"]
    assert done["result"] == json.loads(json.dumps(reports[0], default=str))
    assert service.retrain(session, settings=migrated, by="cli:ann")["challenger"] == "v2"  # the lock went with the run
    assert service.last_retrain(migrated)["by"] == "cli:ann"


@pytest.mark.parametrize(("raised", "message", "field"), [
    (ConfigError("corpus", "2 incidents", "validation incidents to gate on"),
     "corpus: got '2 incidents', expected validation incidents to gate on", "corpus"),
    (ValueError("boom\nline two of it"), "internal error: ValueError: boom", None),
])
def test_a_failed_retrain_is_recorded_with_its_message_and_no_traceback(session, migrated, monkeypatch, raised,
                                                                        message, field):
    def failing(corpus_dirs, registry_dir):
        raise raised

    monkeypatch.setitem(sys.modules, "rca.ranking.train", types.SimpleNamespace(retrain=failing))
    with pytest.raises(type(raised)):
        service.retrain(session, settings=migrated, by="cli:ann")
    failed = service.last_retrain(migrated)
    assert failed["state"] == "failed" and failed["by"] == "cli:ann" and failed["finished_at"]
    assert failed["error"] == {"message": message, "field": field} and "result" not in failed
    with service._one_retrain(migrated, "rca train", busy="-"):  # the lock went with the failed run
        pass


def test_a_retrain_recorded_running_without_the_lock_reads_as_interrupted(session, migrated, monkeypatch):
    """A stop or a kill mid-retrain leaves its record running; the lock went with its process."""
    def interrupted(corpus_dirs, registry_dir):
        raise KeyboardInterrupt  # Ctrl-C on `rca retrain`: not recorded as failed

    monkeypatch.setitem(sys.modules, "rca.ranking.train", types.SimpleNamespace(retrain=interrupted))
    with pytest.raises(KeyboardInterrupt):
        service.retrain(session, settings=migrated)
    record = json.loads((migrated.data_dir / "retrain" / "last.json").read_text())
    assert record["state"] == "running"
    assert service.last_retrain(migrated) == {**record, "state": "interrupted"}
    with service._one_retrain(migrated, "a registry prune", busy="-"):  # held, but by another since
        assert service.last_retrain(migrated)["state"] == "interrupted"


def test_a_killed_retrain_reads_as_interrupted(migrated, tmp_path):
    """The lock dies with the process: no retrain is reported running for a process that is gone."""
    script = f"""
import sys, time, types
sys.modules["rca.ranking.train"] = types.SimpleNamespace(retrain=lambda dirs, registry: time.sleep(300))
from rca.config import Settings
from rca.service import retrain
from rca.store.db import session_scope
settings = Settings(data_dir={str(migrated.data_dir)!r}, database_url={migrated.resolved_database_url!r},
                    corpus_dir={str(migrated.corpus_dir)!r})
with session_scope(settings.resolved_database_url) as session:
    retrain(session, settings=settings, started=lambda running: print("started", flush=True))
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parents[2])
    try:
        assert child.stdout.readline() == "started\n"
        running = service.last_retrain(migrated)
        assert running["state"] == "running" and running["process"] == child.pid
    finally:
        child.kill()
        child.wait(30)
    assert service.last_retrain(migrated) == {**running, "state": "interrupted"}


def test_an_unreadable_retrain_record_is_a_config_error(migrated):
    path = migrated.data_dir / "retrain" / "last.json"
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2")
    with pytest.raises(ConfigError, match=r"last\.json: got '\[1, 2', expected the JSON object a retrain records"):
        service.last_retrain(migrated)
    path.unlink()
    path.mkdir()  # as a record of another user's (mode 0600) cannot be read, for a test running as root too
    with pytest.raises(ConfigError, match=r"last\.json: got 'Is a directory', expected a file this process can read"):
        service.last_retrain(migrated)


def test_retrain_exports_then_trains_on_corpus_and_reviews(session, migrated, stub_ranker, tmp_path, monkeypatch):
    sub = _submit(session, migrated, bundle_dir(tmp_path, incident_id="inc-rt"), "json")
    service.analyze_incident(session, incident_id="inc-rt", settings=migrated, bundle=sub.bundle)
    service.record_review(session, settings=migrated, incident_id="inc-rt", reviewer="ann", review=service.ReviewIn(verdict="confirm",
                                                                                                 rank=2))
    migrated.corpus_dir.mkdir(parents=True)
    calls = []

    result = retrain_result("v2", champion="v1")

    def fake_retrain(corpus_dirs, registry_dir):
        calls.append((corpus_dirs, registry_dir, [e.id for e in read_manifest(corpus_dirs[-1])]))
        return result

    monkeypatch.setitem(sys.modules, "rca.ranking.train", types.SimpleNamespace(retrain=fake_retrain))
    report = service.retrain(session, settings=migrated)
    assert report["promoted"] is True and report["exported"] == 1
    [(dirs, registry, exported)] = calls
    assert dirs == [migrated.corpus_dir, migrated.data_dir / "reviewed"] and exported == ["inc-rt"]
    assert registry == migrated.resolved_rankers_dir
    # the platform team's report of the run: the decision, what it trained on, both rankers per kind
    written = Path(report["report"])
    assert written.parent == migrated.data_dir / "retrain" and written.suffix == ".md"
    text = written.read_text()
    ours = result["metrics"]["challenger"]["overall"]
    assert f"Challenger `v2`: **promoted**; validation AC@1 {ours['AC@1']:.3f} against the champion's" in text
    assert "- trained on: 12 incidents (+9 copies lacking signal families)" in text
    assert "- reviewed incidents exported this run: 1" in text and "- validated on: 20 incidents" in text
    assert "| data_drift (n=20) |" in text and "| champion v1 | " in text
    assert all((written.parent / "figures" / f"{written.stem}-{n}.png").is_file() for n in ("ac", "kind-ac3"))


def test_get_ranker_reloads_when_the_champion_pointer_changes(migrated, monkeypatch):
    from rca.ranking import registry as reg

    loads = []

    def champion(self):
        if not self.pointer.is_file():
            return None
        loads.append(self.root)
        return types.SimpleNamespace(name=f"lgbm-{len(loads)}")

    monkeypatch.setattr(reg.RankerRegistry, "champion", champion)
    monkeypatch.setattr(reg, "packaged_champion", lambda: None)
    assert service.get_ranker(migrated).name == "heuristic"
    pointer = migrated.resolved_rankers_dir / service.CHAMPION_POINTER
    pointer.parent.mkdir(parents=True)
    pointer.write_text('{"version": "v1"}')
    assert service.get_ranker(migrated).name == "lgbm-1"
    assert service.get_ranker(migrated).name == "lgbm-1" and len(loads) == 1  # cached while unchanged
    # a rollback rewrites the pointer within the same coarse clock tick: same mtime, other content
    stat = pointer.stat()
    pointer.write_text('{"version": "v0"}')
    os.utime(pointer, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert service.get_ranker(migrated).name == "lgbm-2"


def test_an_incident_stored_before_families_were_kept_reads_as_unknown(settings):
    """Upgrading a database at revision 0002 keeps its incidents; their families are NULL, not guessed."""
    from sqlalchemy import text

    from rca.console.pages import incident_view
    from rca.store.db import session_scope, upgrade

    url = settings.resolved_database_url
    upgrade(url, "0002")
    with get_engine(url).begin() as conn:
        conn.execute(text("INSERT INTO incident (id, model, status, detected_at, created_at, updated_at, "
                          "body_sha256, bundle_file) VALUES ('old-1', 'm', 'queued', :t, :t, :t, :sha, 'x.json')"),
                     {"t": datetime(2026, 11, 30, tzinfo=UTC), "sha": "0" * 64})
    upgrade(url)
    with session_scope(url) as session:
        record = queries.get_incident(session, incident_id="old-1")
        assert record.model == "m" and record.families is None
        assert incident_view(session, incident_id="old-1").families is None
        row, _ = queries.read_incident(session, incident_id="old-1")
        assert row._mapping["families"] is None


def test_an_export_removes_the_working_directories_of_exports_killed_midway(session, migrated, caplog):
    """A retrain killed during its export left a .export-* copy of every reviewed bundle, one per kill."""
    parent = service.reviewed_dir(migrated).parent
    old, recent = parent / ".export-old", parent / ".export-recent"
    for path in (old, recent):
        (path / "staged").mkdir(parents=True)
        (path / "staged" / "bundle.tar.gz").write_bytes(b"x" * 100)
    two_hours_ago = datetime.now(UTC).timestamp() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    service.export_reviewed(session, settings=migrated)
    assert not old.exists() and recent.is_dir()           # a recent one may be another export's, still running
    assert f"removed {old}, left by an export that did not finish" in caplog.text
    assert sorted(p.name for p in parent.glob(".export-*")) == [".export-recent"]
