"""Opening the review database and migrating it.

`--db URL` or JIYU_REVIEW_DB chooses it: a SQLite file by default (WAL, foreign keys on), or
PostgreSQL through `postgresql+psycopg://user:password@host/dbname`. The schema belongs to the
Alembic migrations shipped in review/migrations/, run here in-process: no alembic.ini needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///jiyu-review.db"
ENV = "JIYU_REVIEW_DB"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StoreError(Exception):
    """A problem with the database a person can act on (the message says what to do)."""


def database_url(url: str | None = None) -> str:
    """The URL given, else JIYU_REVIEW_DB, else a SQLite file in the working directory."""
    return url or os.environ.get(ENV) or DEFAULT_URL


def engine_for(url: str | None = None, **kwargs) -> Engine:  # noqa: ANN003
    url = database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise StoreError(f"--db {url!r} is not a database URL (e.g. sqlite:///review.db, postgresql+psycopg://u:p@host/db)") from e
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    raise StoreError(f"--db {url!r}: only SQLite and PostgreSQL are supported")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer (several reviewers)
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commits
    cursor.close()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection):  # noqa: ANN001, ANN202
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to `revision`; returns the revisions before and after. Running it again is a no-op."""
    from alembic import command

    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    return before, current_revision(engine)


def ready(engine: Engine, create: bool = True) -> None:
    """Make sure the schema is current. An empty database is created (so `jiyu review import` works
    on a new file); one at an older revision is left to an explicit `jiyu review db upgrade`."""
    current = current_revision(engine)
    if current == head_revision():
        return
    if current is None and create and not inspect(engine).get_table_names():
        upgrade(engine)
        return
    if current is None and not inspect(engine).get_table_names():
        raise StoreError(f"{engine.url.render_as_string(hide_password=True)}: no review store here yet"
                         " (`jiyu review import FILE` or `jiyu review db upgrade` makes one)")
    if current is None:
        raise StoreError(f"{engine.url.render_as_string(hide_password=True)}: not a jiyu review database (it has other tables)")
    raise StoreError(f"{engine.url.render_as_string(hide_password=True)}: schema {current}, this jiyu needs "
                     f"{head_revision()}: run `jiyu review db upgrade` (back the database up first)")
