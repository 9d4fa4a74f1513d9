"""One message a person a morning: everything that needs them that day, in one DM.

`bot.followup.nudges` (commitments) and `bot.followup.freshness` (late data) find who is due a
reminder at `now`; for each such person `plan_morning` looks at *all* their open commitments and
the indicators they steward, applies the rules of `bot.core.nudge_rules` to each in the person's
time zone, and queues one message with a line for each (`bot.slack.blocks.nudges`).

Exactly once, per person and day: the message's idempotency key is (team, person, local day),
so planning twice, from several processes, or at an earlier instant never sends a second one;
two processes planning the same person at once compose the same lines from the same rows, and the
second insert does nothing. Each line keeps its own key (commitment, owner, due-date version,
reminder day: the key a reminder had when each was its own message), listed in the message's
"items": a reminder already listed in an earlier morning's message (or sent on its own before
this change) is not listed again, and missed mornings after downtime collapse into one message,
as the rules collapse missed reminders into the latest. Each line carries what it was planned on
(`outbox.holds_commitment`, `outbox.holds_no_value`): the outbox leaves out a line that no longer
holds when the message goes, and drops the message when none does.

A reminder that comes due after the person's message of the day was queued (a commitment handed
to them at noon, due today) waits for their next morning's message rather than making a second.
Someone Slack refused a direct message to (their account deactivated or gone:
`Person.unreachable_since`, set by the outbox) is planned no message: one failed attempt, not
one every reminder day. Once Slack says they are active again, the rules' next reminder day
brings their message (what was missed is not sent in a burst).
No Slack call happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import periods
from bot.core.deadlines import local_due
from bot.core.nudge_rules import Rules, Slot, decide, local_instant, slots
from bot.slack import outbox
from bot.slack.blocks.nudges import commitment_line, data_line, morning_payload
from bot.slack.morning_message import KIND
from bot.usecases.indicators import newest_periods
from storage import repositories as repo
from storage.models import (
    Commitment,
    CommitmentEvent,
    Indicator,
    OutboxMessage,
    Team,
)

logger = logging.getLogger(__name__)

LEDGER_DAYS = 31  # how far back earlier mornings are read for reminders already given


def morning_key(team_id: str, user_id: str, day: date) -> str:
    return f"morning:{team_id}:{user_id}:{day.isoformat()}"


def nudge_key(commitment: Commitment, owner: str, slot: Slot) -> str:
    """A commitment's reminder to one owner on one day (a line's key)."""
    return f"nudge:{commitment.id}:{owner}:{commitment.due_version}:{slot.day.isoformat()}"


def steward_key(indicator: Indicator, following: periods.Period, slot: Slot) -> str:
    """A steward's reminder about one late period on one day (a line's key)."""
    return f"steward:{indicator.id}:{following.text}:{slot.day.isoformat()}"


def due_day(commitment: Commitment) -> date:
    """The due date the owners agreed: `due_at` in the zone it was set in."""
    return local_due(commitment).date()


def next_morning(rules: Rules, zone: ZoneInfo, day: date) -> datetime | None:
    """The first time a reminder may go to `zone` after the local day `day`."""
    midnight = local_instant(day + timedelta(days=1), 0, zone)
    return rules.next_allowed(midnight - timedelta(microseconds=1), zone)


@dataclass(frozen=True)
class Planned:
    """What planning one person's morning did."""

    day: date
    enqueued: bool  # a new message was queued
    told: frozenset[str]  # the keys of the lines their message of `day` holds (new or earlier)


@dataclass(frozen=True)
class _Candidate:
    key: str
    day: date  # the reminder's own day (a missed morning's, after downtime)
    build: Callable[[], dict[str, Any]]


