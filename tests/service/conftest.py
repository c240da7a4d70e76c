"""Fixtures for the store and API tests: every test runs on SQLite (a fresh file) and, when
RCA_TEST_DATABASE_URL is set, on PostgreSQL in a fresh schema of its own (dropped afterwards), so parallel
runs and re-runs never see each other's rows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rca.config import Settings
from rca.contract import Answer, RankedCause
from rca.store.db import dispose_engine, session_scope, upgrade
from rca.store.keys import create_api_key
from rca.store.models import Role

PG_URL = os.environ.get("RCA_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'rca.db').as_posix()}"
        yield url
        dispose_engine(url)
        return
    schema = f"rca_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        dispose_engine(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", database_url=database_url, corpus_dir=tmp_path / "corpus",
                    analysis_budget=10.0)


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def session(migrated: Settings):
    with session_scope(migrated.resolved_database_url) as s:
        yield s


class StubRanker:
    """Three fixed causes; the top confidence is read from the incident's symptom node name when it is a
    number (``kpi:0.3``), so tests can order the review queue."""

    name = "stub"
    causes = [("feature:amount", "data_drift"), ("service:api", "dependency_latency"),
              ("model:fraud-scorer@v1", "model_regression")]

    def rank(self, bundle, candidates, *, top: int = 10) -> Answer:
        try:
            first = float(bundle.incident.symptom.node.split(":", 1)[1])
        except (AttributeError, ValueError):
            first = 0.5
        confs = [first, (1 - first) / 3, (1 - first) / 4]
        return Answer(incident=bundle.incident.id, ranker=self.name, causes=[
            RankedCause(rank=i + 1, node=n, kind=k, confidence=round(c, 6))
            for i, ((n, k), c) in enumerate(zip(self.causes, confs))][:top])


@pytest.fixture
def stub_ranker(monkeypatch) -> StubRanker:
    ranker = StubRanker()
    monkeypatch.setattr("rca.service.get_ranker", lambda settings=None: ranker)
    return ranker


@pytest.fixture
def client(settings: Settings, stub_ranker):
    from fastapi.testclient import TestClient

    from rca.api import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def keys(client, settings: Settings) -> dict[str, dict[str, str]]:
    """Authorization headers per role (the app has migrated the store by now)."""
    out = {}
    with session_scope(settings.resolved_database_url) as s:
        for role in Role:
            key = create_api_key(s, name=f"{role.value}-1", role=role).key
            out[role.value] = {"Authorization": f"Bearer {key}"}
    out["reviewer2"] = {"Authorization": "Bearer " + create_key(settings, "reviewer-2", Role.reviewer)}
    return out


def create_key(settings: Settings, name: str, role: Role) -> str:
    with session_scope(settings.resolved_database_url) as s:
        return create_api_key(s, name=name, role=role).key
