"""Migration 0012: indicator_values keyed by (indicator, period, place), on SQLite and PostgreSQL.
Every stored value survives it, both ways; a value is still one per key; removing an indicator
or a workspace still removes its values."""

from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import Float, column, delete, insert, inspect, select, table, text
from sqlalchemy.exc import IntegrityError

from storage.db import alembic_config, make_engine, make_session_factory, upgrade
from storage.models import Indicator, IndicatorValue, Team, UTCDateTime
from storage.repositories import delete_team

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# indicator_values as 0011 has it (a surrogate id of its own).
OLD_VALUES = table(
    "indicator_values",
    column("id"),
    column("team_id"),
    column("indicator_id"),
    column("period"),
    column("period_start"),
    column("geography"),
    column("value", Float),
    column("updated_at", UTCDateTime()),
)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    command.downgrade(alembic_config(engine), "0011")
    yield engine
    upgrade(engine)
    engine.dispose()


def _values(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    OLD_VALUES.c.team_id,
                    OLD_VALUES.c.indicator_id,
                    OLD_VALUES.c.period,
                    OLD_VALUES.c.geography,
                    OLD_VALUES.c.value,
                ).order_by(OLD_VALUES.c.indicator_id, OLD_VALUES.c.period, OLD_VALUES.c.geography)
            )
        ]


def _team_with_indicator(session, team: str, name: str) -> Indicator:
    session.add(Team(id=team, name=team, time_zone="America/New_York", created_at=NOW))
    session.flush()
    indicator = Indicator(
        team_id=team,
        slug=name.lower().replace(" ", "-"),
        name=name,
        aliases=[],
        restricted_to=[],
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(indicator)
    session.flush()
    return indicator


def _seed_0011(engine) -> list[int]:
    ids = []
    with make_session_factory(engine).begin() as session:
        for team in ("T1", "T2"):
            indicator = _team_with_indicator(session, team, "Overdose deaths")
            ids.append(indicator.id)
            for n, (period, place, value) in enumerate(
                [("2025-01", "MD", 10.5), ("2025-02", "MD", None), ("2025-01", "", 0.1 + 0.2)]
            ):
                session.execute(
                    insert(OLD_VALUES).values(
                        id=len(ids) * 10 + n,
                        team_id=team,
                        indicator_id=indicator.id,
                        period=period,
                        period_start=date(2025, int(period[-1]), 1),
                        geography=place,
                        value=value,
                        updated_at=NOW,
                    )
                )
    return ids


def test_every_value_survives_the_new_key_both_ways(engine):
    ids = _seed_0011(engine)
    before = _values(engine)
    assert len(before) == 6

    upgrade(engine)
    assert _values(engine) == before  # 0.1 + 0.2 to the last bit, the missing value still None
    schema = inspect(engine)
    assert schema.get_pk_constraint("indicator_values")["constrained_columns"] == [
        "indicator_id",
        "period",
        "geography",
    ]
    assert "id" not in {c["name"] for c in schema.get_columns("indicator_values")}
    assert [fk["referred_table"] for fk in schema.get_foreign_keys("indicator_values")] == [
        "indicators"
    ]
    assert schema.get_indexes("indicator_values") == []
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            sql = connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'indicator_values'")
            )
        assert "WITHOUT ROWID" in sql

    # One value per indicator, period and place, as before.
    sessions = make_session_factory(engine)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(
            IndicatorValue(
                team_id="T1",
                indicator_id=ids[0],
                period="2025-01",
                period_start=date(2025, 1, 1),
                geography="MD",
                value=99.0,
                updated_at=NOW,
            )
        )

    # Removing an indicator, or a workspace, removes its values and nobody else's.
    with sessions.begin() as session:
        session.execute(delete(Indicator).where(Indicator.id == ids[0]))
    assert _values(engine) == [v for v in before if v[0] == "T2"]
    with sessions.begin() as session:
        delete_team(session, "T2")
    assert _values(engine) == []

    # Going back gives the old shape, values and all, and forward again works.
    with sessions.begin() as session:
        delete_team(session, "T1")
    ids = _seed_0011_after_upgrade(engine)
    command.downgrade(alembic_config(engine), "0011")
    assert "id" in {c["name"] for c in inspect(engine).get_columns("indicator_values")}
    assert len(_values(engine)) == 3
    with engine.begin() as connection:  # the old surrogate key numbers new rows again
        connection.execute(
            insert(OLD_VALUES).values(
                team_id="T3",
                indicator_id=ids,
                period="2025-03",
                period_start=date(2025, 3, 1),
                geography="MD",
                value=3.0,
                updated_at=NOW,
            )
        )
    assert len(_values(engine)) == 4
    upgrade(engine)
    assert len(_values(engine)) == 4


def _seed_0011_after_upgrade(engine) -> int:
    with make_session_factory(engine).begin() as session:
        indicator = _team_with_indicator(session, "T3", "Naloxone")
        for period, value in (("2025-01", 1.0), ("2025-02", 2.0)):
            session.add(
                IndicatorValue(
                    team_id="T3",
                    indicator_id=indicator.id,
                    period=period,
                    period_start=date(2025, int(period[-1]), 1),
                    geography="MD",
                    value=value,
                    updated_at=NOW,
                )
            )
        session.add(
            IndicatorValue(
                team_id="T3",
                indicator_id=indicator.id,
                period="2025-01",
                period_start=date(2025, 1, 1),
                geography="",
                value=None,
                updated_at=NOW,
            )
        )
        return indicator.id
