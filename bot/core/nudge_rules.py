"""When an owner or a data steward is reminded: pure rules, dates and instants in, decisions out.

A direct message at the team's nudge hour (09:00) in the recipient's own time zone, on the team's
working days (minus its holidays), on

- the last working day before the due date ("due tomorrow", or "due Monday" on a Friday),
- the due date itself if it is a working day ("due today"),
- the first working day after it ("1 day overdue"), then every `overdue_every` working days
  while it stays open, and never more than a week apart.

A nudge is never sent outside the recipient's working hours (a working day, from the nudge hour
for SEND_WINDOW_HOURS, outside the team's quiet hours); a slot that falls there waits for the
next allowed time. Only the latest slot that has come is ever sent, so a pass after downtime sends
one message, not a burst. Slots before the commitment was made (or last moved) are skipped, and
so are the days a snooze covers: snoozed for a day on Tuesday afternoon (until Wednesday, 3 PM) is
quiet for the rest of Tuesday and reminds again on Wednesday morning (a snooze ends on a day, in
the recipient's zone, not at the minute it was clicked: else Wednesday's "due today" would be
skipped). A week after the due date the creator is told once.

Everything that needs one person on one morning goes in **one** message (`morning_order`,
`lines_that_fit`): overdue first (most days late first), then due today, then coming up, then
late data; a list too long for one Slack message is summarised, never cut off mid-line.

`bot.followup.nudges` and `bot.followup.freshness` apply these rules to what the database holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.core.dates import format_due
from bot.core.public_holidays import calendar_country, public_holidays

logger = logging.getLogger(__name__)

SEND_WINDOW_HOURS = 9  # from the nudge hour: 09:00-18:00 by default
MAX_OVERDUE_GAP = timedelta(days=7)  # "at least weekly"
CREATOR_NOTICE_AFTER = timedelta(days=7)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEARCH_DAYS = 400  # how far to look for a working day before giving up (no working days set)


class Calendar(Protocol):
    """A team's nudge settings as stored (the team row has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def working_days(self) -> Sequence[str] | None: ...
    @property
    def holidays(self) -> Sequence[str] | None: ...
    @property
    def holidays_off(self) -> Sequence[str] | None: ...
    @property
    def holiday_country(self) -> str | None: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def nudge_hour(self) -> int | None: ...
    @property
    def overdue_every_days(self) -> int | None: ...
    @property
    def quiet_start(self) -> int | None: ...
    @property
    def quiet_end(self) -> int | None: ...


def _iso_days(team: Calendar, texts: Sequence[str] | None) -> set[date]:
    days: set[date] = set()
    for text in texts or []:
        try:
            days.add(date.fromisoformat(str(text)))
        except ValueError:
            logger.warning("team %s: ignoring holiday %r (not an ISO date)", team.id, text)
    return days


LOCAL_HOLIDAY = "local holiday"  # the name of a day off an admin added (`holidays add`)


def team_holidays(team: Calendar) -> dict[date, str]:
    """Every day off of a team with its name: its country's public holidays (unless turned
    off, one by one or all), plus the days its admins added."""
    country = calendar_country(team.holiday_country, team.time_zone)
    off = _iso_days(team, team.holidays_off)
    days = {
        day: name
        for day, name in (public_holidays(country) if country else {}).items()
        if day not in off
    }
    for day in _iso_days(team, team.holidays):
        days.setdefault(day, LOCAL_HOLIDAY)
    return days


