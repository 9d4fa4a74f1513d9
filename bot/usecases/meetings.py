"""A channel's CommStat meeting and weekly digest: setting, moving the digest, stopping, reading.

A schedule is changed only by whoever set it or a coalition admin, because everyone in the
channel depends on it; anyone may set the first one. Occurrences always come from
`bot.core.recurrence`, so `/commit … before the next meeting`, the digest and the confirmations
agree on when the next meeting is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.recurrence import (
    Recurrence,
    next_after,
    parse_meeting,
    parse_weekly,
    previous_before,
)
from bot.core.text import mention
from storage.models import OutboxMessage, Schedule, Team

if TYPE_CHECKING:  # commitments asks this module when the next meeting is
    from bot.usecases.commitments import Actor

MEETING, WEEKLY = "meeting", "weekly_digest"
MEETING_LEAD_MINUTES = 24 * 60  # a new meeting's digest, the day before


class ScheduleRefused(Exception):
    """A schedule change we refuse; the message is shown to the person who asked."""


@dataclass(frozen=True)
class ScheduleTimes:
    """A schedule as people are told about it, read while its row was at hand."""

    kind: str
    channel_id: str
    recurrence: Recurrence
    lead_minutes: int
    upcoming: datetime | None  # the next occurrence after `now`, in the schedule's zone


@dataclass(frozen=True)
class Saved:
    schedule: ScheduleTimes
    replaced: Recurrence | None  # the one it replaced, if any


@dataclass(frozen=True)
class LeadMoved:
    meeting: ScheduleTimes  # `upcoming` is the meeting the next digest is for
    posted_for: datetime | None  # the meeting whose digest had already gone out, if any


def what(kind: str) -> str:
    return "CommStat meeting" if kind == MEETING else "weekly digest"


# --- reading ----------------------------------------------------------------------------------


def schedule_for(
    session: Session, team_id: str, channel_id: str, kind: str = MEETING
) -> Schedule | None:
    """This channel's meeting (or weekly digest) schedule, if it has one."""
    return session.scalars(
        select(Schedule).where(
            Schedule.team_id == team_id, Schedule.channel_id == channel_id, Schedule.kind == kind
        )
    ).one_or_none()


def recurrence_of(schedule: Schedule) -> Recurrence:
    return Recurrence(rule=schedule.rrule, dtstart=schedule.dtstart, time_zone=schedule.time_zone)


