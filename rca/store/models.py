"""The review store's tables, one family of models per entity (Base, the table, Create, Public).

    incident   one submitted incident: its bundle (kept as uploaded, by sha256), status, answer (as a dict,
               and as the JSON text the API serves)
    review     append-only verdicts of reviewers on an incident's causes
    apikey     API keys, stored as sha256 hashes under a short public prefix, with a role

Timestamps are stored in UTC; SQLite hands them back naive, so `as_utc` puts the zone back on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, field_validator
from sqlalchemy import JSON, Column, DateTime, Index, String, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def holds(value: str | None) -> bool:
    """Whether a stored text column can hold ``value``: PostgreSQL text cannot hold NUL (U+0000), SQLite can;
    the store refuses it on both, so the backends agree. Neither can hold a lone surrogate (U+D800 to U+DFFF,
    what JSON's ``"\\ud800"`` decodes to), which has no UTF-8. None (no value) is held."""
    return value is None or ("\x00" not in value and (value.isascii() or _utf8(value)))


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(value: str) -> str:
    """``value`` if the store can hold it (`holds`); otherwise a ValueError, so a NUL in a request is a 422
    naming the field rather than a database error."""
    if not holds(value):
        raise ValueError("contains a NUL character (U+0000) or a lone surrogate (U+D800 to U+DFFF), which "
                         "cannot be stored")
    return value


StoredText = Annotated[str, AfterValidator(storable)]
"""Text from a request that the store keeps (a review's node and comment, a key's name)."""


def _ts(**kwargs) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), **kwargs))


class EnumText(TypeDecorator):
    """A StrEnum stored as plain text (no database enum type to migrate) and read back as the enum."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value, dialect):
        return None if value is None else self.enum(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum(value)


class IncidentStatus(StrEnum):
    queued = "queued"
    analyzing = "analyzing"
    done = "done"
    failed = "failed"


PENDING = (IncidentStatus.queued, IncidentStatus.analyzing)
"""The statuses of an incident the worker still has: its analysis is not done or failed yet."""


class ReviewVerdict(StrEnum):
    confirm = "confirm"          # one of the ranked causes is the true cause
    reject = "reject"            # one of the ranked causes is not
    name_cause = "name_cause"    # the true cause, missing from the ranking, named by the reviewer
    withdraw = "withdraw"        # takes back this reviewer's verdict on a cause: it counts no more either way


class Role(StrEnum):
    trigger = "trigger"    # posts incidents
    reviewer = "reviewer"  # reads and reviews
    admin = "admin"        # everything, plus rankers and keys


# ------------------------------------------------------------------------------------------------ incidents
class IncidentBase(SQLModel):
    id: str = Field(primary_key=True, max_length=200)
    model: str = Field(index=True, max_length=200)
    status: IncidentStatus = Field(default=IncidentStatus.queued, sa_type=EnumText(IncidentStatus),
                                  index=True)


class IncidentRecord(IncidentBase, table=True):
    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_created_id", "created_at", "id"),)

    detected_at: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    body_sha256: str = Field(max_length=64)
    bundle_file: str = Field(max_length=80)  # <sha256>.tar.gz|.zip|.json under settings' bundles dir
    # The signal families the bundle had (`Bundle.families`); NULL for incidents stored before they were kept.
    families: list[str] | None = Field(default=None, sa_column=Column(JSON))
    answer: dict | None = Field(default=None, sa_column=Column(JSON))
    # The answer as the API shows it (JSON text), rendered once when the answer is stored, so reading an
    # incident sends it as is instead of validating and serializing the answer on every request.
    answer_json: str | None = Field(default=None, sa_column=Column(Text))
    ranker: str | None = Field(default=None, max_length=200)
    top_confidence: float | None = Field(default=None, index=True)
    entropy: float | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))


class IncidentCreate(SQLModel):
    """What the submission use case stores (the API builds it from a loaded bundle)."""

    id: str
    model: str
    detected_at: datetime
    body_sha256: str
    bundle_file: str
    families: list[str] | None = None


class IncidentPublic(IncidentBase):
    detected_at: datetime
    created_at: datetime
    updated_at: datetime
    families: list[str] | None = Field(
        default=None, description="signal families the bundle had (predictions, histograms, feature_samples, "
                                  "traces, kpis, metrics, events, graph); null for incidents stored before 2026-12-03")
    answer: dict | None = None
    ranker: str | None = None
    top_confidence: float | None = None
    entropy: float | None = None
    error: str | None = None
    reviewed: bool = False
    url: str | None = None

    @field_validator("detected_at", "created_at", "updated_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


# -------------------------------------------------------------------------------------------------- reviews
class ReviewBase(SQLModel):
    verdict: ReviewVerdict = Field(sa_type=EnumText(ReviewVerdict))
    node: str = Field(max_length=300)
    kind: str = Field(max_length=40)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))


class ReviewRecord(ReviewBase, table=True):
    __tablename__ = "review"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incident.id", index=True, max_length=200)
    reviewer: str = Field(max_length=200, index=True)
    created_at: datetime = _ts(nullable=False)


class ReviewCreate(ReviewBase):
    incident_id: str
    reviewer: str


class ReviewPublic(ReviewBase):
    id: int
    incident_id: str
    reviewer: str
    created_at: datetime

    @field_validator("created_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


# ------------------------------------------------------------------------------------------------- api keys
class ApiKeyBase(SQLModel):
    name: str = Field(max_length=200)
    role: Role = Field(sa_type=EnumText(Role))


class ApiKeyRecord(ApiKeyBase, table=True):
    __tablename__ = "apikey"

    id: str = Field(primary_key=True, max_length=16)  # the public prefix, shown in the key itself
    key_sha256: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)


class ApiKeyCreate(ApiKeyBase):
    pass


class ApiKeyPublic(ApiKeyBase):
    id: str
    created_at: datetime

    @field_validator("created_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class ApiKeyCreated(ApiKeyPublic):
    key: str  # shown once, never stored
