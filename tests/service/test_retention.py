"""`rca incidents prune`: old, unreviewed, analyzed incidents go with the bundle files no other incident uses;
reviewed, recent, queued and analyzing ones stay; then stored bundle files no incident refers to and leftover
temporary files, untouched for over an hour, go too. `rca incidents delete` / `DELETE /v1/incidents/{id}`: one
incident on purpose, reviewed or not, with its reviews and the bundle file no other incident uses; refused while
queued or analyzing. On SQLite and, with RCA_TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, update
from sqlmodel import select

from rca import service
from rca.config import bundles_dir, get_settings
from rca.errors import ConfigError, NotFoundError
from rca.store import queries
from rca.store.db import get_engine, session_scope
from rca.store.models import IncidentRecord, IncidentStatus, ReviewCreate, ReviewRecord, ReviewVerdict
from tests.service.bundles import bundle_dir, inline, tar_gz
from tests.test_contract_errors import run_cli

DAYS_90 = timedelta(days=90)


def _incident(session, settings, incident_id: str, *, days_old: float, status: str = "done",
              file: str | None = None, size: int = 1000) -> None:
    """A stored incident submitted ``days_old`` days ago, with a bundle file of ``size`` bytes (``<id>.json``, or
    ``file``, shared when several incidents name it; size 0: no file on disk)."""
    file = file or f"{incident_id}.json"
    if size:
        bundles_dir(settings).mkdir(parents=True, exist_ok=True)
        (bundles_dir(settings) / file).write_bytes(b"x" * size)
    created = datetime.now(UTC) - timedelta(days=days_old)
    session.add(IncidentRecord(id=incident_id, model="m", status=IncidentStatus(status), detected_at=created,
                               created_at=created, updated_at=created, body_sha256="0" * 64, bundle_file=file))
    session.commit()


def _review(session, incident_id: str, verdict: str) -> None:
    queries.add_review(session, data=ReviewCreate(incident_id=incident_id, reviewer="ann",
                                                  verdict=ReviewVerdict(verdict), node="feature:a", kind="data_drift"))


def _stored(session) -> set[str]:
    session.expire_all()
    return set(session.exec(select(IncidentRecord.id)))


def _files(settings) -> set[str]:
    return {p.name for p in bundles_dir(settings).iterdir()}


def test_prune_deletes_old_unreviewed_finished_incidents_and_the_files_no_one_else_uses(session, migrated):
    for incident_id, verdict in [("confirmed", "confirm"), ("rejected", "reject"), ("named", "name_cause")]:
        _incident(session, migrated, incident_id, days_old=200)
        _review(session, incident_id, verdict)
    _incident(session, migrated, "old-done", days_old=100, size=1000)
    _incident(session, migrated, "old-failed", days_old=91, status="failed", size=2000)
    _incident(session, migrated, "old-file-gone", days_old=100, size=0)      # its file was removed by hand
    _incident(session, migrated, "old-pair-1", days_old=120, file="pair.json", size=300)
    _incident(session, migrated, "old-pair-2", days_old=95, file="pair.json", size=300)
    _incident(session, migrated, "old-shares", days_old=100, file="shared.json", size=500)
    _incident(session, migrated, "recent-shares", days_old=10, file="shared.json", size=500)
    _incident(session, migrated, "recent", days_old=89)
    _incident(session, migrated, "old-queued", days_old=150, status="queued")
    _incident(session, migrated, "old-analyzing", days_old=150, status="analyzing")
    gone = {"old-done", "old-failed", "old-file-gone", "old-pair-1", "old-pair-2", "old-shares"}
    before_ids, before_files = _stored(session), _files(migrated)

    dry = service.prune_incidents(session, settings=migrated, older_than=DAYS_90, dry_run=True)
    assert (dry["incidents"], dry["files"], dry["bytes"], dry["dry_run"]) == (6, 3, 3300, True)
    assert _stored(session) == before_ids and _files(migrated) == before_files

    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90, dry_run=False)
    assert (result["incidents"], result["files"], result["bytes"], result["dry_run"]) == (6, 3, 3300, False)
    assert _stored(session) == before_ids - gone
    assert _files(migrated) == before_files - {"old-done.json", "old-failed.json", "pair.json"}
    assert "shared.json" in _files(migrated)
    for incident_id in ("confirmed", "rejected", "named"):
        assert len(queries.list_reviews(session, incident_id=incident_id)) == 1
    oldest = datetime.now(UTC) - timedelta(days=200)
    assert dry["oldest_kept"] == result["oldest_kept"] and abs(result["oldest_kept"] - oldest) < timedelta(minutes=5)
    assert abs(result["created_before"] - (datetime.now(UTC) - DAYS_90)) < timedelta(minutes=5)

    again = service.prune_incidents(session, settings=migrated, older_than=DAYS_90, dry_run=False)
    assert (again["incidents"], again["files"], again["bytes"]) == (0, 0, 0)


def test_zero_days_prunes_every_unreviewed_finished_incident(session, migrated):
    _incident(session, migrated, "just-done", days_old=1 / 86400)
    _incident(session, migrated, "just-queued", days_old=1 / 86400, status="queued")
    result = service.prune_incidents(session, settings=migrated, older_than=timedelta(0))
    assert result["incidents"] == 1 and _stored(session) == {"just-queued"}
    assert result["oldest_kept"] is not None
    session.exec(update(IncidentRecord).values(status=IncidentStatus.failed))
    session.commit()
    result = service.prune_incidents(session, settings=migrated, older_than=timedelta(0))
    assert result["incidents"] == 1 and result["oldest_kept"] is None and _stored(session) == set()


def test_a_submitted_incident_is_pruned_with_its_stored_body(session, migrated, stub_ranker, tmp_path):
    for incident_id in ("inc-old", "inc-new"):
        body = json.dumps(inline(bundle_dir(tmp_path, incident_id=incident_id))).encode()
        sub = service.submit_incident(session, body=body, fmt="json", settings=migrated)
        service.analyze_incident(session, incident_id=incident_id, settings=migrated, bundle=sub.bundle)
    old = queries.get_incident(session, incident_id="inc-old")
    session.exec(update(IncidentRecord).where(IncidentRecord.id == "inc-old")
                 .values(created_at=datetime.now(UTC) - timedelta(days=91)))
    session.commit()
    size = (bundles_dir(migrated) / old.bundle_file).stat().st_size
    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert (result["incidents"], result["files"], result["bytes"]) == (1, 1, size)
    assert not (bundles_dir(migrated) / old.bundle_file).exists() and _stored(session) == {"inc-new"}
    with pytest.raises(NotFoundError):
        queries.get_incident(session, incident_id="inc-old")


def test_thousands_of_incidents_are_deleted_in_batches(session, migrated):
    created = datetime.now(UTC) - timedelta(days=100)
    n = 2 * queries.PRUNE_BATCH + 201
    rows = [{"id": f"inc-{i:05d}", "model": "m", "status": "done", "detected_at": created, "created_at": created,
             "updated_at": created, "body_sha256": "0" * 64, "bundle_file": f"b{i % 3}.json"} for i in range(n)]
    session.exec(insert(IncidentRecord), params=rows)
    session.commit()
    for i in range(3):
        bundles_dir(migrated).mkdir(parents=True, exist_ok=True)
        (bundles_dir(migrated) / f"b{i}.json").write_bytes(b"{}")
    _review(session, "inc-00600", "reject")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = get_engine(migrated.resolved_database_url)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert result["incidents"] == n - 1 and _stored(session) == {"inc-00600"}
    assert result["files"] == 2 and _files(migrated) == {"b0.json"}   # inc-00600's (600 % 3 == 0)
    assert sum(s.lstrip().upper().startswith("DELETE") for s in statements) == 3


def _while_a_review_is_stored(settings, incident_id: str, reviewer: str, work):
    """``work(session)``'s result, run in a thread of its own while a review of ``incident_id`` by ``reviewer`` is
    being stored: its transaction open (its foreign key check holding the incident's row on PostgreSQL, the write
    lock on SQLite) until ``work`` is seen waiting for it."""
    url = settings.resolved_database_url
    outcome: dict = {}

    def run() -> None:
        try:
            with session_scope(url) as s:
                outcome["result"] = work(s)
        except Exception as exc:  # seen below
            outcome["error"] = exc

    with get_engine(url).connect() as conn:
        transaction = conn.begin()
        conn.execute(insert(ReviewRecord).values(incident_id=incident_id, reviewer=reviewer, verdict="confirm",
                                                 node="feature:a", kind="data_drift", comment="",
                                                 created_at=datetime.now(UTC)))
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(1.0)   # the work reaches the row (or the write lock) and waits
        assert thread.is_alive(), outcome
        transaction.commit()
    thread.join(60)
    assert "error" not in outcome, outcome["error"]
    return outcome["result"]


def test_an_incident_reviewed_while_the_prune_waits_for_it_stays(session, migrated):
    """A review being stored when the prune starts: the prune waits for it, sees it and keeps the incident."""
    _incident(session, migrated, "old-reviewed", days_old=100)
    _incident(session, migrated, "old-other", days_old=100)
    result = _while_a_review_is_stored(migrated, "old-reviewed", "ann", lambda s: service.prune_incidents(
        s, settings=migrated, older_than=DAYS_90))
    assert result["incidents"] == 1 and _stored(session) == {"old-reviewed"}
    assert [r.verdict for r in queries.list_reviews(session, incident_id="old-reviewed")] == [ReviewVerdict.confirm]
    assert _files(migrated) == {"old-reviewed.json"}


def test_a_review_of_an_incident_pruned_since_it_was_read_is_not_found(session, migrated, monkeypatch):
    monkeypatch.setattr(queries, "get_incident", lambda session, **kwargs: None)   # read before the prune
    with pytest.raises(NotFoundError, match="no incident 'pruned'"):
        _review(session, "pruned", "confirm")
    assert list(session.exec(select(ReviewRecord))) == []


def test_a_negative_age_is_refused(session, migrated):
    with pytest.raises(ConfigError, match="older_than: got .*expected 0 or more days"):
        service.prune_incidents(session, settings=migrated, older_than=timedelta(days=-1))


def test_an_age_beyond_every_incident_prunes_nothing(session, migrated):
    _incident(session, migrated, "old", days_old=10_000)
    result = service.prune_incidents(session, settings=migrated, older_than=timedelta(days=999_999_999))
    assert result["incidents"] == 0 and _stored(session) == {"old"}


# ------------------------------------------------------------------------------------------------ orphans
def _sha_name(text: str, suffix: str = ".json") -> str:
    """A stored bundle file's name (`service.STORED_NAME`) for a body ``text``."""
    return hashlib.sha256(text.encode()).hexdigest() + suffix


