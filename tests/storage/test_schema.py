"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import make_engine, make_session_factory, upgrade
from storage.models import (
    Base,
    Commitment,
    CommitmentEvent,
    CommitmentOwner,
    Indicator,
    IndicatorValue,
    OutboxMessage,
    Team,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    return make_session_factory(engine)


def _team(session, team_id="T1"):
    session.add(Team(id=team_id, name="Coalition", time_zone="America/New_York", created_at=NOW))
    session.flush()


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_is_safe_to_run_again(engine):
    upgrade(engine)
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"commitments", "commitment_events", "outbox", "indicator_values"} <= tables


def test_every_table_carries_the_team_id(engine):
    for table in inspect(engine).get_table_names():
        if table in ("alembic_version", "slack_oauth_states"):
            continue  # a browser's install state exists before any workspace does
        columns = {c["name"] for c in inspect(engine).get_columns(table)}
        assert "team_id" in columns or table == "teams", table


def test_timestamps_come_back_aware_and_equal(sessions):
    due = datetime(2026, 12, 2, 17, 0, tzinfo=timezone(timedelta(hours=-5)))
    with sessions.begin() as session:
        _team(session)
        commitment = Commitment(
            team_id="T1",
            text="Distribute 200 naloxone kits",
            due_at=due,
            time_zone="America/New_York",
            created_at=NOW,
            creator_id="U1",
        )
        commitment.owners = [
            CommitmentOwner(user_id="U1", team_id="T1"),
            CommitmentOwner(user_id="U2", team_id="T1", position=1),
        ]
        session.add(commitment)
    with sessions() as session:
        stored = session.scalars(select(Commitment)).one()
        assert stored.due_at == due
        assert stored.due_at.tzinfo is not None
        assert stored.owner_ids == ["U1", "U2"]
        assert stored.status == "open"


def test_naive_datetimes_are_refused(sessions):
    with pytest.raises(Exception, match="naive datetime"), sessions.begin() as session:
        _team(session)
        session.add(
            Commitment(
                team_id="T1",
                text="x",
                due_at=datetime(2026, 12, 2),
                time_zone="UTC",
                created_at=NOW,
                creator_id="U1",
            )
        )
        session.flush()


def _value(indicator_id, geography, value):
    return IndicatorValue(
        team_id="T1",
        indicator_id=indicator_id,
        period="2025-04",
        period_start=date(2025, 4, 1),
        geography=geography,
        value=value,
        updated_at=NOW,
    )


def test_one_value_per_indicator_period_and_geography(sessions):
    with sessions.begin() as session:
        _team(session)
        indicator = Indicator(
            team_id="T1",
            slug="overdose-deaths",
            name="Overdose deaths",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(indicator)
        session.flush()
        session.add(_value(indicator.id, "MD", 1562))
        session.add(_value(indicator.id, "VT", None))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(_value(1, "MD", 1))
    with sessions() as session:
        values = {v.geography: v.value for v in session.scalars(select(IndicatorValue))}
    assert values == {"MD": 1562, "VT": None}  # missing stays missing, never zero


def test_an_outbox_key_is_used_once(sessions):
    def message():
        return OutboxMessage(
            team_id="T1",
            idempotency_key="nudge:1:due:v1",
            kind="nudge",
            channel="U1",
            not_before=NOW,
            created_at=NOW,
        )

    with sessions.begin() as session:
        session.add(message())
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(message())
    with sessions() as session:
        assert session.scalar(select(text("count(*)")).select_from(OutboxMessage)) == 1


def test_events_belong_to_their_commitment_and_go_with_it(sessions):
    with sessions.begin() as session:
        _team(session)
        commitment = Commitment(
            team_id="T1", text="x", due_at=NOW, time_zone="UTC", created_at=NOW, creator_id="U1"
        )
        session.add(commitment)
        session.flush()
        session.add(
            CommitmentEvent(
                team_id="T1", commitment_id=commitment.id, actor_id="U1", kind="created", at=NOW
            )
        )
    with sessions.begin() as session:
        session.delete(session.get(Team, "T1"))
    with sessions() as session:
        assert session.scalars(select(CommitmentEvent)).all() == []
        assert session.scalars(select(Commitment)).all() == []


def test_sqlite_runs_in_wal_mode(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_in_memory_sqlite_is_refused():
    with pytest.raises(ValueError, match="SQLite file"):
        make_engine("sqlite:///:memory:")
