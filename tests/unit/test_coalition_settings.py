"""The coalition's settings over a real session: only admins change them, a change is applied
whole or not at all, and nudges and digests are worked out again when times move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.coalition_settings_parser import Organisation, SettingsError, parse_change
from bot.core.dates import Due
from bot.slack.blocks.coalition_settings import settings_text
from bot.usecases import coalition_settings, commitments, meetings
from bot.usecases.commitments import Actor
from storage import repositories as repo
from storage.db import make_engine, make_session_factory
from storage.models import (
    Commitment,
    Indicator,
    OutboxMessage,
    OutboxStatus,
    Person,
    Schedule,
    Team,
)

TEAM, CHANNEL = "T0COALITION", "C0MEETING"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 in New York
LEE, SAM = Actor(TEAM, "U0LEE"), Actor(TEAM, "U0SAM")
ADMIN = Actor(TEAM, "U0ADMIN", is_admin=True)


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        repo.ensure_team(session, TEAM, time_zone="America/New_York", now=NOW)
        repo.save_person(session, TEAM, "U0ADMIN", is_slack_admin=True)
        for user in ("U0LEE", "U0SAM"):
            repo.save_person(session, TEAM, user)
    yield factory
    engine.dispose()


def team(sessions):
    with sessions() as session:
        return session.get(Team, TEAM)


def change(sessions, actor, text, now=NOW):
    with sessions.begin() as session:
        return coalition_settings.change_settings(session, actor, parse_change(text), now=now)


def test_a_holiday_without_a_year_is_the_next_one_by_the_clock_given(sessions):
    # 'tick --now' and tests travel: the year comes from `now`, never from the machine's date.
    late_december = datetime(2026, 12, 30, 15, 0, tzinfo=UTC)
    said = change(sessions, ADMIN, "holidays add Dec 23, Dec 31", now=late_december)
    assert said.startswith("Now a holiday: Thu, Dec 23, 2027, Thu, Dec 31, 2026")
    with sessions() as session:
        assert session.get(Team, TEAM).holidays == ["2026-12-31", "2027-12-23"]


def test_only_admins_change_settings_and_the_refusal_names_them(sessions):
    with pytest.raises(SettingsError, match="there are no coalition admins yet"):
        change(sessions, LEE, "nudge hour 8")
    assert change(sessions, ADMIN, "admin add <@U0LEE|lee>").startswith(
        "<@U0LEE> can now change CommStat settings."
    )
    with pytest.raises(SettingsError, match=r"Only coalition admins \(<@U0LEE>\)"):
        change(sessions, SAM, "nudge hour 8")
    assert team(sessions).nudge_hour == 9


def test_a_change_that_breaks_a_rule_changes_nothing(sessions):
    change(sessions, ADMIN, "quiet hours 19-7")
    with pytest.raises(SettingsError, match="inside quiet hours"):
        change(sessions, ADMIN, "nudge hour 21")
    with pytest.raises(SettingsError, match="would cover the nudge hour"):
        change(sessions, ADMIN, "quiet hours 8-10")
    with pytest.raises(SettingsError, match="is not a holiday here"):
        change(sessions, ADMIN, "holidays remove 2026-07-08")
    stored = team(sessions)
    assert (stored.nudge_hour, stored.quiet_start, stored.quiet_end) == (9, 19, 7)
    assert stored.holidays == []


def test_moving_times_has_every_nudge_and_digest_worked_out_again(sessions):
    with sessions.begin() as session:
        meetings.set_meeting(session, ADMIN, CHANNEL, "every Thursday at 10am", now=NOW)
        commitment, _ = commitments.store_new(
            session,
            actor=LEE,
            owners=["U0LEE"],
            what="Call the shelters",
            due=Due(NOW + timedelta(days=3), False),
            indicator_id=None,
            channel_id=CHANNEL,
            request_key=None,
            now=NOW,
        )
        commitment.next_check_at = NOW + timedelta(days=2)
        session.add(
            Indicator(
                team_id=TEAM, slug="overdoses", name="Overdoses", created_at=NOW, updated_at=NOW
            )
        )
        session.flush()
        for row in session.query(Schedule):
            row.next_run_at = NOW + timedelta(days=2)
        for row in session.query(Indicator):
            row.next_check_at = NOW + timedelta(days=2)
    later = NOW + timedelta(days=2)

    def planned():
        with sessions() as session:
            return (
                session.query(Schedule).one().next_run_at,
                session.query(Commitment).one().next_check_at,
                session.query(Indicator).one().next_check_at,
            )

    change(sessions, ADMIN, "admin add <@U0LEE|lee>")  # does not move any time
    assert planned() == (later, later, later)
    assert change(sessions, ADMIN, "working days sun-thu").startswith(
        "Working days are now Sun–Thu"
    )
    assert planned() == (None, NOW, None)


def test_removing_a_workspace_admin_from_the_list_says_they_keep_the_right(sessions):
    change(sessions, ADMIN, "admin add <@U0ADMIN> <@U0LEE>")
    said = change(sessions, ADMIN, "admin remove <@U0ADMIN> <@U0LEE>")
    assert said == (
        "<@U0ADMIN>, <@U0LEE> are no longer on the coalition's admin list. "
        "<@U0ADMIN> can still change settings as a Slack workspace admin."
    )
    with sessions() as session:
        assert coalition_settings.admins(session, TEAM) == []


def test_a_person_not_yet_stored_is_not_made_admin(sessions):
    with pytest.raises(SettingsError, match="can't find <@U0NOBODY>"):
        change(sessions, ADMIN, "admin add <@U0NOBODY>")
    with sessions() as session:
        assert session.get(Person, (TEAM, "U0NOBODY")) is None


def test_organisations_are_set_and_cleared_by_admins(sessions):
    with pytest.raises(SettingsError, match="Only coalition admins"), sessions.begin() as session:
        coalition_settings.set_organisation(session, SAM, Organisation("U0LEE", "Police"))
    with sessions.begin() as session:
        coalition_settings.set_organisation(session, ADMIN, Organisation("U0LEE", "Police"))
    with sessions() as session:
        assert session.get(Person, (TEAM, "U0LEE")).organisation == "Police"
    with sessions.begin() as session:
        coalition_settings.set_organisation(session, ADMIN, Organisation("U0LEE", None))
    with sessions() as session:
        assert session.get(Person, (TEAM, "U0LEE")).organisation is None


def test_the_settings_view_shows_schedules_admins_and_delivery_problems(sessions):
    change(sessions, ADMIN, "admin add <@U0SAM> <@U0LEE>")
    change(sessions, ADMIN, "default geography <!channel>")
    with sessions.begin() as session:
        meetings.set_meeting(session, ADMIN, CHANNEL, "every Thursday at 10am", now=NOW)
        meetings.set_weekly_digest(session, ADMIN, "C0OTHER", "Monday 9am", now=NOW)
    problem = OutboxMessage(
        team_id=TEAM,
        idempotency_key="k",
        kind="digest",
        channel=CHANNEL,
        payload={"text": "x"},
        status=OutboxStatus.FAILED,
        attempts=40,
        created_at=NOW,
        not_before=NOW,
        last_error="Slack says not_in_channel",
    )
    with sessions() as session:
        view = coalition_settings.view(session, TEAM, now=NOW)
        text = settings_text(view, [problem])
    assert view.admins == ["U0LEE", "U0SAM"]
    assert [(s.kind, s.channel_id) for s in view.schedules] == [
        ("meeting", CHANNEL),
        ("weekly_digest", "C0OTHER"),
    ]
    assert "• Coalition admins: <@U0LEE>, <@U0SAM>" in text
    assert "• Default place for indicators: @\u2060channel" in text
    assert "<!channel>" not in text
    assert "• Meeting in <#C0MEETING>: every Thursday at 10:00 AM New York time. Next: " in text
    assert "• Weekly digest in <#C0OTHER>: every Monday at 9:00 AM New York time" in text
    assert "• digest to <#C0MEETING> on Mon, Nov 23, 2026 at 10:00 AM: Slack says" in text