def _aged(path, *, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def _entry(settings, name: str, *, hours_old: float, size: int = 100) -> None:
    """A file of ``size`` bytes in the bundles directory, last modified ``hours_old`` hours ago; a name ending in
    ``/``: a directory holding one such file (as `load_submission` leaves its upload)."""
    store = bundles_dir(settings)
    store.mkdir(parents=True, exist_ok=True)
    path = store / name.rstrip("/")
    if name.endswith("/"):
        path.mkdir()
        (path / "upload.tar.gz").write_bytes(b"u" * size)
        _aged(path / "upload.tar.gz", hours=hours_old)
    else:
        path.write_bytes(b"o" * size)
    _aged(path, hours=hours_old)


OLD_JSON, OLD_TAR, YOUNG_ZIP = _sha_name("a"), _sha_name("b", ".tar.gz"), _sha_name("c", ".zip")
USED_RECENT, USED_REVIEWED, USED_QUEUED = _sha_name("d"), _sha_name("e"), _sha_name("f", ".zip")


def _orphans_and_others(session, settings) -> set[str]:
    """Entries the sweep deletes (old, ours, unreferenced) beside entries it keeps; the names it keeps."""
    _entry(settings, OLD_JSON, hours_old=2, size=100)
    _entry(settings, OLD_TAR, hours_old=24 * 400, size=200)
    _entry(settings, ".tmp-k3j_x9q1", hours_old=2, size=30)
    _entry(settings, "rca-upload-zz81kq/", hours_old=2, size=4000)
    _entry(settings, YOUNG_ZIP, hours_old=0.5)                       # a submission whose row is being stored
    _entry(settings, ".tmp-fresh001", hours_old=0)                   # being written
    _entry(settings, "rca-upload-fresh01/", hours_old=0.5)           # an upload being checked
    for name in ("notes.txt", OLD_JSON.upper(), OLD_JSON[1:], _sha_name("g", ".tar"), f"x{OLD_JSON}", ".tmpfile",
                 "rca-upload-not-a-dir"):
        _entry(settings, name, hours_old=24 * 400)                   # none is a name of ours
    _entry(settings, "tmp-dir.json/", hours_old=24 * 400)
    _entry(settings, f"{_sha_name('h')}/", hours_old=24 * 400)       # a directory, not a stored file
    _entry(settings, ".tmp-dir/", hours_old=24 * 400)                # ... nor a temporary file
    (bundles_dir(settings) / _sha_name("i")).symlink_to(bundles_dir(settings) / "notes.txt")
    _incident(session, settings, "recent", days_old=1, file=USED_RECENT)
    _incident(session, settings, "reviewed", days_old=400, file=USED_REVIEWED)
    _review(session, "reviewed", "confirm")
    _incident(session, settings, "queued", days_old=400, status="queued", file=USED_QUEUED)
    for name in (USED_RECENT, USED_REVIEWED, USED_QUEUED):
        _aged(bundles_dir(settings) / name, hours=24 * 400)        # as old as can be: an incident refers to it
    return _files(settings) - {OLD_JSON, OLD_TAR, ".tmp-k3j_x9q1", "rca-upload-zz81kq"}


def test_the_sweep_deletes_old_unreferenced_bundle_files_and_leftovers_and_nothing_else(session, migrated):
    kept = _orphans_and_others(session, migrated)
    before = _files(migrated)

    dry = service.prune_incidents(session, settings=migrated, older_than=DAYS_90, dry_run=True)
    assert (dry["incidents"], dry["files"], dry["bytes"], dry["orphans"], dry["orphan_bytes"]) == (0, 0, 0, 4, 4330)
    assert _files(migrated) == before

    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert (result["incidents"], result["files"], result["bytes"], result["orphans"], result["orphan_bytes"]) == (
        0, 0, 0, 4, 4330)
    assert _files(migrated) == kept
    assert _stored(session) == {"recent", "reviewed", "queued"}
    assert (bundles_dir(migrated) / "rca-upload-fresh01" / "upload.tar.gz").is_file()

    again = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert (again["orphans"], again["orphan_bytes"]) == (0, 0) and _files(migrated) == kept


def test_the_file_of_a_pruned_incident_counts_with_the_incidents_not_with_the_orphans(session, migrated):
    """Orphans are the files no incident refers to before the prune: a dry run does not count a file twice."""
    name = _sha_name("pruned")
    _incident(session, migrated, "old", days_old=100, file=name, size=700)
    _aged(bundles_dir(migrated) / name, hours=24 * 100)
    _entry(migrated, OLD_JSON, hours_old=2, size=50)
    for dry_run in (True, False):
        result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90, dry_run=dry_run)
        assert (result["incidents"], result["files"], result["bytes"], result["orphans"], result["orphan_bytes"]
                ) == (1, 1, 700, 1, 50), dry_run
    assert _files(migrated) == set() and _stored(session) == set()


