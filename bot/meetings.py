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
