"""Verified API keys are remembered for RCA_KEY_CACHE_SECONDS: what that means for revocation."""

from __future__ import annotations

import pytest

from rca.store import queries
from rca.store.db import session_scope
from rca.store.keys import Caller, VerifiedKeys
from rca.store.models import Role
from tests.service.conftest import create_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client) -> Clock:
    clock = Clock()
    client.app.state.verified_keys.clock = clock
    return clock


def revoke_elsewhere(settings, key: str) -> None:
    """Revoke in the store directly, as another process of the service (or another host) would."""
    with session_scope(settings.resolved_database_url) as s:
        queries.revoke_api_key(s, key_id=key.split("_")[1])


def test_a_key_revoked_elsewhere_is_refused_once_its_verification_is_older_than_the_ttl(client, settings, clock):
    key = create_key(settings, "dora", Role.reviewer)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/review-queue", headers=headers).status_code == 200
    revoke_elsewhere(settings, key)
    clock.now += settings.key_cache_seconds - 0.1
    assert client.get("/v1/review-queue", headers=headers).status_code == 200  # still within the TTL
    clock.now += 0.2
    r = client.get("/v1/review-queue", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["message"] == "unknown or revoked API key"


def test_a_key_revoked_through_this_service_is_refused_at_once(client, settings, clock):
    admin = {"Authorization": "Bearer " + create_key(settings, "ops", Role.admin)}
    key = create_key(settings, "erin", Role.reviewer)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/review-queue", headers=headers).status_code == 200
    assert client.delete(f"/v1/keys/{key.split('_')[1]}", headers=admin).status_code == 204
    assert client.get("/v1/review-queue", headers=headers).status_code == 401


def test_no_cache_when_the_ttl_is_zero(settings, stub_ranker):
    from fastapi.testclient import TestClient

    from rca.api import create_app

    settings = settings.model_copy(update={"key_cache_seconds": 0.0})
    with TestClient(create_app(settings)) as client:
        key = create_key(settings, "finn", Role.reviewer)
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/review-queue", headers=headers).status_code == 200
        revoke_elsewhere(settings, key)
        assert client.get("/v1/review-queue", headers=headers).status_code == 401


def test_a_remembered_key_still_needs_the_role_and_the_whole_secret(client, settings, clock):
    key = create_key(settings, "gus", Role.trigger)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/incidents/none", headers=headers).status_code == 404  # verified, now remembered
    assert client.get("/v1/review-queue", headers=headers).status_code == 403
    forged = {"Authorization": f"Bearer {key[:-1]}{'A' if key[-1] != 'A' else 'B'}"}
    assert client.get("/v1/incidents/none", headers=forged).status_code == 401


def test_verified_keys_forget_only_the_revoked_key():
    clock = Clock()
    keys = VerifiedKeys(5.0, clock=clock)
    ann, bob = Caller("a1", "ann", Role.reviewer), Caller("b2", "bob", Role.admin)
    keys.add("rca_a1_x", ann)
    keys.add("rca_b2_y", bob)
    keys.forget("a1")
    assert keys.get("rca_a1_x") is None and keys.get("rca_b2_y") == bob
    clock.now += 5.0
    assert keys.get("rca_b2_y") is None


def test_a_lookup_that_raced_a_revocation_here_is_not_kept():
    """verify_key read the key before DELETE committed, and adds it after the revocation forgot it."""
    keys = VerifiedKeys(5.0, clock=Clock())
    ann = Caller("a1", "ann", Role.reviewer)
    keys.forget("a1")
    keys.add("rca_a1_x", ann)
    assert keys.get("rca_a1_x") is None