def test_the_file_of_a_submission_whose_row_failed_is_swept_once_old(session, migrated, monkeypatch, tmp_path):
    def failing(session, *, data):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(queries, "insert_incident", failing)
    body = json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-lost"))).encode()
    with pytest.raises(RuntimeError):
        service.submit_incident(session, body=body, fmt="json", settings=migrated)
    name = hashlib.sha256(body).hexdigest() + ".json"
    assert _files(migrated) == {name} and _stored(session) == set()

    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert result["orphans"] == 0 and _files(migrated) == {name}         # within the grace: its row may be coming
    _aged(bundles_dir(migrated) / name, hours=1.01)
    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert (result["orphans"], result["orphan_bytes"]) == (1, len(body)) and _files(migrated) == set()


def test_write_atomic_refreshes_the_mtime_of_a_file_stored_already(tmp_path):
    path = tmp_path / _sha_name("body")
    path.write_bytes(b"body")
    _aged(path, hours=48)
    service._write_atomic(path, b"body")
    assert time.time() - path.stat().st_mtime < 60 and path.read_bytes() == b"body"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("fmt", ["json", "tar.gz"])
def test_a_body_submitted_again_is_not_swept_before_its_row_is_stored(session, migrated, tmp_path, fmt):
    """Its file, left from an earlier submission and old, becomes new the moment the body is checked again."""
    path = bundle_dir(tmp_path, incident_id="inc-again")
    body = json.dumps(inline(path)).encode() if fmt == "json" else tar_gz(path)
    _, _, name = service.load_submission(body, fmt, settings=migrated)
    _aged(bundles_dir(migrated) / name, hours=48)
    service.load_submission(body, fmt, settings=migrated)   # the resubmission; its row is not stored yet
    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    assert result["orphans"] == 0 and _files(migrated) == {name}