def plan_morning(
    session: Session, *, team: Team, user: str, zone: ZoneInfo, now: datetime
) -> Planned:
    """Queue `user`'s message for their local day at `now`, unless one is queued already; in the
    caller's transaction. Lists every commitment they own and every indicator they steward that
    is due a reminder at `now` and was not listed before."""
    day = now.astimezone(zone).date()
    key = morning_key(team.id, user, day)
    earlier = _items_of(session, [key])
    if earlier is not None:
        return Planned(day, False, earlier)
    rules = Rules.of(team)
    candidates = [
        *_commitment_lines(session, team, user, zone=zone, rules=rules, now=now, day=day),
        *_data_lines(session, team, user, zone=zone, rules=rules, now=now, day=day),
    ]
    if not candidates:
        return Planned(day, False, frozenset())
    told = _told(session, team.id, user, candidates, day=day)
    parts = [c.build() for c in candidates if c.key not in told]
    if not parts:
        return Planned(day, False, frozenset())
    payload = morning_payload(parts, day=day)
    if outbox.enqueue(
        session, team_id=team.id, key=key, kind=KIND, channel=user, payload=payload, now=now
    ):
        return Planned(day, True, frozenset(payload["items"]))
    # Another process queued it a moment ago (its transaction committed while we waited).
    return Planned(day, False, _items_of(session, [key]) or frozenset())


def queue_mornings(
    session: Session,
    wanted: Mapping[tuple[str, str], Sequence[tuple[int, str]]],
    *,
    teams: Mapping[str, Team],
    zones: Mapping[tuple[str, str], ZoneInfo],
    wakes: dict[int, datetime | None],
    now: datetime,
) -> int:
    """Queue the morning message of each person in `wanted` ((team, person) -> the row id and
    line key of each reminder due at `now`, in the person's zone `zones[(team, person)]`);
    returns how many messages were new. A line that
    their message of the day does not hold came due after it was queued: its row's next look
    (`wakes`, by row id) moves to their next morning, whose message will have it. People the bot
    cannot reach in Slack are left out (their rows keep the rules' next look)."""
    queued = 0
    unreachable = repo.unreachable(session, wanted)
    # In one order in every process, so two planners never wait on each other's messages.
    for team_id, user in sorted(wanted):
        if (team_id, user) in unreachable:
            continue
        team = teams[team_id]
        zone = zones[(team_id, user)]
        planned = plan_morning(session, team=team, user=user, zone=zone, now=now)
        queued += int(planned.enqueued)
        for row_id, key in wanted[(team_id, user)]:
            if key not in planned.told:
                later = next_morning(Rules.of(team), zone, planned.day)
                current = wakes[row_id]
                if later is not None and (current is None or later < current):
                    wakes[row_id] = later
    return queued


def _commitment_lines(
    session: Session,
    team: Team,
    user: str,
    *,
    zone: ZoneInfo,
    rules: Rules,
    now: datetime,
    day: date,
) -> list[_Candidate]:
    owned = repo.open_commitments(session, team.id, owner=user)
    moved = moved_at(session, owned)
    slugs = indicator_slugs(session, owned)
    found: list[_Candidate] = []
    for commitment in owned:
        decision = decide(
            slots(due_day(commitment), rules, zone),
            now=now,
            rules=rules,
            zone=zone,
            start=moved.get(commitment.id, commitment.created_at),
            snoozed_until=commitment.snoozed_until,
        )
        if decision.send is None:
            continue
        key = nudge_key(commitment, user, decision.send)
        found.append(
            _Candidate(
                key,
                decision.send.day,
                _commitment_builder(commitment, user, day, key, slugs.get(commitment.id)),
            )
        )
    return found


def _commitment_builder(
    commitment: Commitment, user: str, day: date, key: str, indicator: str | None
) -> Callable[[], dict[str, Any]]:
    return lambda: commitment_line(
        commitment,
        recipient=user,
        day=day,
        key=key,
        holds=outbox.holds_commitment(commitment),
        indicator=indicator,
    )


def _data_lines(
    session: Session,
    team: Team,
    user: str,
    *,
    zone: ZoneInfo,
    rules: Rules,
    now: datetime,
    day: date,
) -> list[_Candidate]:
    stewarded = list(
        session.scalars(
            select(Indicator)
            .where(Indicator.team_id == team.id, Indicator.steward_id == user)
            .order_by(Indicator.id)
        )
    )
    if not stewarded:
        return []
    newest = newest_periods(session, [i.id for i in stewarded])
    found: list[_Candidate] = []
    for indicator in stewarded:
        late = late_period(indicator, newest.get(indicator.id))
        if late is None:
            continue
        following, expected = late
        decision = decide(
            slots(expected, rules, zone, overdue_only=True), now=now, rules=rules, zone=zone
        )
        if decision.send is None:
            continue
        key = steward_key(indicator, following, decision.send)
        found.append(
            _Candidate(
                key, decision.send.day, _data_builder(indicator, following, expected, day, key)
            )
        )
    return found


