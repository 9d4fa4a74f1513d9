"""The on-time report: how reliably each organisation keeps its commitments.

Rules (the same numbers appear in `/commstat report` and in `commstat export`):

- A commitment's *deadline* is the end of its due date in its own time zone (the zone the date was
  agreed in), or, when the due date names a time of day, that time (`bot.core.deadlines`).
- *On time* means closed as done at or before the deadline; done after it is *late*.
- A commitment counts in a window once its deadline has passed inside the window
  (`since <= deadline <= now`): by then it is either done on time, done late, or still open and
  overdue. One due today is counted tomorrow, so nobody is marked down before their day is over.
- Dropped commitments (closed with a reason) are shown as a separate number and not counted
  against the rate; a commitment closed after `now` is judged as it stood at `now`.
- On-time rate = done on time ÷ counted ("8 of 10 (80%)").
- A commitment with owners from several organisations counts once for each of those
  organisations; owners with no organisation set are grouped together. The coalition total
  counts each commitment once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.dates import format_due
from bot.core.deadlines import deadline
from bot.core.text import zone
from storage.models import Commitment, CommitmentOwner, CommitmentStatus, Person, Team

NO_ORGANISATION = "No organisation set — /commstat org @person <name>"


@dataclass
class OrgStats:
    """One organisation's numbers in the window; `organisation` None = no organisation set."""

    organisation: str | None
    due: int = 0  # deadline passed in the window (dropped ones excluded)
    on_time: int = 0
    late: int = 0
    overdue: int = 0  # still open after the deadline
    dropped: int = 0

    @property
    def rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def label(self) -> str:
        return self.organisation or NO_ORGANISATION

    def rate_text(self) -> str:
        if not self.due:
            return "nothing due"
        return f"{self.on_time} of {self.due} ({round(100 * self.on_time / self.due)}%)"


@dataclass
class Report:
    since: datetime
    now: datetime
    time_zone: str
    organisations: list[OrgStats] = field(default_factory=list)
    total: OrgStats = field(default_factory=lambda: OrgStats("Coalition"))

    def window_text(self) -> str:
        return f"since {format_due(self.since.astimezone(zone(self.time_zone)))}"


def _outcome(row: Any, end: datetime, now: datetime) -> str | None:
    """on_time / late / overdue / dropped, or None when the deadline is not yet in the window."""
    if end > now:
        return None
    closed = row.closed_at if row.closed_at is not None and row.closed_at <= now else None
    if closed is None or row.status == CommitmentStatus.OPEN:
        return "overdue"
    if row.status == CommitmentStatus.DROPPED:
        return "dropped"
    return "on_time" if closed <= end else "late"


def _count(stats: OrgStats, outcome: str) -> None:
    if outcome == "dropped":
        stats.dropped += 1
        return
    stats.due += 1
    setattr(stats, outcome, getattr(stats, outcome) + 1)


def organisations_of(session: Session, team_id: str) -> dict[str, str]:
    """user id -> organisation, for everyone who has one set (one query)."""
    rows = session.execute(
        select(Person.user_id, Person.organisation).where(
            Person.team_id == team_id, Person.organisation.is_not(None)
        )
    )
    return {user: org.strip() for user, org in rows if org and org.strip()}


def report_rows(session: Session, *, team_id: str, since: datetime, now: datetime) -> Report:
    """The numbers behind the report, for every organisation; four queries in all."""
    team = session.get(Team, team_id)
    report = Report(since=since, now=now, time_zone=team.time_zone if team else "UTC")
    # A deadline is at most a day after due_at, never before it: widen the query by a day and
    # let `_outcome` decide exactly.
    in_window = (
        Commitment.team_id == team_id,
        Commitment.due_at >= since - timedelta(days=2),
        Commitment.due_at <= now,
    )
    rows = session.execute(
        select(
            Commitment.id,
            Commitment.status,
            Commitment.due_at,
            Commitment.due_has_time,
            Commitment.time_zone,
            Commitment.closed_at,
        ).where(*in_window)
    )
    outcomes: dict[int, str] = {}
    for row in rows:
        end = deadline(row.due_at, has_time=row.due_has_time, time_zone=row.time_zone)
        if end < since:
            continue
        outcome = _outcome(row, end, now)
        if outcome is not None:
            outcomes[row.id] = outcome
    orgs = organisations_of(session, team_id)
    orgs_by_commitment: dict[int, set[str | None]] = defaultdict(set)
    owners = session.execute(
        select(CommitmentOwner.commitment_id, CommitmentOwner.user_id)
        .join(Commitment, Commitment.id == CommitmentOwner.commitment_id)
        .where(*in_window)
    )
    for commitment_id, user_id in owners:
        if commitment_id in outcomes:
            orgs_by_commitment[commitment_id].add(orgs.get(user_id))
    ids = sorted(outcomes)
    stats: dict[str | None, OrgStats] = {}
    spelling: dict[str, str] = {}  # "health dept" -> "Health Dept" (first seen)
    for commitment_id in ids:
        outcome = outcomes[commitment_id]
        _count(report.total, outcome)
        keys: set[str | None] = set()
        for org in orgs_by_commitment.get(commitment_id, {None}):
            keys.add(org.casefold() if org else None)
            if org:
                spelling.setdefault(org.casefold(), org)
        for key in keys:
            if key not in stats:
                stats[key] = OrgStats(spelling[key] if key else None)
            _count(stats[key], outcome)
    named = sorted(
        (s for key, s in stats.items() if key is not None),
        key=lambda s: (-(s.rate if s.rate is not None else -1), -s.due, s.label.casefold()),
    )
    report.organisations = named + ([stats[None]] if None in stats else [])
    return report