def _resubmitted_during_the_sweep(monkeypatch, settings, name: str, body: bytes, *, after: str) -> None:
    """The body of ``name`` written again (`_write_atomic`) once the sweep has looked at its mtime and found no
    incident referring to it: right after that look (``after="lookup"``) or after the sweep moved it aside
    (``after="rename"``)."""
    path = bundles_dir(settings) / name
    if after == "lookup":
        lookup = queries.bundle_files_in_use

        def in_use(session, **kwargs):
            used = lookup(session, **kwargs)
            service._write_atomic(path, body)
            return used

        monkeypatch.setattr(queries, "bundle_files_in_use", in_use)
        return
    rename = os.rename

    def renamed(src, dst, *args, **kwargs):
        rename(src, dst, *args, **kwargs)
        if os.fspath(src) == os.fspath(path):
            service._write_atomic(path, body)

    monkeypatch.setattr(os, "rename", renamed)


@pytest.mark.parametrize("after", ["lookup", "rename"])
def test_a_body_submitted_again_while_the_sweep_runs_keeps_its_file(session, migrated, monkeypatch, after):
    name = hashlib.sha256(b"again").hexdigest() + ".json"
    _entry(migrated, name, hours_old=48, size=0)
    (bundles_dir(migrated) / name).write_bytes(b"again")
    _aged(bundles_dir(migrated) / name, hours=48)
    _resubmitted_during_the_sweep(monkeypatch, migrated, name, b"again", after=after)
    result = service.prune_incidents(session, settings=migrated, older_than=DAYS_90)
    # moved aside after the touch: it goes back; moved aside before the write: the old copy goes, the new one stays
    assert (result["orphans"], result["orphan_bytes"]) == ((0, 0) if after == "lookup" else (1, 5))
    assert _files(migrated) == {name} and (bundles_dir(migrated) / name).read_bytes() == b"again"
    assert time.time() - (bundles_dir(migrated) / name).stat().st_mtime < 60


