"""`rca incidents prune`: old, unreviewed, analyzed incidents go with the bundle files no other incident uses;
reviewed, recent, queued and analyzing ones stay. On SQLite and, with RCA_TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import json
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
from tests.service.bundles import bundle_dir, inline
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


def test_an_incident_reviewed_while_the_prune_waits_for_it_stays(session, migrated):
    """A review being stored (its transaction open, its foreign key check holding the incident's row on PostgreSQL,
    the write lock on SQLite) when the prune starts: the prune waits for it, sees it and keeps the incident."""
    _incident(session, migrated, "old-reviewed", days_old=100)
    _incident(session, migrated, "old-other", days_old=100)
    url = migrated.resolved_database_url
    outcome: dict = {}

    def prune() -> None:
        try:
            with session_scope(url) as s:
                outcome["result"] = service.prune_incidents(s, settings=migrated, older_than=DAYS_90)
        except Exception as exc:  # seen by the test below
            outcome["error"] = exc

    with get_engine(url).connect() as conn:
        transaction = conn.begin()
        conn.execute(insert(ReviewRecord).values(incident_id="old-reviewed", reviewer="ann", verdict="confirm",
                                                 node="feature:a", kind="data_drift", comment="",
                                                 created_at=datetime.now(UTC)))
        thread = threading.Thread(target=prune)
        thread.start()
        time.sleep(1.0)   # the prune reaches the row (or the write lock) and waits
        assert thread.is_alive(), outcome
        transaction.commit()
    thread.join(60)
    assert "error" not in outcome, outcome["error"]
    assert outcome["result"]["incidents"] == 1 and _stored(session) == {"old-reviewed"}
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
