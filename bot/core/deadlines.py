"""A commitment's due date as the people who agreed it see it: in the zone it was set in.

The channel message, reminders, the digest, the on-time report and the export all read dates
here, so a date never says one thing in a message and another in a number:

- The due date is `due_at` in the commitment's own zone, whoever reads it and wherever.
- Days late are whole calendar days past that date, in that zone (0 while it is not late).
- The *deadline* is the end of the due date in that zone or, when the due date names a time of
  day, that time; *on time* means closed as done at or before it.

Takes the stored commitment (or anything with the same attributes), never a session.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.dates import format_due
from bot.core.recurrence import zone_words
from bot.core.text import zone

OPEN = "open"  # the stored status of a commitment nobody has closed yet


class Dated(Protocol):
    """A due date as stored (the commitment row has these attributes)."""

    @property
    def due_at(self) -> datetime: ...
    @property
    def due_has_time(self) -> bool: ...
    @property
    def time_zone(self) -> str: ...


class Tracked(Dated, Protocol):
    @property
    def status(self) -> str: ...


def local_due(commitment: Dated) -> datetime:
    return commitment.due_at.astimezone(ZoneInfo(commitment.time_zone))


def due_text(commitment: Dated) -> str:
    """`Wed, Dec 2, 2026`, or with a time, whose clock it is: people in a shared channel live in
    several zones (`Thu, Nov 26, 2026 at 7:00 AM Los Angeles time`)."""
    text = format_due(local_due(commitment), has_time=commitment.due_has_time)
    return f"{text} {zone_words(commitment.time_zone)}" if commitment.due_has_time else text


def days_late(commitment: Tracked, now: datetime) -> int:
    """Whole calendar days past the due date, in the zone the date was set in (0 = not late)."""
    if commitment.status != OPEN or now <= commitment.due_at:
        return 0
    late = (
        now.astimezone(ZoneInfo(commitment.time_zone)).date() - local_due(commitment).date()
    ).days
    return max(late, 0)


def deadline(due_at: datetime, *, has_time: bool, time_zone: str) -> datetime:
    """The last instant that still counts as on time (see the module docstring)."""
    if has_time:
        return due_at
    return _day_end(due_at.astimezone(zone(time_zone)).date(), time_zone)


@lru_cache(maxsize=8192)
def _day_end(day: date, time_zone: str) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(time_zone)) - timedelta(
        microseconds=1
    )


def done_on_time(due_at: datetime, *, has_time: bool, time_zone: str, closed_at: datetime) -> bool:
    return closed_at <= deadline(due_at, has_time=has_time, time_zone=time_zone)