@pytest.fixture
def env(monkeypatch, migrated):
    """The CLI pointed at the test's store and data directory."""
    monkeypatch.setenv("RCA_DATA_DIR", str(migrated.data_dir))
    monkeypatch.setenv("RCA_DATABASE_URL", migrated.resolved_database_url)
    get_settings.cache_clear()
    yield migrated
    get_settings.cache_clear()


def test_rca_incidents_prune(env, session, capsys):
    _incident(session, env, "old-1", days_old=100, size=1_500_000)
    _incident(session, env, "old-2", days_old=100, size=1_000_000)
    _incident(session, env, "kept", days_old=30)
    kept = queries.get_incident(session, incident_id="kept").created_at

    code, out = run_cli(capsys, "incidents", "prune", "--older-than", "90", "--dry-run")
    line = out.out.strip()
    assert code == 0 and out.out.count("\n") == 1, out
    assert line.startswith("would delete 2 unreviewed incidents submitted before ")
    assert line.endswith(f" UTC and 2 bundle files (2.5 MB); the oldest kept was submitted "
                         f"{kept:%Y-%m-%d %H:%M} UTC")
    assert _stored(session) == {"old-1", "old-2", "kept"}

    code, out = run_cli(capsys, "incidents", "prune", "--older-than", "90")
    assert code == 0 and out.out.startswith("deleted 2 unreviewed incidents submitted before ")
    assert _stored(session) == {"kept"} and _files(env) == {"kept.json"}

    code, out = run_cli(capsys, "incidents", "prune", "--older-than", "0")
    assert code == 0 and out.out.startswith("deleted 1 unreviewed incident submitted before ")
    assert out.out.rstrip().endswith("and 1 bundle file (0.0 MB); none kept")


def test_rca_incidents_on_a_data_directory_without_a_store_say_so_and_create_none(monkeypatch, tmp_path, capsys):
    """A mistyped RCA_DATA_DIR made a new empty store there, and prune said 'would delete 0 ...'."""
    typo = tmp_path / "vra"
    monkeypatch.setenv("RCA_DATA_DIR", str(typo))
    monkeypatch.delenv("RCA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        for args in (("prune", "--older-than", "90", "--dry-run"), ("prune", "--older-than", "0"),
                     ("delete", "inc-1")):
            code, out = run_cli(capsys, "incidents", *args)
            assert code == 2 and out.err == (
                f"error: RCA_DATA_DIR: got '{typo}', expected where the review service keeps its store (no "
                f"{typo / 'rca.db'} there; `rca serve` or `rca keys create` starts one)\n"), out.err
        assert not typo.exists()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("days", ["-1", "abc", "1.5", "", "1e9999"])
def test_rca_incidents_prune_refuses_a_days_that_is_no_count(env, session, capsys, days):
    _incident(session, env, "old", days_old=100)
    code, out = run_cli(capsys, "incidents", "prune", "--older-than", days)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in out.err, out.err
    assert lines[0] == f"error: --older-than: got {days!r}, expected a whole number of days, 0 or more"
    assert _stored(session) == {"old"}


def test_rca_incidents_prune_older_than_any_date_deletes_nothing(env, session, capsys):
    """A count of days past any date (more than timedelta holds) is a valid count: nothing is that old."""
    _incident(session, env, "old", days_old=100)
    code, out = run_cli(capsys, "incidents", "prune", "--older-than", str(10**10))
    assert code == 0 and out.out.startswith("deleted 0 unreviewed incidents submitted before 1970-01-01 00:00 UTC")
    assert _stored(session) == {"old"}


