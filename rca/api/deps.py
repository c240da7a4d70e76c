"""Dependencies as typed aliases: the settings, a session, the analysis worker, the retrainer, and the caller's
API key and role.

The ones that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, and
a hop to a thread and back costs more than these take.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from rca.api.retrainer import Retrainer
from rca.api.worker import AnalysisWorker
from rca.config import Settings
from rca.store.db import open_session
from rca.store.keys import Caller, VerifiedKeys, authenticate
from rca.store.models import Role


class AuthError(Exception):
    """401 (no or unknown key) or 403 (a key whose role may not do this)."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """A session for the request. Opening one does no I/O; closing one that used the database returns its
    connection to the pool (a rollback, I/O on PostgreSQL), so that is done in a thread, outside the
    thread pool's capacity limit (as FastAPI exits ``def`` dependencies): requests holding every pool
    thread while they wait for a connection must not keep the closes that free connections waiting."""
    session = open_session(settings.resolved_database_url)
    try:
        yield session
    finally:
        if session.in_transaction():
            with CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close, limiter=CapacityLimiter(1))
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def get_worker(request: Request) -> AnalysisWorker:
    return request.app.state.worker


WorkerDep = Annotated[AnalysisWorker, Depends(get_worker)]


async def get_retrainer(request: Request) -> Retrainer:
    return request.app.state.retrainer


RetrainerDep = Annotated[Retrainer, Depends(get_retrainer)]


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "Authorization header must be 'Bearer <api key>'")
        return token.strip()
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    raise AuthError(401, "missing API key; send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")


def require(*roles: Role):
    """A dependency admitting callers whose key has one of ``roles`` (admin is always admitted).

    A key verified in the last few seconds (`VerifiedKeys`, ``RCA_KEY_CACHE_SECONDS``) is admitted from
    memory; any other is looked up in the store, in the thread pool."""

    async def caller(request: Request, session: SessionDep) -> Caller:
        key = _presented_key(request)
        verified: VerifiedKeys = request.app.state.verified_keys
        known = verified.get(key)
        if known is None:
            known = await run_in_threadpool(verify_key, session, key=key, verified=verified)
        return admit(known, roles=roles)

    caller.roles = roles  # read by rca.api.openapi to document who may call each operation
    return caller


def check_key(session: Session, *, key: str, roles: tuple[Role, ...]) -> Caller:
    """The caller of ``key`` if its role is one of ``roles`` (or admin); `AuthError` 401/403 otherwise.

    The console's check (cookie); the API's `require` is the same two steps, `verify_key` and `admit`,
    with verified keys remembered."""
    return admit(verify_key(session, key=key), roles=roles)


def verify_key(session: Session, *, key: str, verified: VerifiedKeys | None = None) -> Caller:
    """The caller of ``key``, looked up in the store (and kept in ``verified``); `AuthError` 401 if unknown
    or revoked."""
    record = authenticate(session, key=key)
    if record is None:
        raise AuthError(401, "unknown or revoked API key")
    caller = Caller.of(record)
    if verified is not None:
        verified.add(key, caller)
    return caller


def admitted(roles: tuple[Role, ...]) -> list[Role]:
    """The roles a key needs to be admitted where ``roles`` are: those and admin, by name."""
    return sorted({*roles, Role.admin}, key=lambda r: r.value)


def admit(caller: Caller, *, roles: tuple[Role, ...]) -> Caller:
    if caller.role is not Role.admin and caller.role not in roles:  # every request: no sort for the message
        raise AuthError(403, f"role '{caller.role.value}' may not do this; needs "
                             f"{' or '.join(r.value for r in admitted(roles))}")
    return caller


Trigger = Annotated[Caller, Depends(require(Role.trigger))]
Reader = Annotated[Caller, Depends(require(Role.trigger, Role.reviewer))]
Reviewer = Annotated[Caller, Depends(require(Role.reviewer))]
Admin = Annotated[Caller, Depends(require())]
