"""Uninstall: when a coalition removes CommStat (or revokes its bot token), everything we hold
about that workspace is deleted, and nothing of any other workspace."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.bootstrap import NotInstalled
from storage.models import (
    Base,
    Commitment,
    CommitmentEvent,
    CommitmentIndicator,
    CommitmentOwner,
    DataImport,
    ImportSource,
    Indicator,
    IndicatorValue,
    Job,
    JobStatus,
    OutboxMessage,
    Person,
    Schedule,
    Team,
)
from tests.conftest import TEAM_ID
from tests.e2e.test_oauth import OTHER_CODE, OTHER_TEAM, serve_oauth

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
THIRD_TEAM = "T0THIRD"
THIRD_TOKEN = "xoxb-third-coalition-bot-token"


def seed(session, team_id: str) -> None:
    """One of everything a coalition accumulates: people, indicators, values, commitments with
    owners and history, a meeting schedule and a message waiting in the outbox."""
    session.add(Team(id=team_id, name=team_id, time_zone="America/New_York", created_at=NOW))
    session.flush()
    session.add(Person(team_id=team_id, user_id="U0MARIA", display_name="maria"))
    indicator = Indicator(
        team_id=team_id,
        slug="overdose-deaths",
        name="Overdose deaths",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(indicator)
    session.flush()
    session.add(
        IndicatorValue(
            team_id=team_id,
            indicator_id=indicator.id,
            period="2025-04",
            period_start=date(2025, 4, 1),
            value=41,
            updated_at=NOW,
        )
    )
    commitment = Commitment(
        team_id=team_id,
        text="Distribute 200 naloxone kits",
        due_at=NOW + timedelta(days=7),
        time_zone="America/New_York",
        created_at=NOW,
        creator_id="U0MARIA",
        indicator_id=indicator.id,
    )
    commitment.owners = [CommitmentOwner(user_id="U0MARIA", team_id=team_id)]
    session.add(commitment)
    session.flush()
    session.add(
        CommitmentEvent(
            team_id=team_id, commitment_id=commitment.id, actor_id="U0MARIA", kind="created", at=NOW
        )
    )
    session.add(
        Schedule(
            team_id=team_id,
            channel_id="C0MEETING",
            kind="meeting",
            rrule="FREQ=WEEKLY;BYDAY=TH",
            dtstart=NOW,
            time_zone="America/New_York",
            description="every Thursday at 10am",
            created_by="U0MARIA",
            created_at=NOW,
        )
    )
    session.add(
        Job(
            request_key=f"{team_id}:on_commit|command:1.trigger",
            team_id=team_id,
            listener="on_commit",
            request={"body": {"text": "words people typed"}},
            status=JobStatus.DONE,
            not_before=NOW,
            # The worker forgets finished jobs two days after they were made, by the real clock:
            # a job made "now" stays for the test (NOW would go at the first housekeeping).
            created_at=datetime.now(UTC),
        )
    )
    session.add(
        OutboxMessage(
            team_id=team_id,
            idempotency_key=f"{team_id}:nudge:1",
            kind="nudge",
            channel="U0MARIA",
            not_before=NOW,
            created_at=NOW,
        )
    )
    session.add(
        CommitmentIndicator(
            commitment_id=commitment.id, indicator_id=indicator.id, team_id=team_id, position=0
        )
    )
    source = ImportSource(
        team_id=team_id,
        name="deaths.csv",
        mapping={"indicator": "Overdose deaths"},
        failures=0,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(source)
    session.flush()
    session.add(
        DataImport(
            team_id=team_id,
            source_id=source.id,
            via="slack",
            user_id="U0MARIA",
            file_name="deaths.csv",
            mapping={},
            indicators=["overdose-deaths"],
            created_at=NOW,
        )
    )


def rows_by_table(services, team_id: str) -> dict[str, int]:
    """How many rows each of our tables holds for one workspace."""
    counts = {}
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            column = table.c.id if table.name == "teams" else table.c.get("team_id")
            if column is not None:
                counts[table.name] = conn.scalar(
                    select(func.count()).select_from(table).where(column == team_id)
                )
    return counts


def installed_teams(services) -> list[str]:
    store = services.installation_store
    with services.engine.connect() as conn:
        teams = [r.team_id for r in conn.execute(select(store.installations))]
        teams += [r.team_id for r in conn.execute(select(store.bots))]
    return sorted(teams)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the bot")
        time.sleep(0.02)


@pytest.fixture
def two_coalitions(db_url, fake_slack, clock):
    """The app in OAuth mode, installed in two workspaces that both have data."""
    gen = serve_oauth(db_url, fake_slack, clock)
    bot = next(gen)
    fake_slack.allow_install("code-third", team_id=THIRD_TEAM, bot_token=THIRD_TOKEN)
    assert bot.install(OTHER_CODE).status == 200
    assert bot.install("code-third").status == 200
    with bot.services.sessions.begin() as session:
        seed(session, OTHER_TEAM)
        seed(session, THIRD_TEAM)
    yield bot
    next(gen, None)


def everything(counts: dict[str, int]) -> bool:
    return all(n > 0 for n in counts.values())


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0OTHERBOT"]}},
    ],
    ids=["app_uninstalled", "tokens_revoked"],
)
def test_removing_the_app_deletes_that_workspaces_data_and_nothing_else(two_coalitions, event):
    bot = two_coalitions
    before = rows_by_table(bot.services, OTHER_TEAM)
    assert everything(before), before  # the seed really covers every table
    assert installed_teams(bot.services) == [OTHER_TEAM, OTHER_TEAM, THIRD_TEAM, THIRD_TEAM]

    answer = bot.driver(OTHER_TEAM).event(event)
    assert answer.status == 200
    assert answer.seconds < 3

    wait_until(lambda: not any(rows_by_table(bot.services, OTHER_TEAM).values()))
    wait_until(lambda: installed_teams(bot.services) == [THIRD_TEAM, THIRD_TEAM])
    with pytest.raises(NotInstalled):
        bot.services.client_for(OTHER_TEAM)
    # The other coalition keeps everything, and can still be reached.
    assert rows_by_table(bot.services, THIRD_TEAM) == before
    assert bot.services.client_for(THIRD_TEAM).token == THIRD_TOKEN
    # Slack may deliver the event again: a second delete finds nothing and fails nothing.
    assert bot.driver(OTHER_TEAM).event(event).status == 200
    assert rows_by_table(bot.services, THIRD_TEAM) == before


def finished_jobs(services, team_id: str) -> int:
    with services.sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.team_id == team_id, Job.status.in_([JobStatus.DONE, JobStatus.FAILED]))
        )


def test_revoking_only_user_tokens_keeps_the_workspace(two_coalitions):
    bot = two_coalitions
    before = rows_by_table(bot.services, OTHER_TEAM)
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0DANA"], "bot": []}}
    assert bot.driver(OTHER_TEAM).event(event).status == 200
    # The event is stored as a job before the ack; a (wrong) delete would happen in that job.
    wait_until(lambda: finished_jobs(bot.services, OTHER_TEAM) == 2)
    after = rows_by_table(bot.services, OTHER_TEAM)
    assert after.pop("jobs") == before.pop("jobs") + 1  # the event itself, carried out
    assert after == before
    assert bot.services.client_for(OTHER_TEAM).token.startswith("xoxb-other")


def test_token_mode_forgets_the_workspace_on_uninstall(sqlite_bot):
    bot = sqlite_bot
    with bot.services.sessions.begin() as session:
        seed(session, TEAM_ID)
        seed(session, "T0SOMEONEELSE")
    assert bot.driver.event({"type": "app_uninstalled"}).status == 200
    wait_until(lambda: not any(rows_by_table(bot.services, TEAM_ID).values()))
    kept = rows_by_table(bot.services, "T0SOMEONEELSE")
    # Token mode keeps no installations; every table of our own still has the other team's rows.
    assert everything({t: n for t, n in kept.items() if not t.startswith("slack_")}), kept
    with bot.services.sessions() as session:
        assert session.scalars(select(Team.id)).all() == ["T0SOMEONEELSE"]
