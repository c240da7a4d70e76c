"""Engines, sessions and schema migrations. Engines are made lazily from a URL, never at import.

SQLite (the default, no set-up) runs in WAL mode with a busy timeout so concurrent writers queue instead
of failing; PostgreSQL is used as is (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DatabaseError, NoSuchModuleError
from sqlmodel import Session, create_engine

from rca.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """The engine for ``url``, created on first use and shared afterwards."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


DATABASE_SETTING = "RCA_DATABASE_URL"
"""What a store error names: the setting a user writes (the default, under RCA_DATA_DIR, is never wrong alone)."""


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(DATABASE_SETTING, url, "an SQLAlchemy URL such as sqlite:///var/rca.db") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # under a file, or a directory that may not be written
                raise ConfigError(DATABASE_SETTING, url, f"a SQLite file in a directory that exists or can be made "
                                                       f"({exc.strerror}: {exc.filename})") from exc
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    except (ModuleNotFoundError, NoSuchModuleError) as exc:   # a dialect or driver that is not installed
        hint = ""
        if parsed.get_backend_name() in ("postgres", "postgresql") and parsed.drivername != "postgresql+psycopg":
            hint = f" (write {parsed.set(drivername='postgresql+psycopg').render_as_string(hide_password=True)})"
        raise ConfigError(DATABASE_SETTING, parsed.render_as_string(hide_password=True),
                          "a database whose driver is installed: SQLite, or PostgreSQL as "
                          f"postgresql+psycopg://{hint}; {exc}") from exc


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dispose_engine(url: str) -> None:
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def open_session(url: str) -> Session:
    """A session that commits nothing by itself; callers commit what they mean to keep, and close it.
    It connects on first use, not here."""
    return Session(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """`open_session`, closed on leaving the block."""
    with open_session(url) as session:
        yield session


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


STORE_AWAY = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
"""Errors of a store that could not be reached or written (gone, restarting, read-only, locked, its pool
exhausted), not of what was sent to it: the same request or analysis may succeed once it is back."""


def has_store(url: str) -> bool:
    """Whether the database at ``url`` holds the store's tables (at any schema version alembic can upgrade)."""
    from sqlalchemy import inspect

    try:
        return inspect(get_engine(url)).has_table("incident")
    except DatabaseError:   # not answering: `upgrade`, next, says so and names the setting
        return True


def not_migrated(exc: BaseException) -> bool:
    """Whether a database error says a table of the store is missing: the database was recreated empty (or never
    migrated) under a running service. PostgreSQL's undefined_table (42P01), SQLite's 'no such table'."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "42P01" or getattr(orig, "pgcode", None) == "42P01" \
        or "no such table" in str(orig or exc)


NOT_MIGRATED = ("the review store has none of its tables (its database was recreated empty, or never migrated): "
                "run `rca db upgrade`, or restart the service, which migrates it")


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` that does not exist yet (connecting would create it), else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the latest by default)."""
    from alembic import command
    from alembic.util import CommandError

    engine = get_engine(url)
    try:
        engine.connect().close()  # a database that does not answer is a setting to fix, before alembic starts
    except DatabaseError as exc:  # OperationalError, or a SQLite file that is no database
        reason = str(exc.orig or exc).splitlines()[0]
        raise ConfigError(DATABASE_SETTING, make_url(url).render_as_string(hide_password=True),
                          f"a database that accepts connections ({reason})") from exc
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, revision)
        except CommandError as exc:  # an unknown revision, or one that is not ahead of the current one
            raise ConfigError("revision", revision, f"a migration revision such as head ({exc})") from exc


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
