"""Migration 0013: people.unreachable_since / unreachable_reason, on SQLite and PostgreSQL.
Everyone stored before it is reachable after it; going back keeps every person, only without
the two columns."""

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import column, insert, inspect, select, table

from storage.db import alembic_config, make_engine, make_session_factory, upgrade
from storage.models import Person, Team
from storage.repositories import mark_unreachable

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# people as 0012 has it (model-free: the model's new columns are not there yet).
OLD_PEOPLE = table(
    "people",
    column("team_id"),
    column("user_id"),
    column("display_name"),
    column("is_admin"),
    column("is_slack_admin"),
)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    command.downgrade(alembic_config(engine), "0012")
    yield engine
    upgrade(engine)
    engine.dispose()


def _columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("people")}


def _people(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(OLD_PEOPLE.c.user_id, OLD_PEOPLE.c.display_name).order_by(
                    OLD_PEOPLE.c.user_id
                )
            )
        ]


def test_people_stay_and_start_reachable_both_ways(engine):
    with make_session_factory(engine).begin() as session:
        session.add(Team(id="T1", name="Coalition", time_zone="America/New_York", created_at=NOW))
        session.flush()
        for user, name in [("U0LEE", "lee"), ("U0MARIA", "maria")]:
            session.execute(
                insert(OLD_PEOPLE).values(
                    team_id="T1",
                    user_id=user,
                    display_name=name,
                    is_admin=False,
                    is_slack_admin=False,
                )
            )
    assert not {"unreachable_since", "unreachable_reason"} & _columns(engine)

    upgrade(engine, "0013")
    assert {"unreachable_since", "unreachable_reason"} <= _columns(engine)
    with make_session_factory(engine).begin() as session:
        people = session.scalars(select(Person).order_by(Person.user_id)).all()
        assert [(p.user_id, p.unreachable_since, p.unreachable_reason) for p in people] == [
            ("U0LEE", None, None),
            ("U0MARIA", None, None),
        ]
        mark_unreachable(session, "T1", "U0LEE", reason="user_disabled", since=NOW)
    with make_session_factory(engine)() as session:
        lee = session.get(Person, ("T1", "U0LEE"))
        assert (lee.unreachable_since, lee.unreachable_reason) == (NOW, "user_disabled")

    command.downgrade(alembic_config(engine), "0012")
    assert not {"unreachable_since", "unreachable_reason"} & _columns(engine)
    assert _people(engine) == [("U0LEE", "lee"), ("U0MARIA", "maria")]


def test_an_empty_database_upgrades(engine):
    upgrade(engine)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Person)).all() == []