def test_rca_incidents_prune_names_the_orphans_when_there_are_any(env, session, capsys):
    _incident(session, env, "old", days_old=100, size=1_000_000)
    _entry(env, OLD_JSON, hours_old=2, size=300_000)
    _entry(env, "rca-upload-zz81kq/", hours_old=2, size=200_000)
    _entry(env, "notes.txt", hours_old=2)
    for dry_run in (True, False):
        code, out = run_cli(capsys, "incidents", "prune", "--older-than", "90", *(["--dry-run"] if dry_run else []))
        assert code == 0 and out.out.count("\n") == 1, out
        assert out.out.startswith(f"{'would delete' if dry_run else 'deleted'} 1 unreviewed incident submitted ")
        assert out.out.endswith(" UTC and 1 bundle file (1.0 MB), and 2 orphaned files no incident refers to "
                                "(0.5 MB); none kept\n"), out.out
    assert _files(env) == {"notes.txt"}
    _entry(env, OLD_TAR, hours_old=2, size=100_000)
    code, out = run_cli(capsys, "incidents", "prune", "--older-than", "90")
    assert code == 0 and out.out.endswith(" UTC and 0 bundle files (0.0 MB), and 1 orphaned file no incident refers "
                                          "to (0.1 MB); none kept\n"), out.out


# ------------------------------------------------------------------------------------- deleting one incident
def _reviews(session, incident_id: str) -> list:
    return list(session.exec(select(ReviewRecord).where(ReviewRecord.incident_id == incident_id)))


def test_an_admin_deletes_a_reviewed_incident_its_reviews_and_its_bundle(client, keys, settings, tmp_path):
    body = inline(bundle_dir(tmp_path, incident_id="inc-oops"))
    assert client.post("/v1/incidents", json=body, headers=keys["trigger"]).status_code == 201
    client.post("/v1/incidents", json=inline(bundle_dir(tmp_path / "b", incident_id="inc-kept")),
                headers=keys["trigger"])
    for verdict in ({"verdict": "confirm", "rank": 1}, {"verdict": "reject", "rank": 2}):
        r = client.post("/v1/incidents/inc-oops/reviews", json=verdict, headers=keys["reviewer"])
        assert r.status_code == 201, r.text
    client.post("/v1/incidents/inc-kept/reviews", json={"verdict": "confirm", "rank": 1}, headers=keys["reviewer"])
    with session_scope(settings.resolved_database_url) as s:
        file = queries.get_incident(s, incident_id="inc-oops").bundle_file
    assert (bundles_dir(settings) / file).is_file()

    r = client.delete("/v1/incidents/inc-oops", headers=keys["admin"])
    assert r.status_code == 204 and r.content == b""
    assert client.get("/v1/incidents/inc-oops", headers=keys["reviewer"]).status_code == 404
    with session_scope(settings.resolved_database_url) as s:
        assert _stored(s) == {"inc-kept"} and _reviews(s, "inc-oops") == [] and len(_reviews(s, "inc-kept")) == 1
    assert not (bundles_dir(settings) / file).exists() and len(_files(settings)) == 1
    again = client.delete("/v1/incidents/inc-oops", headers=keys["admin"])
    assert again.status_code == 404 and again.json() == {"error": {"message": "no incident 'inc-oops'",
                                                                   "field": None}}


@pytest.mark.parametrize("role", ["reviewer", "trigger"])
def test_only_an_admin_deletes_an_incident(client, keys, settings, tmp_path, role):
    client.post("/v1/incidents", json=inline(bundle_dir(tmp_path, incident_id="inc-1")), headers=keys["trigger"])
    r = client.delete("/v1/incidents/inc-1", headers=keys[role])
    assert r.status_code == 403 and f"role '{role}' may not do this" in r.json()["error"]["message"]
    assert client.delete("/v1/incidents/inc-1").status_code == 401
    assert client.get("/v1/incidents/inc-1", headers=keys["reviewer"]).status_code == 200


@pytest.mark.parametrize("incident_id", ["nope", "no%00pe"])
def test_deleting_an_unknown_incident_is_404(client, keys, incident_id):
    r = client.delete(f"/v1/incidents/{incident_id}", headers=keys["admin"])
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("no incident 'no")


