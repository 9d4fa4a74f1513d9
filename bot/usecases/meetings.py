"""Meeting schedules as far as /commit needs them: when is this channel's next meeting?"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Schedule


def next_meeting(
    session: Session, team_id: str, channel_id: str | None, *, now: datetime
) -> datetime | None:
    """The next start of this channel's CommStat meeting after `now`, or None if it has none."""
    if not channel_id:
        return None
    schedule = session.scalars(
        select(Schedule).where(
            Schedule.team_id == team_id,
            Schedule.channel_id == channel_id,
            Schedule.kind == "meeting",
        )
    ).one_or_none()
    if schedule is None:
        return None
    zone = ZoneInfo(schedule.time_zone)
    rule = rrulestr(schedule.rrule, dtstart=schedule.dtstart.astimezone(zone).replace(tzinfo=None))
    local = rule.after(now.astimezone(zone).replace(tzinfo=None))
    return None if local is None else local.replace(tzinfo=zone)


def schedule_for(
    session: Session, team_id: str, channel_id: str, kind: str = "meeting"
) -> Schedule | None:
    """This channel's meeting (or weekly digest) schedule, if it has one."""
    return session.scalars(
        select(Schedule).where(
            Schedule.team_id == team_id, Schedule.channel_id == channel_id, Schedule.kind == kind
        )
    ).one_or_none()


def occurrence_after(
    schedule: Schedule, after: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The schedule's first occurrence after the instant `after`, aware in its own zone."""
    from bot.core.recurrence import next_after

    return next_after(
        schedule.rrule, schedule.dtstart, schedule.time_zone, after, inclusive=inclusive
    )


def occurrence_before(
    schedule: Schedule, before: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The schedule's last occurrence before the instant `before` (None before the first)."""
    from bot.core.recurrence import previous_before

    return previous_before(
        schedule.rrule, schedule.dtstart, schedule.time_zone, before, inclusive=inclusive
    )


def previous_meeting(
    session: Session, team_id: str, channel_id: str | None, *, now: datetime
) -> datetime | None:
    """The start of this channel's last meeting at or before `now`, or None."""
    schedule = schedule_for(session, team_id, channel_id) if channel_id else None
    return None if schedule is None else occurrence_before(schedule, now, inclusive=True)
