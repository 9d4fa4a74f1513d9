"""Nudges over the database: which owner is reminded about which commitment, at `now`.

The rules are pure and live in `bot.core.nudge_rules`. This module finds the commitments due for
a look, applies the rules to each owner (in their own time zone) and to the creator; an owner
due a reminder gets their morning message (`bot.followup.morning.plan_morning`: one message a
person a day, with everything that needs them), the creator a one-time notice. Someone Slack
refused a direct message to (deactivated, gone) is planned nothing until Slack says they are
active again; the creator's notice says which owners cannot be reached.

Planning twice, from several processes, or at an earlier instant than a previous pass never sends
anything twice (the keys are explained in `bot.followup.morning`); every message carries what it
was planned on, which the outbox checks again right before sending. No Slack call happens here:
the owners' time zones were stored when they were met.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core import text
from bot.core.nudge_rules import Rules, Slot, creator_notice_time, decide, slots
from bot.followup.morning import (
    due_day,
    indicator_slugs,
    moved_at,
    nudge_key,
    queue_mornings,
)
from bot.slack import outbox
from bot.slack.blocks.nudges import creator_payload
from storage.models import (
    Commitment,
    CommitmentStatus,
    Person,
    Team,
)

logger = logging.getLogger(__name__)


def needs_creator_notice(commitment: Commitment) -> bool:
    """The creator is told unless they are its only owner (they are being nudged already)."""
    owners = commitment.owner_ids
    return owners != [commitment.creator_id]


def creator_key(commitment: Commitment) -> str:
    return f"creator:{commitment.id}:{commitment.due_version}"


# --- planning over the database ----------------------------------------------------------------


@dataclass
class BatchResult:
    examined: int = 0
    nudges: int = 0  # newly enqueued morning messages
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
    wakes: dict[int, datetime | None] = {}
    # (team, owner) -> the commitments whose reminder is due in their morning message
    wanted: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for commitment in due:
        wakes[commitment.id] = _plan_one(
            session, commitment, context, now=now, result=result, wanted=wanted
        )
    zones = {(t, user): context.zone(context.teams[t], user) for t, user in wanted}
    result.nudges += queue_mornings(
        session, wanted, teams=context.teams, zones=zones, wakes=wakes, now=now
    )
    updates: list[dict[str, Any]] = []
    for commitment in due:
        wake = wakes[commitment.id]
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
    indicators: dict[int, str]  # by commitment id
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
        return cls(teams, people, indicator_slugs(session, due), moved_at(session, due))

    def zone(self, team: Team, user_id: str) -> ZoneInfo:
        person = self.people.get((team.id, user_id))
        return text.zone(person.time_zone if person else None, team.time_zone)

    def unreachable(self, team_id: str, user_id: str) -> str | None:
        """Why a direct message cannot reach this person (Slack's error code), or None."""
        person = self.people.get((team_id, user_id))
        if person is None or person.unreachable_since is None:
            return None
        return person.unreachable_reason or "user_disabled"


def _plan_one(
    session: Session,
    commitment: Commitment,
    context: _Context,
    *,
    now: datetime,
    result: BatchResult,
    wanted: dict[tuple[str, str], list[tuple[int, str]]],
) -> datetime | None:
    """Note the owners due a reminder at `now` in `wanted`, tell the creator if it is time, and
    return when this commitment needs a look again."""
    team = context.teams[commitment.team_id]
    rules = Rules.of(team)
    due = due_day(commitment)
    # Reminders belong to the current due date: none for slots before it was set.
    start = context.moved_at.get(commitment.id, commitment.created_at)
    wakes: list[datetime] = []
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
            wanted[(commitment.team_id, owner)].append(
                (commitment.id, nudge_key(commitment, owner, decision.send))
            )
    if needs_creator_notice(commitment):
        zone = context.zone(team, commitment.creator_id)
        at = creator_notice_time(due, rules, zone)
        if at is not None:
            once = iter([Slot(at.astimezone(zone).date(), "creator", at)])
            decision = decide(once, now=now, rules=rules, zone=zone, start=start)
            if decision.wake is not None:
                wakes.append(decision.wake)
            # A creator who cannot be reached is told when they can be (the next look).
            reachable = context.unreachable(commitment.team_id, commitment.creator_id) is None
            unreachable = {
                owner: why
                for owner in commitment.owner_ids
                if (why := context.unreachable(commitment.team_id, owner)) is not None
            }
            if (
                decision.send is not None
                and reachable
                and outbox.enqueue(
                    session,
                    team_id=commitment.team_id,
                    key=creator_key(commitment),
                    kind="creator_notice",
                    channel=commitment.creator_id,
                    payload=creator_payload(
                        commitment,
                        now=now,
                        indicator=context.indicators.get(commitment.id),
                        unreachable=unreachable,
                    ),
                    now=now,
                    holds=outbox.holds_commitment(commitment),
                )
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