def test_a_bundle_file_another_incident_refers_to_is_kept(session, migrated):
    _incident(session, migrated, "first", days_old=1, file="same.json", size=700)
    _incident(session, migrated, "second", days_old=1, file="same.json", size=700)
    _review(session, "first", "reject")
    result = service.delete_incident(session, settings=migrated, incident_id="first")
    assert result == {"incident": "first", "reviews": 1, "bundle_file": "same.json", "file": "shared", "bytes": 0,
                      "confirmed": []}
    assert _stored(session) == {"second"} and _files(migrated) == {"same.json"}
    result = service.delete_incident(session, settings=migrated, incident_id="second")
    assert (result["reviews"], result["file"], result["bytes"]) == (0, "removed", 700)
    assert _stored(session) == set() and _files(migrated) == set()


def test_a_bundle_file_missing_already_is_no_error(session, migrated):
    _incident(session, migrated, "gone", days_old=1, size=0)
    result = service.delete_incident(session, settings=migrated, incident_id="gone")
    assert (result["file"], result["bytes"]) == ("missing", 0) and _stored(session) == set()


@pytest.mark.parametrize("status", ["queued", "analyzing"])
def test_an_incident_being_analyzed_is_not_deleted(client, keys, settings, status):
    """The worker would store an answer for a row that is gone: refused until the analysis is done or failed."""
    with session_scope(settings.resolved_database_url) as s:
        _incident(s, settings, "busy", days_old=0, status=status)
        _review(s, "busy", "name_cause")
    r = client.delete("/v1/incidents/busy", headers=keys["admin"])
    assert r.status_code == 409
    doing = {"queued": "queued for analysis", "analyzing": "being analyzed"}[status]
    assert r.json()["error"]["message"] == f"incident 'busy' is {doing}; delete it once its analysis is done"
    with session_scope(settings.resolved_database_url) as s:
        assert _stored(s) == {"busy"} and len(_reviews(s, "busy")) == 1 and _files(settings) == {"busy.json"}
        s.exec(update(IncidentRecord).values(status=IncidentStatus.failed))
        s.commit()
    assert client.delete("/v1/incidents/busy", headers=keys["admin"]).status_code == 204
    with session_scope(settings.resolved_database_url) as s:
        assert _stored(s) == set() and _reviews(s, "busy") == [] and _files(settings) == set()


def test_a_deleted_confirmed_incident_leaves_the_next_export(session, migrated, stub_ranker, tmp_path):
    for incident_id in ("inc-keep", "inc-drop"):
        body = json.dumps(inline(bundle_dir(tmp_path, incident_id=incident_id))).encode()
        sub = service.submit_incident(session, body=body, fmt="json", settings=migrated)
        service.analyze_incident(session, incident_id=incident_id, settings=migrated, bundle=sub.bundle)
        service.record_review(session, settings=migrated, incident_id=incident_id, reviewer="ann",
                              review=service.ReviewIn(verdict="confirm", rank=1))
    assert sorted(p.name for p in service.export_reviewed(session, settings=migrated)) == [
        "inc-drop.tar.gz", "inc-keep.tar.gz"]
    result = service.delete_incident(session, settings=migrated, incident_id="inc-drop")
    assert result["confirmed"] == [{"node": "feature:amount", "kind": "data_drift"}] and result["reviews"] == 1
    assert [p.name for p in service.export_reviewed(session, settings=migrated)] == ["inc-keep.tar.gz"]


def test_a_delete_racing_a_resubmission_of_the_same_body_leaves_the_new_incident_its_file(session, migrated,
                                                                                          stub_ranker, tmp_path,
                                                                                          monkeypatch):
    """1 round in 60 (a DELETE and the same POST together, two processes on PostgreSQL) left the new incident with
    no bundle file: the delete looked for other users of the file before the new row committed, then removed it."""
    body = json.dumps(inline(bundle_dir(tmp_path, incident_id="inc-race"))).encode()
    name = service.submit_incident(session, body=body, fmt="json", settings=migrated).record.bundle_file
    service.analyze_incident(session, incident_id="inc-race", settings=migrated)
    stale_look = service._unused_files

    def resubmitted_after_the_look(session_, incidents, **kwargs):   # the first look, then the new row commits
        unused = stale_look(session_, incidents, **kwargs)
        with session_scope(migrated.resolved_database_url) as other:
            service.submit_incident(other, body=body, fmt="json", settings=migrated)
        return unused

    monkeypatch.setattr(service, "_unused_files", resubmitted_after_the_look)
    result = service.delete_incident(session, settings=migrated, incident_id="inc-race")
    assert result["file"] == "shared" and result["bytes"] == 0
    assert (bundles_dir(migrated) / name).read_bytes() == body and _stored(session) == {"inc-race"}
    monkeypatch.undo()

    # the other order: the delete removed the file between the resubmission's write and its row's commit
    service.analyze_incident(session, incident_id="inc-race", settings=migrated)
    service.delete_incident(session, settings=migrated, incident_id="inc-race")
    insert = queries.insert_incident

    def file_removed_before_the_row(session_, *, data):
        (bundles_dir(migrated) / name).unlink()
        return insert(session_, data=data)

    monkeypatch.setattr(queries, "insert_incident", file_removed_before_the_row)
    assert service.submit_incident(session, body=body, fmt="json", settings=migrated).created
    assert (bundles_dir(migrated) / name).read_bytes() == body


