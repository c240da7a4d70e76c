"""Settings, read from the environment (prefix ``RCA_``) through a cached `get_settings()`; never at import.

=====================  =============================================  ==================================
setting                meaning                                        default
=====================  =============================================  ==================================
RCA_DATA_DIR           where the service keeps its files              ``./var`` (created on first use)
RCA_DATABASE_URL       SQLAlchemy URL of the review store             SQLite file ``<data_dir>/rca.db``
RCA_RANKERS_DIR        ranker artifacts and the promotion log         ``<data_dir>/rankers``
RCA_CORPUS_DIR         the labeled corpus the retraining joins        ``./labeled_incidents``
RCA_MAX_UPLOAD_BYTES   bundles above this size get 413                100 MiB
RCA_ANALYSIS_BUDGET    seconds a POST waits for the analysis before   2.0
                       answering 202 (0: always 202)
RCA_WORKERS            analysis worker threads of the service         1
RCA_KEY_CACHE_SECONDS  how long a verified API key is taken without   5
                       a store lookup; a key revoked through another
                       process is refused within this (0: look up
                       every request)
RCA_HOST / RCA_PORT    where `rca serve` listens                      127.0.0.1 / 8000
RCA_PROCESSES          processes `rca serve` runs (see                1
                       docs/service.md, "Run it")
=====================  =============================================  ==================================
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rca.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RCA_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    rankers_dir: Path | None = None
    corpus_dir: Path = Path("labeled_incidents")
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    analysis_budget: float = Field(default=2.0, ge=0)
    workers: int = Field(default=1, ge=1, le=32)
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    processes: int = Field(default=1, ge=1, le=64)

    @field_validator("data_dir", "rankers_dir", "corpus_dir")
    @classmethod
    def _not_a_file(cls, path: Path | None) -> Path | None:
        if path is not None and path.exists() and not path.is_dir():
            raise ValueError("a directory, not a file")
        return path

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'rca.db').as_posix()}"

    @property
    def resolved_rankers_dir(self) -> Path:
        return self.rankers_dir or self.data_dir / "rankers"


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; `ConfigError` naming the variable when one has a value it does not
    accept (every command reads them, so a bad one must not end in a traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = f"RCA_{str(error['loc'][0]).upper()}" if error["loc"] else "RCA_*"
        expected = error["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        raise ConfigError(name, error.get("input"), expected) from None


def ensure_data_dir(settings: Settings) -> None:
    """Make the data directory and its bundles directory, or raise `ConfigError` naming RCA_DATA_DIR: `rca serve`
    checks this before it starts, so a path that cannot be made (under a file, on a read-only disk) is one line at
    start, not a traceback, nor a service whose every submission fails."""
    try:
        bundles_dir(settings).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("RCA_DATA_DIR", str(settings.data_dir),
                          f"a directory the service can make and write in ({exc.strerror}: {exc.filename})") from exc


def bundles_dir(settings: Settings) -> Path:
    """Where the service keeps each submitted bundle as uploaded (``<sha256>.tar.gz|.zip|.json``)."""
    return settings.data_dir / "bundles"


def reviewed_dir(settings: Settings) -> Path:
    """Where confirmed reviews are exported as labeled incidents in the corpus format."""
    return settings.data_dir / "reviewed"
