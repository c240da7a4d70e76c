"""`rca keys create / list / revoke`: the API's key management, on the command line of the service's host."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from rca.api import create_app
from rca.config import get_settings
from tests.test_contract_errors import run_cli


@pytest.fixture
def env(monkeypatch, migrated, stub_ranker):
    monkeypatch.setenv("RCA_DATA_DIR", str(migrated.data_dir))
    monkeypatch.setenv("RCA_DATABASE_URL", migrated.resolved_database_url)
    get_settings.cache_clear()
    yield migrated
    get_settings.cache_clear()


def test_keys_are_listed_without_secrets_and_a_revoked_one_is_refused(env, capsys):
    code, out = run_cli(capsys, "keys", "create", "--role", "reviewer", "--name", "ann")
    assert code in (0, None)
    secret = out.out.strip()
    code, out = run_cli(capsys, "keys", "create", "--role", "admin", "--name", "ops")
    code, out = run_cli(capsys, "keys", "list", "--format", "json")
    listed = json.loads(out.out)
    assert [(k["name"], k["role"]) for k in listed] == [("ann", "reviewer"), ("ops", "admin")]
    assert secret.split("_")[1] == listed[0]["id"] and secret not in out.out and "key" not in listed[0]
    code, out = run_cli(capsys, "keys", "list")
    assert out.out.splitlines()[0].startswith(f"{listed[0]['id']}  reviewer  ") and out.out.splitlines()[0].endswith(
        "  ann") and secret.split("_", 2)[2] not in out.out  # the secret may hold "_" itself

    with TestClient(create_app(env)) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/v1/review-queue", headers=headers).status_code == 200
        code, out = run_cli(capsys, "keys", "revoke", listed[0]["id"])
        assert code in (0, None) and out.out.startswith(f"revoked reviewer key {listed[0]['id']} of ann (at ")
        client.app.state.verified_keys.forget(listed[0]["id"])  # as after RCA_KEY_CACHE_SECONDS
        assert client.get("/v1/review-queue", headers=headers).status_code == 401
    code, out = run_cli(capsys, "keys", "list", "--format", "json")
    assert [k["name"] for k in json.loads(out.out)] == ["ops"]
    code, out = run_cli(capsys, "keys", "revoke", "nope")
    assert code == 2 and out.err == "error: no API key 'nope'\n"


def test_a_store_that_cannot_be_written_is_one_line_and_exit_status_2(env, capsys, monkeypatch):
    """It was a traceback of ~100 lines and exit status 1: an operator revoking a key could not tell it was not."""
    import sqlalchemy.exc

    def locked(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("UPDATE api_key ...", {}, Exception("database is locked"))

    monkeypatch.setattr("rca.store.queries.revoke_api_key", locked)
    code, out = run_cli(capsys, "keys", "revoke", "abc")
    assert code == 2 and out.err == ("error: the review store could not be reached or written (OperationalError: "
                                     "database is locked); try again once it answers\n")