def test_a_prune_keeps_a_file_resubmitted_after_it_looked(session, migrated, monkeypatch):
    """The prune removed a batch's files after one look: a resubmission of the same body committing its row just
    after that look was left without its file."""
    _incident(session, migrated, "old-1", days_old=100)
    first_look = service._unused_files

    def resubmitted_after_the_look(session_, incidents, **kwargs):
        unused = first_look(session_, incidents, **kwargs)
        with session_scope(migrated.resolved_database_url) as other:
            _incident(other, migrated, "new-1", days_old=0, file="old-1.json", size=0)  # the same body, a new id
        return unused

    monkeypatch.setattr(service, "_unused_files", resubmitted_after_the_look)
    result = service.prune_incidents(session, settings=migrated, older_than=timedelta(days=90))
    assert result["incidents"] == 1 and result["files"] == 0 and result["bytes"] == 0
    assert _stored(session) == {"new-1"} and _files(migrated) == {"old-1.json"}


def test_a_review_being_stored_when_the_deletion_starts_is_deleted_too(session, migrated):
    """The deletion waits for a review being stored, then deletes it with the incident, and counts it."""
    _incident(session, migrated, "reviewed", days_old=1)
    _review(session, "reviewed", "reject")
    result = _while_a_review_is_stored(migrated, "reviewed", "bob", lambda s: service.delete_incident(
        s, settings=migrated, incident_id="reviewed"))
    assert result["reviews"] == 2 and result["confirmed"] == []   # ann rejects, bob confirms
    assert _stored(session) == set() and list(session.exec(select(ReviewRecord))) == []
    with pytest.raises(NotFoundError, match="no incident 'reviewed'"):
        _review(session, "reviewed", "confirm")


def test_rca_incidents_delete(env, session, capsys):
    _incident(session, env, "oops", days_old=1, size=2_500_000)
    _review(session, "oops", "reject")
    _review(session, "oops", "name_cause")   # ann's latest verdict: a confirmed cause
    _incident(session, env, "test-alert", days_old=1, file="shared.json")
    _incident(session, env, "other", days_old=1, file="shared.json")

    code, out = run_cli(capsys, "incidents", "delete", "oops")
    assert code == 0 and out.out == ("deleted incident oops, 2 reviews and its bundle file (2.5 MB); with its 1 "
                                     "confirmed cause, it leaves the training data at the next retrain\n")
    code, out = run_cli(capsys, "incidents", "delete", "test-alert")
    assert code == 0 and out.out == ("deleted incident test-alert, 0 reviews and no bundle file (another incident "
                                     "refers to it)\n")
    assert _stored(session) == {"other"} and _files(env) == {"shared.json"}


@pytest.mark.parametrize("incident_id, status, message", [
    ("nope", "done", "error: no incident 'nope'"),
    ("busy", "queued", "error: incident 'busy' is queued for analysis; delete it once its analysis is done"),
])
def test_rca_incidents_delete_refuses_in_one_line(env, session, capsys, incident_id, status, message):
    _incident(session, env, "busy", days_old=1, status=status)
    code, out = run_cli(capsys, "incidents", "delete", incident_id)
    assert code == 2 and out.out == "" and out.err == message + "\n", out
    assert _stored(session) == {"busy"}


def test_rca_retrain_on_a_store_that_is_not_there_refuses_and_creates_none(database_url, monkeypatch, tmp_path,
                                                                          capsys):
    """Pointed at the wrong database (empty), or at a mistyped data directory, rca retrain migrated a new empty store,
    replaced the reviewed corpus with an export of nothing, and trained a challenger without the reviews."""
    from rca.store.db import has_store, missing_sqlite_file

    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RCA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        code, out = run_cli(capsys, "retrain")
    finally:
        get_settings.cache_clear()
    assert code == 2 and out.err.startswith("error: RCA_DATABASE_URL: got '") and "Traceback" not in out.err
    assert "expected where the review service keeps its store (" in out.err
    assert not (tmp_path / "data" / "reviewed").exists()
    if database_url.startswith("sqlite"):
        assert missing_sqlite_file(database_url) is not None and "`rca keys create` starts one)" in out.err
    else:
        assert not has_store(database_url) and "that database has none of its tables" in out.err
