"""Sessions on SQLite: a read never queues behind the one write lock; a write takes it up front."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import event, select

from storage.db import make_engine, make_session_factory
from storage.models import Team

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_a_read_answers_while_a_write_is_in_progress(sqlite_url):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    seen: list[list[str]] = []

    def read() -> None:
        with sessions() as session:
            seen.append(list(session.scalars(select(Team.id))))

    try:
        with sessions.begin() as writer:  # holds the write lock until it commits
            writer.add(Team(id="T1", time_zone="America/New_York", created_at=NOW))
            writer.flush()
            reader = threading.Thread(target=read)
            reader.start()
            reader.join(timeout=5)
            assert not reader.is_alive(), "the read waited for the write lock"
            assert seen == [[]]  # what was committed before the write began
        read()
        assert seen[-1] == ["T1"]
    finally:
        engine.dispose()


def test_a_write_begins_immediate_and_a_read_deferred(sqlite_url):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            statements.append(statement)

    try:
        with sessions() as session:
            session.scalars(select(Team.id)).all()
        with sessions.begin() as session:
            session.scalars(select(Team.id)).all()
        assert statements == ["BEGIN", "BEGIN IMMEDIATE"]
    finally:
        engine.dispose()
