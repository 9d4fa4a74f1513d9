"""Engines, sessions and migrations.

SQLite (the default) gets WAL, a busy timeout and `BEGIN IMMEDIATE` for writes, so that the
read-then-write transactions of several threads or processes queue up instead of failing with
"database is locked"; reads begin deferred and, under WAL, neither wait for nor hold that lock.
PostgreSQL is used as-is; row claims there use `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "commstat_read_only"  # execution option of the connections `Sessions()` reads with


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    if parsed.database in (None, "", ":memory:"):
        raise ValueError(
            "use a SQLite file, not :memory: (each connection would get its own database)"
        )
    Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A read: under WAL it sees a snapshot and never needs the write lock.
            conn.exec_driver_sql("BEGIN")
            return
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with SQLITE_BUSY without waiting when another writer got there first.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Sessions(sessionmaker[Session]):
    """`with sessions() as session:` reads; `with sessions.begin() as session:` writes.

    A read session is never committed (what it might change is rolled back when it closes), so on
    SQLite it begins deferred and does not queue behind, or hold back, the one writer; a write
    session begins `BEGIN IMMEDIATE` and commits when its block ends. PostgreSQL treats both alike.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self.writer = engine

    @contextmanager
    def begin(self) -> Iterator[Session]:
        with self(bind=self.writer) as session, session.begin():
            yield session


def make_session_factory(engine: Engine) -> Sessions:
    return Sessions(engine)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`; safe to call on every start."""
    command.upgrade(alembic_config(engine), revision)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not healthy"; the caller reports it
        return False