def occurrence_after(
    schedule: Schedule, after: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The schedule's first occurrence after the instant `after`, aware in its own zone."""
    return next_after(
        schedule.rrule, schedule.dtstart, schedule.time_zone, after, inclusive=inclusive
    )


def occurrence_before(
    schedule: Schedule, before: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The schedule's last occurrence before the instant `before` (None before the first)."""
    return previous_before(
        schedule.rrule, schedule.dtstart, schedule.time_zone, before, inclusive=inclusive
    )


def occurrence_on_day(schedule: Schedule, day: date, zone: ZoneInfo) -> datetime | None:
    """The schedule's first occurrence on `day` (a day in `zone`), if it has one that day."""
    found = occurrence_after(schedule, datetime.combine(day, time(0), tzinfo=zone), inclusive=True)
    return found if found is not None and found.astimezone(zone).date() == day else None


def digest_on_day(schedule: Schedule, day: date) -> datetime | None:
    """The meeting whose pre-meeting digest is posted on `day` (in the meeting's zone), if any:
    the first meeting whose digest time is on or after that day's start."""
    zone = ZoneInfo(schedule.time_zone)
    lead = timedelta(minutes=schedule.digest_lead_minutes)
    start = datetime.combine(day, time(0), tzinfo=zone)
    meeting = occurrence_after(schedule, start + lead, inclusive=True)
    if meeting is None or (meeting - lead).date() != day:
        return None
    return meeting


def next_meeting(
    session: Session, team_id: str, channel_id: str | None, *, now: datetime
) -> datetime | None:
    """The next start of this channel's CommStat meeting after `now`, or None if it has none."""
    schedule = schedule_for(session, team_id, channel_id) if channel_id else None
    return None if schedule is None else occurrence_after(schedule, now)


def schedule_times(schedule: Schedule, now: datetime) -> ScheduleTimes:
    return ScheduleTimes(
        kind=schedule.kind,
        channel_id=schedule.channel_id,
        recurrence=recurrence_of(schedule),
        lead_minutes=schedule.digest_lead_minutes,
        upcoming=occurrence_after(schedule, now),
    )


def meeting_of(
    session: Session, team_id: str, channel_id: str, *, now: datetime
) -> ScheduleTimes | None:
    schedule = schedule_for(session, team_id, channel_id)
    return None if schedule is None else schedule_times(schedule, now)


# --- changing ---------------------------------------------------------------------------------


def may_change(schedule: Schedule, actor: Actor) -> None:
    if actor.is_admin or schedule.created_by == actor.user_id:
        return
    raise ScheduleRefused(
        f"Only {mention(schedule.created_by)}, who set this channel's {what(schedule.kind)}, or "
        "a coalition admin can change or stop it. Nothing was changed."
    )


def _team_zone(session: Session, team_id: str) -> str:
    team = session.get(Team, team_id)
    assert team is not None  # the caller looked up the person asking, which creates the team
    return team.time_zone


def set_meeting(
    session: Session, actor: Actor, channel_id: str, phrase: str, *, now: datetime
) -> Saved:
    """Set or replace this channel's meeting, read in the coalition's time zone."""
    recurrence = parse_meeting(phrase, now=now, tz=_team_zone(session, actor.team_id))
    return _save(session, actor, channel_id, MEETING, recurrence, phrase, now=now)


def set_weekly_digest(
    session: Session, actor: Actor, channel_id: str, phrase: str, *, now: datetime
) -> Saved:
    """Set or replace this channel's weekly digest (one day and time a week)."""
    recurrence = parse_weekly(phrase, now=now, tz=_team_zone(session, actor.team_id))
    return _save(session, actor, channel_id, WEEKLY, recurrence, phrase, now=now)


def _save(
    session: Session,
    actor: Actor,
    channel_id: str,
    kind: str,
    recurrence: Recurrence,
    phrase: str,
    *,
    now: datetime,
) -> Saved:
    """A replaced meeting keeps the digest lead it was given; a new one gets the day before."""
    schedule = schedule_for(session, actor.team_id, channel_id, kind)
    replaced = None
    if schedule is None:
        schedule = Schedule(
            team_id=actor.team_id,
            channel_id=channel_id,
            kind=kind,
            digest_lead_minutes=MEETING_LEAD_MINUTES if kind == MEETING else 0,
            created_at=now,
        )
        session.add(schedule)
    else:
        may_change(schedule, actor)
        replaced = recurrence_of(schedule)
    schedule.rrule = recurrence.rule
    schedule.dtstart = recurrence.dtstart
    schedule.time_zone = recurrence.time_zone
    schedule.description = phrase[:200]
    schedule.created_by = actor.user_id
    schedule.next_run_at = None  # the next pass works out when to post
    return Saved(schedule_times(schedule, now), replaced)


def stop(
    session: Session, actor: Actor, channel_id: str, kind: str, *, now: datetime
) -> ScheduleTimes:
    """Remove this channel's meeting or weekly digest; returns what it was."""
    schedule = schedule_for(session, actor.team_id, channel_id, kind)
    if schedule is None:
        raise ScheduleRefused(f"<#{channel_id}> has no {what(kind)}, so there is nothing to stop.")
    may_change(schedule, actor)
    stopped = schedule_times(schedule, now)
    session.delete(schedule)
    return stopped


def set_digest_lead(
    session: Session,
    actor: Actor,
    channel_id: str,
    minutes: int,
    *,
    now: datetime,
    digest_key: Callable[[int, datetime], str],
) -> LeadMoved:
    """Post this channel's pre-meeting digest `minutes` before each meeting.

    A meeting's digest goes out once: if the next meeting's digest is already queued
    (`digest_key(schedule id, meeting)` names its outbox message), the new lead starts with the
    meeting after it.
    """
    schedule = schedule_for(session, actor.team_id, channel_id)
    if schedule is None:
        raise ScheduleRefused(
            f"<#{channel_id}> has no CommStat meeting yet, so there is no digest to move. "
            "Set the meeting first: `/commstat meeting every Thursday at 10am`."
        )
    may_change(schedule, actor)
    schedule.digest_lead_minutes = minutes
    schedule.next_run_at = None
    times = schedule_times(schedule, now)
    upcoming = times.upcoming
    if upcoming is None or not _queued(session, digest_key(schedule.id, upcoming)):
        return LeadMoved(times, None)
    following = occurrence_after(schedule, upcoming)
    return LeadMoved(
        ScheduleTimes(times.kind, times.channel_id, times.recurrence, minutes, following),
        upcoming,
    )


def _queued(session: Session, key: str) -> bool:
    found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    return found is not None
