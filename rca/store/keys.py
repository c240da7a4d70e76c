"""API keys: ``rca_<id>_<secret>``. Only the sha256 of the whole key is stored, under its public ``id``.

`VerifiedKeys` remembers, for a few seconds, whom a key verified against the store belongs to, so a
service answering hundreds of requests a second does not look every one of them up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from rca.errors import InputError, shown
from rca.store import queries
from rca.store.models import ApiKeyCreated, ApiKeyPublic, ApiKeyRecord, Role, holds

PREFIX = "rca"
NAME_MAX = 200
"""The longest key name the store keeps (`rca.store.models.ApiKeyBase.name`)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, role: Role) -> ApiKeyCreated:
    """Make and store a new key; the returned ``key`` is the only time the secret is shown. The ``name`` (who
    holds it, the reviewer's identity) takes 1 to 200 characters, not all blank, without control characters (a
    newline split its line of `rca keys list`, and the reviewer's name on the console) nor NUL.

    The name is the reviewer's identity (a key rotated keeps it), so two spellings of one name would count one
    person's verdict twice: it is stored in Unicode's NFKC form without the blanks around it, invisible characters
    (a zero-width space) are refused, and so is a name that another key's (revoked too) differs from only by
    case."""
    if holds(name) and not any(c < " " or c == "\x7f" for c in name):
        name = unicodedata.normalize("NFKC", name).strip()   # the form it is stored in, which is what is checked
    if not name or len(name) > NAME_MAX or not holds(name) or any(c < " " or c == "\x7f" for c in name):
        raise InputError(f"a name of 1 to {NAME_MAX} characters, not all blank, without control characters (a "
                         f"newline, a tab) is needed (the reviewer's identity); got {shown(name)}", field="name")
    if invisible := sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) == "Cf"}):
        raise InputError(f"{shown(name)} holds invisible characters ({', '.join(invisible)}); expected a name as "
                         "it reads (the reviewer's identity)", field="name")
    if twin := next((other for other in queries.api_key_names(session)
                     if other != name and other.casefold() == name.casefold()), None):
        raise InputError(f"{shown(name)} differs from the name of an existing key, {shown(twin)}, only by case; "
                         f"to give that reviewer another key, use {shown(twin)} itself (names are identities: "
                         "two spellings would count one person twice)", field="name")
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


@dataclass(frozen=True)
class Caller:
    """Whom a verified key belongs to: its public id, its holder's name and its role."""

    key_id: str
    name: str
    role: Role

    @classmethod
    def of(cls, record: ApiKeyRecord) -> Caller:
        return cls(key_id=record.id, name=record.name, role=record.role)


class VerifiedKeys:
    """Keys verified against the store in the last ``ttl`` seconds, by the sha256 of the whole key.

    A key revoked in this process is forgotten at once (`forget`); one revoked elsewhere (another worker
    process, another host) is still taken for at most ``ttl`` seconds after it was verified. ``ttl=0``
    remembers nothing. Only keys that verified are kept, so the table holds at most one entry per live key.
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Caller]] = {}
        self._revoked: set[str] = set()  # ids revoked here: a lookup that raced the revocation is not kept

    def get(self, key: str) -> Caller | None:
        """The caller of ``key`` if it was verified less than ``ttl`` seconds ago."""
        entry = self._known.get(hash_key(key))
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def add(self, key: str, caller: Caller) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if caller.key_id not in self._revoked:
                self._known[hash_key(key)] = (self.clock() + self.ttl, caller)

    def forget(self, key_id: str) -> None:
        """Drop every entry of the key ``key_id`` (it was just revoked), and never keep it again."""
        with self._lock:
            self._revoked.add(key_id)
            self._known = {h: e for h, e in self._known.items() if e[1].key_id != key_id}
