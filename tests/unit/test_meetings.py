"""A channel's meeting and weekly digest over a real session: who may change them, and when the
next one is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.core.recurrence import RecurrenceError, next_after
from bot.slack.outbox import enqueue
from bot.usecases import meetings
from bot.usecases.commitments import Actor
from bot.usecases.meetings import MEETING, WEEKLY, ScheduleRefused
from storage import repositories as repo
from storage.db import make_engine, make_session_factory
from storage.models import Schedule

TEAM, CHANNEL = "T0COALITION", "C0MEETING"
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon Nov 23 2026, 10:00 in New York
MARIA, SAM = Actor(TEAM, "U0MARIA"), Actor(TEAM, "U0SAM")
ADMIN = Actor(TEAM, "U0ADMIN", is_admin=True)


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        repo.ensure_team(session, TEAM, time_zone="America/New_York", now=NOW)
    yield factory
    engine.dispose()


def stored(sessions):
    with sessions() as session:
        return session.scalars(select(Schedule).order_by(Schedule.id)).all()


def key(schedule_id, meeting):
    return f"test-digest:{schedule_id}:{meeting.isoformat()}"


def test_anyone_sets_the_first_meeting_read_in_the_coalitions_zone(sessions):
    with sessions.begin() as session:
        saved = meetings.set_meeting(session, SAM, CHANNEL, "every Thursday at 10am", now=NOW)
    assert saved.replaced is None
    assert saved.schedule.upcoming == datetime(2026, 11, 26, 10, 0, tzinfo=NY)
    assert saved.schedule.lead_minutes == 24 * 60
    [row] = stored(sessions)
    assert (row.kind, row.created_by, row.time_zone) == (MEETING, "U0SAM", "America/New_York")


def test_replacing_a_meeting_names_the_old_one_and_keeps_its_digest_lead(sessions):
    with sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "every other Tuesday at 9:30", now=NOW)
        meetings.set_digest_lead(session, MARIA, CHANNEL, 120, now=NOW, digest_key=key)
    with sessions.begin() as session:
        saved = meetings.set_meeting(session, MARIA, CHANNEL, "every Friday at 3pm", now=NOW)
    assert saved.replaced is not None
    assert saved.replaced.describe() == "every other Tuesday at 9:30 AM"
    assert saved.schedule.lead_minutes == 120
    assert len(stored(sessions)) == 1


def test_only_whoever_set_a_schedule_or_an_admin_changes_or_stops_it(sessions):
    with sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "every Thursday at 10am", now=NOW)
        meetings.set_weekly_digest(session, MARIA, CHANNEL, "Monday 9am", now=NOW)
    attempts = [
        lambda s: meetings.set_meeting(s, SAM, CHANNEL, "every Friday at 3pm", now=NOW),
        lambda s: meetings.stop(s, SAM, CHANNEL, MEETING, now=NOW),
        lambda s: meetings.set_digest_lead(s, SAM, CHANNEL, 120, now=NOW, digest_key=key),
        lambda s: meetings.stop(s, SAM, CHANNEL, WEEKLY, now=NOW),
    ]
    for attempt in attempts:
        with pytest.raises(ScheduleRefused) as refused, sessions.begin() as session:
            attempt(session)
        assert f"Only <@{MARIA.user_id}>, who set this channel's" in str(refused.value)
    meeting, weekly = stored(sessions)
    assert "BYDAY=TH" in meeting.rrule and meeting.digest_lead_minutes == 24 * 60
    assert weekly.kind == WEEKLY
    with sessions.begin() as session:
        saved = meetings.set_meeting(session, ADMIN, CHANNEL, "every Friday at 3pm", now=NOW)
    assert saved.schedule.upcoming == datetime(2026, 11, 27, 15, 0, tzinfo=NY)


def test_stopping_says_what_stopped_and_nothing_is_left(sessions):
    nothing = "has no CommStat meeting, so there is nothing to stop"
    with pytest.raises(ScheduleRefused, match=nothing), sessions.begin() as session:
        meetings.stop(session, MARIA, CHANNEL, MEETING, now=NOW)
    with sessions.begin() as session:
        meetings.set_weekly_digest(session, MARIA, CHANNEL, "Friday at 2pm", now=NOW)
    with sessions.begin() as session:
        stopped = meetings.stop(session, MARIA, CHANNEL, WEEKLY, now=NOW)
    assert stopped.kind == WEEKLY
    assert stopped.recurrence.describe() == "every Friday at 2:00 PM"
    assert stored(sessions) == []


def test_an_unreadable_phrase_stores_nothing(sessions):
    with pytest.raises(RecurrenceError), sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "whenever the mayor can", now=NOW)
    with pytest.raises(RecurrenceError), sessions.begin() as session:
        meetings.set_weekly_digest(session, MARIA, CHANNEL, "every other Monday at 9", now=NOW)
    assert stored(sessions) == []


def test_the_next_meeting_is_the_recurrences_own_next_occurrence(sessions):
    with sessions() as session:
        assert meetings.next_meeting(session, TEAM, CHANNEL, now=NOW) is None
    with sessions.begin() as session:
        meetings.set_weekly_digest(session, MARIA, CHANNEL, "Monday 9am", now=NOW)
    with sessions() as session:  # a weekly digest is not a meeting
        assert meetings.next_meeting(session, TEAM, CHANNEL, now=NOW) is None
    with sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "every other Tuesday at 9:30", now=NOW)
    with sessions() as session:
        row = meetings.schedule_for(session, TEAM, CHANNEL)
        assert row is not None
        at = NOW
        for _ in range(4):  # across the end of daylight saving too: always 9:30 in New York
            found = meetings.next_meeting(session, TEAM, CHANNEL, now=at)
            assert found == next_after(row.rrule, row.dtstart, row.time_zone, at)
            assert found is not None and (found.hour, found.minute) == (9, 30)
            at = found
        assert meetings.next_meeting(session, TEAM, None, now=NOW) is None


def test_moving_the_lead_before_the_digest_went_out_applies_to_the_next_meeting(sessions):
    with sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "every Thursday at 10am", now=NOW)
    with sessions.begin() as session:
        moved = meetings.set_digest_lead(session, MARIA, CHANNEL, 120, now=NOW, digest_key=key)
    assert moved.posted_for is None
    assert moved.meeting.upcoming == datetime(2026, 11, 26, 10, 0, tzinfo=NY)
    assert moved.meeting.lead_minutes == 120
    assert stored(sessions)[0].next_run_at is None


def test_moving_the_lead_after_the_digest_went_out_starts_with_the_following_meeting(sessions):
    with sessions.begin() as session:
        saved = meetings.set_meeting(session, MARIA, CHANNEL, "every Thursday at 10am", now=NOW)
        meeting = saved.schedule.upcoming
        row = meetings.schedule_for(session, TEAM, CHANNEL)
        assert row is not None and meeting is not None
        enqueue(  # the scheduler queued this meeting's digest
            session,
            team_id=TEAM,
            key=key(row.id, meeting),
            kind="digest",
            channel=CHANNEL,
            payload={"text": "digest"},
            now=NOW,
        )
    with sessions.begin() as session:
        moved = meetings.set_digest_lead(session, MARIA, CHANNEL, 120, now=NOW, digest_key=key)
    assert moved.posted_for == meeting
    assert moved.meeting.upcoming == meeting + timedelta(days=7)
    assert stored(sessions)[0].digest_lead_minutes == 120


def test_the_digest_lead_needs_a_meeting(sessions):
    with pytest.raises(ScheduleRefused, match="no digest to move"), sessions.begin() as session:
        meetings.set_digest_lead(session, MARIA, CHANNEL, 120, now=NOW, digest_key=key)


def test_which_meetings_digest_and_which_weekly_digest_fall_on_a_day(sessions):
    with sessions.begin() as session:
        meetings.set_meeting(session, MARIA, CHANNEL, "every Thursday at 10am", now=NOW)
        meetings.set_weekly_digest(session, MARIA, CHANNEL, "Wednesday 9am", now=NOW)
    with sessions() as session:
        meeting = meetings.schedule_for(session, TEAM, CHANNEL)
        weekly = meetings.schedule_for(session, TEAM, CHANNEL, WEEKLY)
        assert meeting is not None and weekly is not None
        wednesday, thursday = date(2026, 11, 25), date(2026, 11, 26)
        # The digest of Thursday's meeting goes out on Wednesday (24 hours before).
        assert meetings.digest_on_day(meeting, wednesday) == datetime(2026, 11, 26, 10, tzinfo=NY)
        assert meetings.digest_on_day(meeting, thursday) is None
        assert meetings.occurrence_on_day(weekly, wednesday, NY) == datetime(
            2026, 11, 25, 9, tzinfo=NY
        )
        assert meetings.occurrence_on_day(weekly, thursday, NY) is None
        meeting.digest_lead_minutes = 120  # now Thursday 8:00, the meeting's own day
        assert meetings.digest_on_day(meeting, thursday) == datetime(2026, 11, 26, 10, tzinfo=NY)
        assert meetings.digest_on_day(meeting, wednesday) is None
        meeting.digest_lead_minutes = 3 * 24 * 60  # Monday 10:00
        assert meetings.digest_on_day(meeting, date(2026, 11, 23)) == datetime(
            2026, 11, 26, 10, tzinfo=NY
        )
        session.rollback()
