"""Nudges: which owner is reminded about which commitment, and when.

The rules (docs/PRODUCT.md, "Follow-up"): a direct message at the team's nudge hour (09:00) in
each owner's own time zone, on the team's working days (minus its holidays), on

- the last working day before the due date ("due tomorrow", or "due Monday" on a Friday),
- the due date itself if it is a working day ("due today"),
- the first working day after it ("1 day overdue"), then every `overdue_every_days` working days
  while it stays open, and never more than a week apart.

The due date is the date the owners agreed: `due_at` read in the zone it was set in. A nudge is
never sent outside the owner's working hours (a working day, from the nudge hour for
SEND_WINDOW_HOURS, outside the team's quiet hours); a slot that falls there waits for the owner's
next allowed time. Only the latest slot that has come is ever sent, so a pass after downtime sends
one message, not a burst. Slots before the commitment was made (or last moved) and slots while it
is snoozed are skipped. A week after the due date the creator is told once, unless they are its
only owner.

The top half is pure (dates and instants in, decisions out) and unit-tested on its own; `plan`
applies it to what is due in the database and hands messages to the outbox. Each message has an
idempotency key (commitment, owner, due-date version, slot date), so planning twice, from several
processes, or at an earlier instant than a previous pass never sends anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.core.dates import format_due
from bot.slack import outbox
from bot.slack.blocks import commitments as blocks
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentStatus,
    Indicator,
    Person,
    Team,
)

logger = logging.getLogger(__name__)

SEND_WINDOW_HOURS = 9  # from the nudge hour: 09:00-18:00 by default
MAX_OVERDUE_GAP = timedelta(days=7)  # "at least weekly"
CREATOR_NOTICE_AFTER = timedelta(days=7)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEARCH_DAYS = 400  # how far to look for a working day before giving up (no working days set)
STOP_HINT = "Mark it done, change the date or snooze it and I'll stop."


# --- the team's calendar ---------------------------------------------------------------------


def zone_of(name: str | None, fallback: str) -> ZoneInfo:
    """A person's zone; the team's when theirs is unknown or not a real zone."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


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
    def of(cls, team: Team) -> Rules:
        days = frozenset(
            WEEKDAYS.index(d[:3].lower())
            for d in (team.working_days or [])
            if d[:3].lower() in WEEKDAYS
        )
        holidays: set[date] = set()
        for text in team.holidays or []:
            try:
                holidays.add(date.fromisoformat(str(text)))
            except ValueError:
                logger.warning("team %s: ignoring holiday %r (not an ISO date)", team.id, text)
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
    kind: str  # "before" | "today" | "overdue"
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
        and (snoozed_until is None or latest.at >= snoozed_until)
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


