"""Nudges over the database: which owner is reminded about which commitment, at `now`.

The rules are pure and live in `bot.core.nudge_rules`; the messages are built by
`bot.slack.blocks.nudges`. This module finds the commitments due for a look, applies the rules to
each owner (in their own time zone) and to the creator, and puts the messages in the outbox.

Each message has an idempotency key (commitment, owner, due-date version, slot date), so planning
twice, from several processes, or at an earlier instant than a previous pass never sends anything
twice, and carries what it was planned on (`outbox.holds_commitment`: open, due date, owners,
snooze), which the outbox checks again right before sending. No Slack call happens here: the
owners' time zones were stored when they were met.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.core import text
from bot.core.deadlines import local_due
from bot.core.nudge_rules import Rules, Slot, creator_notice_time, decide, slots, state_text
from bot.slack import outbox
from bot.slack.blocks.nudges import creator_payload, nudge_body, nudge_payload
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentStatus,
    Indicator,
    Person,
    Team,
)

logger = logging.getLogger(__name__)


def due_day(commitment: Commitment) -> date:
    """The due date the owners agreed: `due_at` in the zone it was set in."""
    return local_due(commitment).date()


def needs_creator_notice(commitment: Commitment) -> bool:
    """The creator is told unless they are its only owner (they are being nudged already)."""
    owners = commitment.owner_ids
    return owners != [commitment.creator_id]


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
        return text.zone(person.time_zone if person else None, team.time_zone)


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
    # What the messages are planned on: checked again right before each is sent, so a reminder
    # held back by Slack is dropped if the commitment was done, moved, reassigned or snoozed.
    holds = outbox.holds_commitment(commitment)
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
                holds=holds,
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
                holds=outbox.holds_commitment(commitment),
            ):
                result.creator_notices += 1
    return min(wakes) if wakes else None


__all__ = [
    "BatchResult",
    "creator_key",
    "due_day",
    "nudge_key",
    "plan",
    "plan_batch",
]
