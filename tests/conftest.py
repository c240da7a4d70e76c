from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.builders import write_minimal_bundle

REPO = Path(__file__).resolve().parent.parent
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A small valid bundle with every signal family, written fresh for each test."""
    return write_minimal_bundle(tmp_path / "bundle")


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch, tmp_path):
    """Tests must not pick up a developer's RCA_* settings (except the PostgreSQL URL, read explicitly), nor write
    into the repository's own data directory: the default one is the test's (a feature cache of a test corpus
    landed in ./var/cache/). The cached settings are read afresh before and after each test."""
    from rca.config import get_settings

    for key in list(os.environ):
        if key.startswith("RCA_") and key != "RCA_TEST_DATABASE_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RCA_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
