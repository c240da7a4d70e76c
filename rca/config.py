"""Settings, read from the environment (prefix ``RCA_``) through a cached `get_settings()`; never at import.

=====================  =============================================  ==================================
setting                meaning                                        default
=====================  =============================================  ==================================
RCA_DATA_DIR           where the service keeps its files              ``./var`` (created on first use)
RCA_DATABASE_URL       SQLAlchemy URL of the review store             SQLite file ``<data_dir>/rca.db``
RCA_RANKERS_DIR        ranker artifacts and the promotion log         ``<data_dir>/rankers``
RCA_CORPUS_DIR         the labeled corpus the retraining joins        ``./labeled_incidents``
RCA_MAX_UPLOAD_BYTES   bundles above this size get 413                100 MiB
=====================  =============================================  ==================================
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RCA_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    rankers_dir: Path | None = None
    corpus_dir: Path = Path("labeled_incidents")
    max_upload_bytes: int = 100 * 1024 * 1024

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'rca.db').as_posix()}"

    @property
    def resolved_rankers_dir(self) -> Path:
        return self.rankers_dir or self.data_dir / "rankers"


@lru_cache
def get_settings() -> Settings:
    return Settings()