def _data_builder(
    indicator: Indicator, following: periods.Period, expected: date, day: date, key: str
) -> Callable[[], dict[str, Any]]:
    return lambda: data_line(
        indicator,
        following,
        expected,
        day=day,
        key=key,
        # Left out if that period (or a later one) arrives before the message goes.
        holds=outbox.holds_no_value(indicator, period=following.text, start=following.start),
    )


def late_period(
    indicator: Indicator, newest: tuple[date, str] | None
) -> tuple[periods.Period, date] | None:
    """The period whose value a steward owes and the day it was expected by; None when the
    indicator has no steward or no values, or its periods cannot be read."""
    if not indicator.steward_id or newest is None:
        return None
    try:
        last = periods.parse_period(newest[1])
        following = periods.shift(last, indicator.period_kind, 1)
        expected = periods.expected_next(last, indicator.period_kind, indicator.update_frequency)
    except periods.PeriodError as error:
        logger.warning("indicator %s: cannot tell when data is due: %s", indicator.slug, error)
        return None
    return following, expected


def moved_at(session: Session, commitments: Iterable[Commitment]) -> dict[int, datetime]:
    """When each moved commitment was last moved: reminders belong to the current due date."""
    moved = [c.id for c in commitments if c.due_version > 1]
    if not moved:
        return {}
    rows = session.execute(
        select(CommitmentEvent.commitment_id, func.max(CommitmentEvent.at))
        .where(CommitmentEvent.commitment_id.in_(moved), CommitmentEvent.kind == "moved")
        .group_by(CommitmentEvent.commitment_id)
    )
    return {cid: _aware(at) for cid, at in rows}


def indicator_slugs(session: Session, commitments: Iterable[Commitment]) -> dict[int, str]:
    """The linked indicator's slug of each commitment that has one, by commitment id."""
    linked = {c.id: c.indicator_id for c in commitments if c.indicator_id is not None}
    if not linked:
        return {}
    slugs = {
        row.id: row.slug
        for row in session.execute(
            select(Indicator.id, Indicator.slug).where(Indicator.id.in_(set(linked.values())))
        )
    }
    return {cid: slugs[iid] for cid, iid in linked.items() if iid in slugs}


def _aware(at: datetime | str) -> datetime:
    # func.max() bypasses the column type on SQLite, which then hands back naive UTC.
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _items_of(session: Session, keys: Sequence[str]) -> frozenset[str] | None:
    """The line keys of the morning messages queued under `keys`; None when there is none."""
    payloads = session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.idempotency_key.in_(keys))
    ).all()
    if not payloads:
        return None
    return frozenset(str(k) for p in payloads for k in (p or {}).get("items") or [])


def _told(
    session: Session, team_id: str, user: str, candidates: Sequence[_Candidate], *, day: date
) -> frozenset[str]:
    """The candidates' keys already given: in an earlier morning's message of this person, or
    as a message of their own (before reminders were gathered into one message)."""
    since = max(min(c.day for c in candidates), day - timedelta(days=LEDGER_DAYS))
    mornings = [
        morning_key(team_id, user, since + timedelta(days=n)) for n in range((day - since).days)
    ]
    told = set(_items_of(session, mornings) or ()) if mornings else set()
    wanted = [c.key for c in candidates]
    told.update(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(wanted))
        ).all()
    )
    return frozenset(told)


__all__ = [
    "KIND",
    "Planned",
    "due_day",
    "indicator_slugs",
    "late_period",
    "morning_key",
    "moved_at",
    "next_morning",
    "nudge_key",
    "plan_morning",
    "queue_mornings",
    "steward_key",
]
