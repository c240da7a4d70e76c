"""API keys: ``rca_<id>_<secret>``. Only the sha256 of the whole key is stored, under its public ``id``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session

from rca.store import queries
from rca.store.models import ApiKeyCreated, ApiKeyPublic, ApiKeyRecord, Role

PREFIX = "rca"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, role: Role) -> ApiKeyCreated:
    """Make and store a new key; the returned ``key`` is the only time the secret is shown."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    record = queries.insert_api_key(session, key_id=key_id, key_sha256=hash_key(key), name=name, role=role)
    return ApiKeyCreated(**ApiKeyPublic.model_validate(record).model_dump(), key=key)


def authenticate(session: Session, *, key: str) -> ApiKeyRecord | None:
    """The stored key matching ``key``, or None (unknown, revoked or malformed)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or len(parts[1]) > 16:
        return None
    record = queries.get_api_key(session, key_id=parts[1])
    if record is None or not hmac.compare_digest(record.key_sha256, hash_key(key)):
        return None
    return record