@dataclass(frozen=True)
class Rules:
    """When a team's people may be nudged: working days, holidays, the hour, quiet hours."""

    working_days: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday = 0
    holidays: frozenset[date] = frozenset()
    nudge_hour: int = 9
    overdue_every: int = 2  # working days between overdue nudges
    quiet_start: int | None = None  # local hour; quiet_start > quiet_end wraps past midnight
    quiet_end: int | None = None

    @classmethod
    def of(cls, team: Calendar) -> Rules:
        days = frozenset(
            WEEKDAYS.index(d[:3].lower())
            for d in (team.working_days or [])
            if d[:3].lower() in WEEKDAYS
        )
        holidays = set(team_holidays(team))
        hour = team.nudge_hour if team.nudge_hour is not None else 9
        return cls(
            working_days=days,
            holidays=frozenset(holidays),
            nudge_hour=min(max(hour, 0), 23),
            overdue_every=max(1, team.overdue_every_days or 2),
            quiet_start=team.quiet_start,
            quiet_end=team.quiet_end,
        )

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def is_quiet(self, hour: int) -> bool:
        start, end = self.quiet_start, self.quiet_end
        if start is None or end is None or start == end:
            return False
        if start < end:
            return start <= hour < end
        return hour >= start or hour < end  # wraps midnight, e.g. 20 -> 7

    def _hours(self) -> range:
        return range(self.nudge_hour, min(24, self.nudge_hour + SEND_WINDOW_HOURS))

    def allowed(self, at: datetime, zone: ZoneInfo) -> bool:
        """May someone living in `zone` be sent a nudge at the instant `at`?"""
        local = at.astimezone(zone)
        return (
            self.is_working_day(local.date())
            and local.hour in self._hours()
            and not self.is_quiet(local.hour)
        )

    def next_allowed(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first instant strictly after `after` when a nudge may go to `zone` (UTC)."""
        first = after.astimezone(zone).date()
        for offset in range(_SEARCH_DAYS):
            day = first + timedelta(days=offset)
            if not self.is_working_day(day):
                continue
            for hour in self._hours():
                if self.is_quiet(hour):
                    continue
                candidate = local_instant(day, hour, zone)
                if candidate > after:
                    return candidate
        return None

    def nudge_time(self, day: date, zone: ZoneInfo) -> datetime:
        return local_instant(day, self.nudge_hour, zone)

    def working_day_before(self, day: date) -> date | None:
        for offset in range(1, _SEARCH_DAYS):
            candidate = day - timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        return None

    def working_day_after(self, day: date) -> date | None:
        for offset in range(1, _SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        return None

    def next_overdue(self, previous: date) -> date | None:
        """The overdue nudge after one on `previous`: `overdue_every` working days later, or
        the last working day within a week if that is sooner (long holidays)."""
        counted = 0
        last_within_week: date | None = None
        day = previous
        while True:
            day += timedelta(days=1)
            if day - previous > MAX_OVERDUE_GAP:
                break
            if self.is_working_day(day):
                counted += 1
                last_within_week = day
                if counted == self.overdue_every:
                    return day
        return last_within_week or self.working_day_after(previous)


def local_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour`:00 local on `day`, as a UTC instant (correct across clock changes)."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


# --- slots and decisions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    day: date  # the recipient's local date
    kind: str  # "before" | "today" | "overdue" | "creator"
    at: datetime  # UTC instant: the nudge hour on `day` in the recipient's zone


def slots(due: date, rules: Rules, zone: ZoneInfo, *, overdue_only: bool = False) -> Iterator[Slot]:
    """Every nudge slot for a due date, in time order (endless while overdue)."""
    if not overdue_only:
        before = rules.working_day_before(due)
        if before is not None:
            yield Slot(before, "before", rules.nudge_time(before, zone))
        if rules.is_working_day(due):
            yield Slot(due, "today", rules.nudge_time(due, zone))
    day = rules.working_day_after(due)
    while day is not None:
        yield Slot(day, "overdue", rules.nudge_time(day, zone))
        day = rules.next_overdue(day)


@dataclass(frozen=True)
class Decision:
    send: Slot | None  # enqueue this one now
    wake: datetime | None  # when this recipient needs looking at again


def decide(
    series: Iterator[Slot],
    *,
    now: datetime,
    rules: Rules,
    zone: ZoneInfo,
    start: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> Decision:
    """What to do at `now` for one recipient: send the latest slot that has come (older ones
    collapse into it) if now is an allowed time; else wait for the next allowed time."""
    latest: Slot | None = None
    upcoming: Slot | None = None
    for slot in series:
        if slot.at <= now:
            latest = slot
        else:
            upcoming = slot
            break
    wakes: list[datetime] = []
    if upcoming is not None:
        wakes.append(upcoming.at)
    send: Slot | None = None
    wanted = (
        latest is not None
        and (start is None or latest.at > start)
        and (snoozed_until is None or latest.day >= snoozed_until.astimezone(zone).date())
    )
    if wanted:
        if rules.allowed(now, zone):
            send = latest
        else:
            later = rules.next_allowed(now, zone)
            if later is not None:
                wakes.append(later)
    return Decision(send, min(wakes) if wakes else None)


def state_text(slot: Slot, due: date) -> str:
    """How a nudge describes the deadline, from the recipient's day."""
    if slot.kind == "today":
        return "due today"
    days = (slot.day - due).days
    if slot.kind == "before" or days < 0:
        if days == -1:
            return "due tomorrow"
        if -days < 7:
            return f"due {_DAY_NAMES[due.weekday()]}"
        return f"due {format_due(due_datetime(due))}"
    if days <= 0:
        return "due today"
    return f"{days} day{'s' if days != 1 else ''} overdue"


def deadline_on(day: date, due: date) -> str:
    """How the morning message of `day` describes a due date: the words of `state_text` as
    seen from that day (a reminder collapsed from an earlier missed morning speaks of today)."""
    if day == due:
        return "due today"
    kind = "before" if day < due else "overdue"
    return state_text(Slot(day, kind, due_datetime(day)), due)


# --- one message a morning ---------------------------------------------------------------------

OVERDUE, TODAY, COMING, DATA = range(4)  # the groups of a morning message, in reading order


def morning_order(group: int, due: date, day: date, number: int) -> tuple[int, int, date, int]:
    """Where a line goes in the morning message of `day`: overdue first, most days late first;
    then due today; then coming up, soonest first; late data last (by how late, then number)."""
    late = (day - due).days
    return (group, -late if group in (OVERDUE, DATA) else 0, due, number)


def group_of(day: date, due: date) -> int:
    if due < day:
        return OVERDUE
    return TODAY if due == day else COMING


def lines_that_fit(
    sizes: Sequence[tuple[int, int]],
    *,
    max_blocks: int,
    max_chars: int,
    max_lines: int,
    reserve: tuple[int, int],
) -> int:
    """How many leading lines, each (blocks, characters), fit a message of at most `max_blocks`
    blocks and `max_chars` characters of text, besides the message's own `reserve` (its header
    and footer, plus the "…and N more" line when some are left out). Whole lines only."""
    blocks, chars = reserve
    shown = 0
    for count, (line_blocks, line_chars) in enumerate(sizes, start=1):
        if count > max_lines or blocks + line_blocks > max_blocks or chars + line_chars > max_chars:
            break
        blocks += line_blocks
        chars += line_chars
        shown = count
    return shown


def due_datetime(day: date) -> datetime:
    """Noon UTC on `day`: a date as the instant `format_due` writes it from."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def creator_notice_time(due: date, rules: Rules, zone: ZoneInfo) -> datetime | None:
    """The creator is told on the first working day a week after the due date."""
    day = due + CREATOR_NOTICE_AFTER
    if not rules.is_working_day(day):
        later = rules.working_day_after(day)
        if later is None:
            return None
        day = later
    return rules.nudge_time(day, zone)


__all__ = [
    "COMING",
    "DATA",
    "OVERDUE",
    "TODAY",
    "Calendar",
    "Decision",
    "Rules",
    "Slot",
    "creator_notice_time",
    "deadline_on",
    "decide",
    "due_datetime",
    "group_of",
    "lines_that_fit",
    "local_instant",
    "morning_order",
    "slots",
    "state_text",
]