def due_datetime(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def due_day(commitment: Commitment) -> date:
    """The due date the owners agreed: `due_at` in the zone it was set in."""
    return blocks.local_due(commitment).date()


def creator_notice_time(due: date, rules: Rules, zone: ZoneInfo) -> datetime | None:
    """The creator is told on the first working day a week after the due date."""
    day = due + CREATOR_NOTICE_AFTER
    if not rules.is_working_day(day):
        later = rules.working_day_after(day)
        if later is None:
            return None
        day = later
    return rules.nudge_time(day, zone)


def needs_creator_notice(commitment: Commitment) -> bool:
    owners = commitment.owner_ids
    return owners != [commitment.creator_id]


# --- messages --------------------------------------------------------------------------------


def _payload(text: str, block_list: Sequence[Block]) -> dict[str, Any]:
    return {"text": text, "blocks": [b.to_dict() for b in block_list]}


def nudge_body(
    commitment: Commitment, *, now: datetime, indicator: str | None = None
) -> list[dict[str, Any]]:
    """The commitment with its buttons (the same for every owner; built once per commitment)."""
    built = blocks.build_commitment_message(
        commitment,
        now=now,
        indicator=indicator,
        headline=f"You're getting this because you own #{commitment.id}. {STOP_HINT}",
    )
    return [b.to_dict() for b in built]


def nudge_payload(
    commitment: Commitment,
    state: str,
    *,
    now: datetime,
    indicator: str | None = None,
    body: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The reminder DM: why it came, the commitment with its buttons, and how to stop it."""
    header = SectionBlock(
        text=MarkdownTextObject(text=f"⏰ Reminder: *#{commitment.id}* is *{state}*.")
    )
    if body is None:
        body = nudge_body(commitment, now=now, indicator=indicator)
    text = f"Reminder: #{commitment.id} {blocks._clip(commitment.text, 150)} is {state}."
    return {"text": text, "blocks": [header.to_dict(), *body]}


def creator_payload(
    commitment: Commitment, *, now: datetime, indicator: str | None = None
) -> dict[str, Any]:
    """Told once to whoever logged a commitment that is a week overdue."""
    late = blocks.days_late(commitment, now)
    header = SectionBlock(
        text=MarkdownTextObject(
            text=(
                f"⚠️ *#{commitment.id}*, which you logged, is {late} days overdue "
                f"(due {blocks.due_text(commitment)}). Its owners are still being reminded and it "
                "will be flagged in the next digest; I'm telling you once, in case you want to "
                "follow up."
            )
        )
    )
    body = blocks.build_commitment_message(
        commitment,
        now=now,
        indicator=indicator,
        headline=f"Owners: {blocks.owners_text(commitment)}",
    )
    text = f"#{commitment.id} {blocks._clip(commitment.text, 150)} is {late} days overdue."
    return _payload(text, [header, *body])


def nudge_key(commitment: Commitment, owner: str, slot: Slot) -> str:
    return f"nudge:{commitment.id}:{owner}:{commitment.due_version}:{slot.day.isoformat()}"


def creator_key(commitment: Commitment) -> str:
    return f"creator:{commitment.id}:{commitment.due_version}"


# --- planning over the database ----------------------------------------------------------------


@dataclass
class BatchResult:
    examined: int = 0
    nudges: int = 0  # newly enqueued owner nudges
    creator_notices: int = 0

    @property
    def enqueued(self) -> int:
        return self.nudges + self.creator_notices


def plan(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Plan every commitment due for a look at `now`, in batches, in this one transaction.

    Returns how many messages were newly enqueued. `bot.followup.scheduler.run_pass` commits after each
    batch instead (`plan_batch`), so a big backlog is not one long transaction.
    """
    total = 0
    while True:
        result = plan_batch(session, now=now, batch=batch)
        total += result.enqueued
        if result.examined < batch:
            return total


def plan_batch(session: Session, *, now: datetime, batch: int = 500) -> BatchResult:
    """One batch: the open commitments whose `next_check_at` has come, soonest first.

    The statements do not depend on the table size: one indexed select, then owners, teams,
    people, indicators and move times in bulk for the batch, one insert per new message, and one
    executemany update of `next_check_at`.
    """
    query = (
        select(Commitment)
        .where(Commitment.next_check_at <= now, Commitment.status == CommitmentStatus.OPEN)
        .order_by(Commitment.next_check_at, Commitment.id)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Another process planning at the same time takes other rows instead of waiting.
        query = query.with_for_update(skip_locked=True)
    due = list(session.scalars(query))
    result = BatchResult(examined=len(due))
    if not due:
        return result
    context = _Context.load(session, due)
    updates: list[dict[str, Any]] = []
    for commitment in due:
        wake = _plan_one(session, commitment, context, now=now, result=result)
        if wake is None or wake <= now:  # no working days at all: look again tomorrow
            wake = now + timedelta(days=1)
        updates.append({"id": commitment.id, "next_check_at": wake})
    session.execute(update(Commitment), updates)
    return result


@dataclass
class _Context:
    """What a batch needs besides the commitments, loaded in bulk (no query per commitment)."""

    teams: dict[str, Team]
    people: dict[tuple[str, str], Person]
    indicators: dict[int, str]
    moved_at: dict[int, datetime]

    @classmethod
    def load(cls, session: Session, due: Sequence[Commitment]) -> _Context:
        team_ids = {c.team_id for c in due}
        user_ids = {o.user_id for c in due for o in c.owners} | {c.creator_id for c in due}
        teams = {t.id: t for t in session.scalars(select(Team).where(Team.id.in_(team_ids)))}
        people = {
            (p.team_id, p.user_id): p
            for p in session.scalars(
                select(Person).where(Person.team_id.in_(team_ids), Person.user_id.in_(user_ids))
            )
        }
        indicator_ids = {c.indicator_id for c in due if c.indicator_id is not None}
        indicators: dict[int, str] = {}
        if indicator_ids:
            indicators = {
                row.id: row.slug
                for row in session.execute(
                    select(Indicator.id, Indicator.slug).where(Indicator.id.in_(indicator_ids))
                )
            }
        moved = [c.id for c in due if c.due_version > 1]
        moved_at: dict[int, datetime] = {}
        if moved:
            rows = session.execute(
                select(CommitmentEvent.commitment_id, func.max(CommitmentEvent.at))
                .where(CommitmentEvent.commitment_id.in_(moved), CommitmentEvent.kind == "moved")
                .group_by(CommitmentEvent.commitment_id)
            )
            moved_at = {cid: _aware(at) for cid, at in rows}
        return cls(teams, people, indicators, moved_at)

    def zone(self, team: Team, user_id: str) -> ZoneInfo:
        person = self.people.get((team.id, user_id))
        return zone_of(person.time_zone if person else None, team.time_zone)


def _aware(at: datetime) -> datetime:
    # func.max() bypasses the column type on SQLite, which then hands back naive UTC.
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _plan_one(
    session: Session,
    commitment: Commitment,
    context: _Context,
    *,
    now: datetime,
    result: BatchResult,
) -> datetime | None:
    team = context.teams[commitment.team_id]
    rules = Rules.of(team)
    due = due_day(commitment)
    # Reminders belong to the current due date: none for slots before it was set.
    start = context.moved_at.get(commitment.id, commitment.created_at)
    indicator = context.indicators.get(commitment.indicator_id or -1)
    wakes: list[datetime] = []
    body: list[dict[str, Any]] | None = None
    for owner in commitment.owner_ids:
        zone = context.zone(team, owner)
        decision = decide(
            slots(due, rules, zone),
            now=now,
            rules=rules,
            zone=zone,
            start=start,
            snoozed_until=commitment.snoozed_until,
        )
        if decision.wake is not None:
            wakes.append(decision.wake)
        if decision.send is not None:
            state = state_text(decision.send, due)
            if body is None:
                body = nudge_body(commitment, now=now, indicator=indicator)
            if outbox.enqueue(
                session,
                team_id=commitment.team_id,
                key=nudge_key(commitment, owner, decision.send),
                kind="nudge",
                channel=owner,
                payload=nudge_payload(commitment, state, now=now, body=body),
                now=now,
            ):
                result.nudges += 1
    if needs_creator_notice(commitment):
        zone = context.zone(team, commitment.creator_id)
        at = creator_notice_time(due, rules, zone)
        if at is not None:
            once = iter([Slot(at.astimezone(zone).date(), "creator", at)])
            decision = decide(once, now=now, rules=rules, zone=zone, start=start)
            if decision.wake is not None:
                wakes.append(decision.wake)
            if decision.send is not None and outbox.enqueue(
                session,
                team_id=commitment.team_id,
                key=creator_key(commitment),
                kind="creator_notice",
                channel=commitment.creator_id,
                payload=creator_payload(commitment, now=now, indicator=indicator),
                now=now,
            ):
                result.creator_notices += 1
    return min(wakes) if wakes else None


__all__ = [
    "BatchResult",
    "Decision",
    "Rules",
    "Slot",
    "creator_key",
    "creator_notice_time",
    "decide",
    "local_instant",
    "nudge_body",
    "nudge_key",
    "nudge_payload",
    "plan",
    "plan_batch",
    "slots",
    "state_text",
    "zone_of",
]
