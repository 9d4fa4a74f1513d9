"""Migration 0004: rows stored as Slack sent them become the words people read, on SQLite and
PostgreSQL, and going back restores the escaped form the previous version expects."""

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import JSON, column, insert, select, table

from storage.db import alembic_config, make_engine, make_session_factory, upgrade
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentOwner,
    Team,
    UTCDateTime,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
OLD_TEXT = (
    "Call <@U0LEE> &amp; <@U0SAM|sam> about <https://evil.example|the agenda> "
    "(@channel was defused) &lt;b&gt;"
)
PLAIN_TEXT = "Call @lee & @sam about the agenda (https://evil.example) (@channel was defused) <b>"


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    command.downgrade(alembic_config(engine), "0003")
    yield engine
    upgrade(engine)
    engine.dispose()


# The teams table as 0003 has it (a model-free table: the model's later columns and their
# defaults stay out of the insert).
OLD_TEAMS = table(
    "teams",
    column("id"),
    column("name"),
    column("time_zone"),
    column("working_days", JSON),
    column("holidays", JSON),
    column("nudge_hour"),
    column("overdue_every_days"),
    column("default_geography"),
    column("created_at", UTCDateTime()),
)
# The people table as 0003 has it (model-free, like OLD_TEAMS: later columns are not there yet).
OLD_PEOPLE = table(
    "people",
    column("team_id"),
    column("user_id"),
    column("display_name"),
    column("organisation"),
    column("is_admin"),
    column("is_slack_admin"),
)
_TEAM = {
    "time_zone": "America/New_York",
    "working_days": ["mon", "tue", "wed", "thu", "fri"],
    "holidays": [],
    "nudge_hour": 9,
    "overdue_every_days": 2,
    "created_at": NOW,
}


def _old_rows(engine) -> int:
    with make_session_factory(engine).begin() as session:
        # Teams as the 0003 schema stores them (only its columns: later ones are not there yet).
        session.execute(insert(OLD_TEAMS).values(**_TEAM, id="T1", name="Coalition"))
        session.execute(
            insert(OLD_PEOPLE).values(
                team_id="T1",
                user_id="U0LEE",
                display_name="lee",
                organisation="Harbor &amp; Co",
                is_admin=False,
                is_slack_admin=False,
            )
        )
        session.execute(
            insert(OLD_TEAMS).values(
                **_TEAM, id="T2", name="Other", default_geography="Prince George&amp;s"
            )
        )
        commitment = Commitment(
            team_id="T1",
            text=OLD_TEXT,
            due_at=NOW + timedelta(days=3),
            time_zone="America/New_York",
            created_at=NOW,
            creator_id="U0MARIA",
        )
        commitment.owners = [CommitmentOwner(user_id="U0MARIA", team_id="T1")]
        session.add(commitment)
        session.flush()
        # Events as the 0003 schema stores them (only its columns: later ones are not there yet).
        for kind, detail in [
            ("created", {"owners": ["U0MARIA"]}),
            ("noted", {"note": "A &lt; B"}),
            ("done", {"note": "ok &amp; done"}),
            ("dropped", {"reason": "<!here>"}),
        ]:
            session.execute(
                insert(CommitmentEvent).values(
                    team_id="T1",
                    commitment_id=commitment.id,
                    actor_id="U0MARIA",
                    kind=kind,
                    detail=detail,
                    at=NOW,
                )
            )
        return commitment.id


def _read(engine, commitment_id):
    with make_session_factory(engine)() as session:
        commitment = session.get(Commitment, commitment_id)
        details = session.scalars(select(CommitmentEvent.detail).order_by(CommitmentEvent.id)).all()
        organisation = session.scalar(
            select(OLD_PEOPLE.c.organisation).where(OLD_PEOPLE.c.user_id == "U0LEE")
        )
        place = session.scalar(select(Team.default_geography).where(Team.id == "T2"))
        return commitment.text, details, organisation, place


def test_stored_words_become_plain_and_go_back_escaped(engine):
    commitment_id = _old_rows(engine)
    upgrade(engine, "0004")
    text, details, organisation, place = _read(engine, commitment_id)
    assert text == PLAIN_TEXT
    assert details == [
        {"owners": ["U0MARIA"]},
        {"note": "A < B"},
        {"note": "ok & done"},
        {"reason": "@here"},
    ]
    assert organisation == "Harbor & Co"
    assert place == "Prince George&s"

    command.downgrade(alembic_config(engine), "0003")
    text, details, organisation, place = _read(engine, commitment_id)
    assert text == PLAIN_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert details[1:] == [{"note": "A &lt; B"}, {"note": "ok &amp; done"}, {"reason": "@here"}]
    assert organisation == "Harbor &amp; Co"


def test_an_empty_database_upgrades(engine):
    upgrade(engine)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Commitment)).all() == []
