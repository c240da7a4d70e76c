"""Keyword-only query functions over the store; each takes a session and commits what it writes.

Reviews are append-only: nothing here updates a review, and only an admin's deletion of their incident
(`delete_incident`) deletes them. Incidents are deleted by the retention prune (`delete_prunable_incidents`), only
those without any review, and by that deletion of one incident on purpose.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Row, bindparam, case, delete, exists, func, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, defer
from sqlmodel import Session, select

from rca.errors import ConflictError, NotFoundError
from rca.store.models import (
    PENDING,
    ApiKeyRecord,
    IncidentCreate,
    IncidentRecord,
    IncidentStatus,
    ReviewCreate,
    ReviewPublic,
    ReviewRecord,
    ReviewVerdict,
    Role,
    as_utc,
    holds,
    utcnow,
)


class CursorError(ValueError):
    """A pagination cursor that this store did not write."""


# ------------------------------------------------------------------------------------------------ incidents
def insert_incident(session: Session, *, data: IncidentCreate) -> tuple[IncidentRecord, bool]:
    """Store a new incident (status queued); return ``(record, created)``.

    When the id exists already the stored record is returned with ``created=False``; the caller compares
    ``body_sha256`` to tell a repeat from a conflict. Safe under concurrent submissions of the same id.
    """
    existing = session.get(IncidentRecord, data.id)
    if existing is not None:
        return existing, False
    now = utcnow()
    record = IncidentRecord.model_validate(data, update={"created_at": now, "updated_at": now,
                                                         "status": IncidentStatus.queued})
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return get_incident(session, incident_id=data.id), False
    return record, True


def get_incident(session: Session, *, incident_id: str, answer_dict: bool = True) -> IncidentRecord:
    """The stored incident; with ``answer_dict=False`` the ``answer`` column is left unread until touched
    (readers that serve ``answer_json`` skip decoding the answer)."""
    options = [] if answer_dict else [defer(IncidentRecord.answer)]
    # A value no stored row can hold (`holds`) finds nothing, without PostgreSQL's error for NUL in text.
    record = session.get(IncidentRecord, incident_id, options=options) if holds(incident_id) else None
    if record is None:
        raise NotFoundError(f"no incident '{incident_id}'")
    return record


def read_incident(session: Session, *, incident_id: str) -> tuple[Row, list[Row]]:
    """An incident and its reviews (oldest first) as plain rows, for serving it: every column but the answer
    dict (``answer_json`` carries the answer). `NotFoundError` if there is none.

    The hot path of the service: Core statements built once, run on the session's connection, no ORM
    objects (a third of the cost of `get_incident` + `list_reviews`). When the session has not begun a
    transaction yet, the two reads run in autocommit: on PostgreSQL that saves the BEGIN and ROLLBACK round
    trips (5 -> 3 per read, with the pool's ping). Reviews are append-only, so the pair needs no snapshot."""
    if not holds(incident_id):
        raise NotFoundError(f"no incident '{incident_id}'")
    incident, reviews = _reading_statements()
    connection = (session.connection() if session.in_transaction()
                  else session.connection(execution_options={"isolation_level": "AUTOCOMMIT"}))
    row = connection.execute(incident, {"incident_id": incident_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"no incident '{incident_id}'")
    return row, list(connection.execute(reviews, {"incident_id": incident_id}))


@cache
def _reading_statements():
    """Built on first use and kept: a statement object remembers its cache key and compiled form, and
    building one costs more than running it."""
    incident, review = IncidentRecord.__table__, ReviewRecord.__table__
    return (select(*[c for c in incident.c if c.name != "answer"]).where(incident.c.id == bindparam("incident_id")),
            select(review).where(review.c.incident_id == bindparam("incident_id"))
            .order_by(review.c.created_at, review.c.id))


def incident_status(session: Session, *, incident_id: str) -> IncidentStatus:
    """The incident's status as last committed (the session's transaction, if any, is ended first: a wait for
    another process's analysis must not read an old snapshot). `NotFoundError` if there is none."""
    session.rollback()
    status = session.exec(select(IncidentRecord.status).where(IncidentRecord.id == incident_id)).one_or_none() \
        if holds(incident_id) else None
    if status is None:
        raise NotFoundError(f"no incident '{incident_id}'")
    return status


def set_incident_status(session: Session, *, incident_id: str, status: IncidentStatus,
                        answer: dict | None = None, answer_json: str | None = None, ranker: str | None = None,
                        top_confidence: float | None = None, entropy: float | None = None,
                        error: str | None = None) -> IncidentRecord:
    record = get_incident(session, incident_id=incident_id)
    record.status = status
    record.updated_at = utcnow()
    if status is IncidentStatus.done:
        record.answer, record.answer_json, record.ranker, record.error = answer, answer_json, ranker, None
        record.top_confidence, record.entropy = top_confidence, entropy
    if status is IncidentStatus.failed or (status is IncidentStatus.queued and error is not None):
        record.error = error   # queued with an error: waiting for the server (`rca.service.analyze_incident`)
    session.add(record)
    session.commit()
    session.refresh(record)
    return record


def claim_incident(session: Session, *, incident_id: str) -> IncidentRecord | None:
    """Mark the incident ``analyzing`` if it is still pending (queued, or analyzing where a process stopped or died)
    and return it; None when its analysis is over (done or failed) or it was deleted. One conditional UPDATE: of two
    processes that both hold it, the second to finish cannot turn a stored answer back into 'analyzing'."""
    claimed = session.exec(update(IncidentRecord)
                           .where(IncidentRecord.id == incident_id, IncidentRecord.status.in_(PENDING))
                           .values(status=IncidentStatus.analyzing, updated_at=utcnow()))
    session.commit()
    if not claimed.rowcount:
        return None
    record = get_incident(session, incident_id=incident_id)
    session.refresh(record)  # the session keeps what it read (expire_on_commit=False)
    return record


def pending_incident_ids(session: Session, *, untouched_since: datetime | None = None) -> list[str]:
    """Incidents left queued or half-analyzed (e.g. by a restart), oldest first; with ``untouched_since``, only
    those whose status has not changed since then."""
    query = select(IncidentRecord.id).where(IncidentRecord.status.in_(PENDING))
    if untouched_since is not None:
        query = query.where(IncidentRecord.updated_at < untouched_since)
    return list(session.exec(query.order_by(IncidentRecord.created_at, IncidentRecord.id)))


def incident_counts(session: Session, *, timeout_ms: int | None = None) -> dict[IncidentStatus, int]:
    """Stored incidents by status, every status (zeros too), in one query. With ``timeout_ms``, PostgreSQL gives
    the query up past it (an OperationalError): a table another transaction has locked is not waited on.
    (SQLite in WAL mode lets a reader read while another connection writes.)"""
    if timeout_ms is not None and session.get_bind().dialect.name == "postgresql":
        session.exec(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
    counts = dict.fromkeys(IncidentStatus, 0)
    counts.update(session.exec(select(IncidentRecord.status, func.count()).group_by(IncidentRecord.status)).all())
    return counts


# Pages of incidents are built from the answer dict; the rendered copy (answer_json, as large) stays unread.
_NOT_RENDERED = defer(IncidentRecord.answer_json)


def _reviewed():
    """The incident has a review of any verdict: a person looked at it (what retention keeps)."""
    return exists().where(ReviewRecord.incident_id == IncidentRecord.id)


def _standing():
    """A review that is its reviewer's latest on its cause and not a withdrawal: a verdict that stands."""
    later = aliased(ReviewRecord)
    newer = exists().where(later.incident_id == ReviewRecord.incident_id, later.reviewer == ReviewRecord.reviewer,
                           later.node == ReviewRecord.node, later.kind == ReviewRecord.kind,
                           (later.created_at > ReviewRecord.created_at)
                           | ((later.created_at == ReviewRecord.created_at) & (later.id > ReviewRecord.id)))
    return (ReviewRecord.verdict != ReviewVerdict.withdraw) & ~newer


def _judged():
    """The incident has a verdict that stands (`_standing`): reviewed, for the queue and the ``reviewed`` filter.
    One whose every verdict was withdrawn is unreviewed again: nothing of it counts, and it goes back to the queue."""
    return exists().where(ReviewRecord.incident_id == IncidentRecord.id, _standing())


def is_reviewed(session: Session, *, incident_id: str) -> bool:
    return session.exec(select(exists().where(ReviewRecord.incident_id == incident_id, _standing()))).one()


def reviewed_ids(session: Session, *, incident_ids: Sequence[str]) -> set[str]:
    if not incident_ids:
        return set()
    rows = session.exec(select(ReviewRecord.incident_id).where(ReviewRecord.incident_id.in_(incident_ids),
                                                               _standing()).distinct())
    return set(rows)


def encode_cursor(record: IncidentRecord) -> str:
    raw = json.dumps([as_utc(record.created_at).isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, incident_id = json.loads(raw)
        if not holds(str(incident_id)):
            raise ValueError("NUL in the incident id")
        return as_utc(datetime.fromisoformat(created)), str(incident_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise CursorError(f"cursor '{cursor[:40]}' is not one this service returned") from exc


def list_incidents(session: Session, *, model: str | None = None, status: IncidentStatus | None = None,
                   since: datetime | None = None, until: datetime | None = None, reviewed: bool | None = None,
                   cursor: str | None = None, limit: int = 50) -> tuple[list[IncidentRecord], str | None]:
    """Newest first, filtered; returns one page and the cursor of the next (None on the last page).

    ``since``/``until`` bound ``detected_at`` (since inclusive, until exclusive).
    """
    if not holds(model):
        return [], None
    query = select(IncidentRecord).options(_NOT_RENDERED)
    if model is not None:
        query = query.where(IncidentRecord.model == model)
    if status is not None:
        query = query.where(IncidentRecord.status == status)
    if since is not None:
        query = query.where(IncidentRecord.detected_at >= since)
    if until is not None:
        query = query.where(IncidentRecord.detected_at < until)
    if reviewed is not None:
        query = query.where(_judged() if reviewed else ~_judged())
    if cursor is not None:
        created, incident_id = decode_cursor(cursor)
        query = query.where((IncidentRecord.created_at < created)
                            | ((IncidentRecord.created_at == created) & (IncidentRecord.id < incident_id)))
    query = query.order_by(IncidentRecord.created_at.desc(), IncidentRecord.id.desc()).limit(limit + 1)
    rows = list(session.exec(query))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def review_queue(session: Session, *, model: str | None = None, limit: int = 50) -> list[IncidentRecord]:
    """Analyzed, unreviewed incidents, least certain first (lowest top confidence; ties: oldest first)."""
    if not holds(model):
        return []
    query = (select(IncidentRecord).options(_NOT_RENDERED)
             .where(IncidentRecord.status == IncidentStatus.done, ~_judged()))
    if model is not None:
        query = query.where(IncidentRecord.model == model)
    query = query.order_by(IncidentRecord.top_confidence.asc().nulls_first(), IncidentRecord.created_at,
                           IncidentRecord.id).limit(limit)
    return list(session.exec(query))


# -------------------------------------------------------------------------------------------------- reviews
def add_review(session: Session, *, data: ReviewCreate) -> ReviewRecord:
    get_incident(session, incident_id=data.incident_id)
    record = ReviewRecord.model_validate(data, update={"created_at": utcnow()})
    session.add(record)
    try:
        session.commit()
    except IntegrityError:  # the review's foreign key: a prune deleted the incident since it was read
        session.rollback()
        raise NotFoundError(f"no incident '{data.incident_id}'") from None
    session.refresh(record)
    return record


def list_reviews(session: Session, *, incident_id: str) -> list[ReviewRecord]:
    """The whole history, oldest first."""
    return list(session.exec(select(ReviewRecord).where(ReviewRecord.incident_id == incident_id)
                             .order_by(ReviewRecord.created_at, ReviewRecord.id)))


def latest_verdicts(reviews: Sequence[ReviewRecord | ReviewPublic]) -> list[ReviewRecord | ReviewPublic]:
    """The latest verdict of each reviewer on each cause (node, kind); earlier ones are history."""
    latest: dict[tuple[str, str, str], ReviewRecord] = {}
    for review in sorted(reviews, key=lambda r: (as_utc(r.created_at), r.id)):
        latest[(review.reviewer, review.node, review.kind)] = review
    return list(latest.values())


def confirmed_causes(reviews: Sequence[ReviewRecord | ReviewPublic]) -> list[tuple[str, str]]:
    """Causes (node, kind) that more reviewers confirm or name than reject, by their latest verdicts (a withdrawn
    verdict counts neither way)."""
    return sorted(cause for cause, votes in _votes(reviews).items() if sum(votes) > 0)


VOTES = {ReviewVerdict.confirm: 1, ReviewVerdict.name_cause: 1, ReviewVerdict.reject: -1, ReviewVerdict.withdraw: 0}
"""What each reviewer's latest verdict on a cause adds to its count (`confirmed_causes`)."""


def _votes(reviews: Sequence[ReviewRecord | ReviewPublic]) -> dict[tuple[str, str], list[int]]:
    """Each cause (node, kind) with the `VOTES` of its reviewers' latest verdicts."""
    votes: dict[tuple[str, str], list[int]] = {}
    for review in latest_verdicts(reviews):
        votes.setdefault((review.node, review.kind), []).append(VOTES[review.verdict])
    return votes


def standing_verdicts(reviews: Sequence[ReviewRecord | ReviewPublic]) -> list[ReviewRecord | ReviewPublic]:
    """The latest verdicts that stand: not withdrawals (`_standing`, the same rule in SQL)."""
    return [r for r in latest_verdicts(reviews) if r.verdict is not ReviewVerdict.withdraw]


def disputed_incidents(session: Session, *, model: str | None = None, limit: int = 50) -> list[IncidentRecord]:
    """Reviewed incidents on which reviewers disagree: a cause whose latest verdicts include a confirm (or a name)
    and a reject that cancel out (`confirmed_causes` takes it for unconfirmed), most recently reviewed first. They
    left the review queue with their first verdict, and no label comes of them until a third reviewer settles it.

    One query: the store counts the standing verdicts of each cause (`_standing`; a withdrawal adds nothing either
    way, so leaving it out changes no sum), so a page load reads the incidents it lists and no review."""
    if not holds(model):
        return []
    vote = case((ReviewRecord.verdict == ReviewVerdict.reject, -1), else_=1)
    split = (select(ReviewRecord.incident_id).where(_standing())
             .group_by(ReviewRecord.incident_id, ReviewRecord.node, ReviewRecord.kind)
             .having(func.sum(vote) == 0))  # standing votes are +1 or -1: a zero sum holds both
    last = (select(func.max(ReviewRecord.created_at)).where(ReviewRecord.incident_id == IncidentRecord.id)
            .scalar_subquery())
    query = select(IncidentRecord).options(_NOT_RENDERED).where(IncidentRecord.id.in_(split))
    if model is not None:
        query = query.where(IncidentRecord.model == model)
    return list(session.exec(query.order_by(last.desc(), IncidentRecord.id.desc()).limit(limit)))


def disputed_causes(reviews: Sequence[ReviewRecord | ReviewPublic]) -> list[tuple[str, str]]:
    """Causes (node, kind) whose reviewers' latest verdicts hold both a confirm (or a name) and a reject, and cancel
    out: a tie `confirmed_causes` leaves out."""
    return sorted(cause for cause, votes in _votes(reviews).items()
                  if 1 in votes and -1 in votes and sum(votes) == 0)


def incidents_with_reviews(session: Session) -> list[str]:
    return list(session.exec(select(ReviewRecord.incident_id).distinct().order_by(ReviewRecord.incident_id)))


# ------------------------------------------------------------------------------------------------ retention
PRUNE_BATCH = 500
"""Incidents deleted per statement and transaction by `delete_prunable_incidents` (and names per statement of
`bundle_files_in_use`): far below SQLite's and PostgreSQL's limits on bound parameters, and short enough that the
running service's writes wait little for each."""


def _prunable(created_before: datetime):
    """What a retention prune may delete: an incident created before ``created_before``, its analysis finished
    (done or failed), without a review of any verdict (a reject too: a person looked at it)."""
    return ((IncidentRecord.created_at < created_before)
            & IncidentRecord.status.in_([IncidentStatus.done, IncidentStatus.failed]) & ~_reviewed())


def prunable_incidents(session: Session, *, created_before: datetime) -> list[tuple[str, str]]:
    """``(id, bundle_file)`` of the incidents `delete_prunable_incidents` would delete now, oldest first."""
    return [tuple(row) for row in session.exec(
        select(IncidentRecord.id, IncidentRecord.bundle_file).where(_prunable(created_before))
        .order_by(IncidentRecord.created_at, IncidentRecord.id))]


def delete_prunable_incidents(session: Session, *, created_before: datetime,
                              limit: int = PRUNE_BATCH) -> list[tuple[str, str]]:
    """Delete the oldest ``limit`` unreviewed, analyzed incidents created before ``created_before``, in one
    transaction; returns ``(id, bundle_file)`` of each deleted, ``[]`` when none is left. Their bundle files are
    the caller's.

    Safe while the service runs: an incident reviewed meanwhile stays. The rows are locked first (PostgreSQL
    ``SELECT ... FOR UPDATE``, which waits for a review being stored: the review's foreign key check holds a share
    lock on its incident's row), then deleted if still without a review. Under PostgreSQL's default isolation, READ
    COMMITTED, that DELETE is a new statement with a new snapshot, so it sees a review committed while it waited;
    one stored after it fails on its foreign key (`add_review`: `NotFoundError`). SQLite has one writer at a time:
    the DELETE, its ``NOT EXISTS`` included, is atomic against a review's INSERT.
    """
    while ids := list(session.exec(select(IncidentRecord.id).where(_prunable(created_before))
                                   .order_by(IncidentRecord.created_at, IncidentRecord.id)
                                   .limit(limit).with_for_update())):
        rows = session.exec(delete(IncidentRecord).where(IncidentRecord.id.in_(ids), _prunable(created_before))
                            .returning(IncidentRecord.id, IncidentRecord.bundle_file)
                            .execution_options(synchronize_session=False)).all()
        session.commit()
        if rows:  # else every one was reviewed meanwhile: the next rows
            return [tuple(row) for row in rows]
    session.commit()  # ends the transaction the last look began (PostgreSQL)
    return []


def bundle_files_in_use(session: Session, *, names: Collection[str],
                        unless_prunable_before: datetime | None = None) -> set[str]:
    """Which of the bundle files ``names`` an incident refers to; with ``unless_prunable_before``, an incident a
    prune of the incidents created before it would delete does not count."""
    names = sorted(names)
    used: set[str] = set()
    for start in range(0, len(names), PRUNE_BATCH):
        chunk = names[start:start + PRUNE_BATCH]
        query = select(IncidentRecord.bundle_file).where(IncidentRecord.bundle_file.in_(chunk))
        if unless_prunable_before is not None:
            query = query.where(~_prunable(unless_prunable_before))
        used.update(session.exec(query.distinct()))
    return used


def oldest_incident(session: Session, *, unless_prunable_before: datetime | None = None) -> datetime | None:
    """When the oldest stored incident was created (None when there is none); with ``unless_prunable_before``, of
    those a prune of the incidents created before it would keep."""
    query = select(func.min(IncidentRecord.created_at))
    if unless_prunable_before is not None:
        query = query.where(~_prunable(unless_prunable_before))
    return as_utc(session.exec(query).one())


# -------------------------------------------------------------------------------------------------- deletion
def delete_incident(session: Session, *, incident_id: str) -> tuple[str, list[Row]]:
    """Delete one incident and all its reviews, in one transaction (reviews first: their foreign key); returns its
    bundle file (the caller's) and the reviews deleted (plain rows, oldest first).

    Raises `NotFoundError` for an unknown id and `ConflictError` for an incident queued or being analyzed: the worker
    would store its answer for a row that is gone, so it is refused until its analysis is done or failed (status
    never goes back). The row is locked first (PostgreSQL ``SELECT ... FOR UPDATE``, which waits for a review being
    stored; one stored after the deletion fails on its foreign key, `add_review`: `NotFoundError`); on SQLite the
    DELETEs take the one write lock, and what they return is what went.
    """
    status = session.exec(select(IncidentRecord.status).where(IncidentRecord.id == incident_id)
                          .with_for_update()).one_or_none() if holds(incident_id) else None
    if status in PENDING:
        session.rollback()
        doing = "queued for analysis" if status is IncidentStatus.queued else "being analyzed"
        raise ConflictError(f"incident '{incident_id}' is {doing}; delete it once its analysis is done")
    reviews = gone = []
    if status is not None:
        reviews = session.exec(delete(ReviewRecord).where(ReviewRecord.incident_id == incident_id)
                               .returning(*ReviewRecord.__table__.c)
                               .execution_options(synchronize_session=False)).all()
        gone = session.exec(delete(IncidentRecord).where(IncidentRecord.id == incident_id)
                            .returning(IncidentRecord.bundle_file)
                            .execution_options(synchronize_session=False)).all()
    if not gone:  # unknown, or deleted since the look (SQLite: by a prune in between)
        session.rollback()
        raise NotFoundError(f"no incident '{incident_id}'")
    session.commit()
    return gone[0].bundle_file, sorted(reviews, key=lambda r: (as_utc(r.created_at), r.id))


# ------------------------------------------------------------------------------------------------- api keys
def insert_api_key(session: Session, *, key_id: str, key_sha256: str, name: str, role: Role) -> ApiKeyRecord:
    record = ApiKeyRecord(id=key_id, key_sha256=key_sha256, name=name, role=role, created_at=utcnow())
    session.add(record)
    session.commit()
    session.refresh(record)
    return record


def get_api_key(session: Session, *, key_id: str) -> ApiKeyRecord | None:
    record = session.get(ApiKeyRecord, key_id) if holds(key_id) else None
    if record is None or record.revoked_at is not None:
        return None
    return record


def list_api_keys(session: Session) -> list[ApiKeyRecord]:
    return list(session.exec(select(ApiKeyRecord).where(ApiKeyRecord.revoked_at.is_(None))
                             .order_by(ApiKeyRecord.created_at)))


def api_key_names(session: Session) -> list[str]:
    """The names of every key ever made, revoked ones too (the reviews they wrote still bear them)."""
    return list(session.exec(select(ApiKeyRecord.name).distinct()))


def revoke_api_key(session: Session, *, key_id: str) -> ApiKeyRecord:
    record = session.get(ApiKeyRecord, key_id) if holds(key_id) else None
    if record is None:
        raise NotFoundError(f"no API key '{key_id}'")
    if record.revoked_at is not None:  # revoked already: keep when it was
        return record
    record.revoked_at = utcnow()
    session.add(record)
    session.commit()
    return record
