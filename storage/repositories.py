"""Queries over a session. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import (
    Base,
    Commitment,
    CommitmentEvent,
    CommitmentOwner,
    CommitmentStatus,
    Indicator,
    IndicatorValue,
    Person,
    Team,
)


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """INSERT that does nothing if the row exists, so concurrent first requests cannot collide."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def ensure_team(session: Session, team_id: str, *, time_zone: str, now: datetime) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        insert_ignore(
            session,
            Team,
            {
                "id": team_id,
                "time_zone": time_zone,
                "created_at": now,
                "working_days": ["mon", "tue", "wed", "thu", "fri"],
                "holidays": [],
                "holidays_off": [],
                "nudge_hour": 9,
                "overdue_every_days": 2,
            },
        )
        team = session.get(Team, team_id)
    assert team is not None
    return team


def get_person(session: Session, team_id: str, user_id: str) -> Person | None:
    return session.get(Person, (team_id, user_id))


def save_person(session: Session, team_id: str, user_id: str, **fields: Any) -> Person:
    person = session.get(Person, (team_id, user_id))
    if person is None:
        insert_ignore(session, Person, {"team_id": team_id, "user_id": user_id, "is_admin": False})
        person = session.get(Person, (team_id, user_id))
        assert person is not None
    for name, value in fields.items():
        setattr(person, name, value)
    return person


def mark_unreachable(
    session: Session, team_id: str, user_id: str, *, reason: str, since: datetime
) -> None:
    """Slack refused to let the bot write to this person (`reason`: its error code). The first
    time is kept: a later refusal does not move "since when"."""
    person = save_person(session, team_id, user_id)
    if person.unreachable_since is None:
        person.unreachable_since = since
    person.unreachable_reason = reason


def mark_reachable(session: Session, team_id: str, user_id: str) -> bool:
    """Slack says this person is active (again); True when they had been unreachable."""
    person = get_person(session, team_id, user_id)
    if person is None or person.unreachable_since is None:
        return False
    person.unreachable_since = None
    person.unreachable_reason = None
    return True


def unreachable(session: Session, people: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Those of these (team, user) whom the bot cannot reach in Slack, with the reason (Slack's
    error code); one query however many are asked about."""
    wanted = set(people)
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.team_id, Person.user_id, Person.unreachable_reason).where(
            Person.team_id.in_({team for team, _ in wanted}),
            Person.user_id.in_({user for _, user in wanted}),
            Person.unreachable_since.is_not(None),
        )
    )
    return {
        (team, user): reason or "user_disabled"
        for team, user, reason in rows
        if (team, user) in wanted
    }


def get_commitment(
    session: Session, team_id: str, commitment_id: int, *, lock: bool = False
) -> Commitment | None:
    """A commitment of this team only: another workspace's id is simply not found."""
    query = select(Commitment).where(Commitment.team_id == team_id, Commitment.id == commitment_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def find_by_request(session: Session, team_id: str, request_key: str) -> Commitment | None:
    return session.scalars(
        select(Commitment).where(
            Commitment.team_id == team_id, Commitment.request_key == request_key
        )
    ).one_or_none()


def add_event(
    session: Session, commitment: Commitment, *, actor: str, kind: str, at: datetime, **detail: Any
) -> CommitmentEvent:
    event = CommitmentEvent(
        team_id=commitment.team_id,
        commitment_id=commitment.id,
        actor_id=actor,
        kind=kind,
        detail=detail,
        at=at,
    )
    session.add(event)
    return event


def _open(query: Any, team_id: str, owner: str | None, overdue_at: datetime | None) -> Any:
    """Open commitments of a team; of one owner starts from that owner's rows (few), so the
    query does not walk every open commitment of the coalition."""
    if owner is not None:
        query = query.join(CommitmentOwner, CommitmentOwner.commitment_id == Commitment.id).where(
            CommitmentOwner.team_id == team_id, CommitmentOwner.user_id == owner
        )
    query = query.where(Commitment.team_id == team_id, Commitment.status == CommitmentStatus.OPEN)
    if overdue_at is not None:
        query = query.where(Commitment.due_at < overdue_at)
    return query


def open_commitments(
    session: Session,
    team_id: str,
    *,
    owner: str | None = None,
    overdue_at: datetime | None = None,
    limit: int | None = None,
) -> Sequence[Commitment]:
    """Open commitments, soonest due first; of one owner and/or overdue at an instant."""
    query = _open(select(Commitment), team_id, owner, overdue_at)
    query = query.order_by(Commitment.due_at, Commitment.id).limit(limit)
    return session.scalars(query).all()


def count_open(
    session: Session, team_id: str, *, owner: str | None = None, overdue_at: datetime | None = None
) -> int:
    query = _open(
        select(func.count(Commitment.id)).select_from(Commitment), team_id, owner, overdue_at
    )
    return int(session.scalar(query) or 0)


def count_closed_since(session: Session, team_id: str, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(Commitment)
        .where(
            Commitment.team_id == team_id,
            Commitment.status == CommitmentStatus.DONE,
            Commitment.closed_at >= since,
        )
    )
    return int(session.scalar(query) or 0)


def find_indicator(session: Session, team_id: str, slug: str) -> Indicator | None:
    return session.scalars(
        select(Indicator).where(Indicator.team_id == team_id, Indicator.slug == slug)
    ).one_or_none()


def get_indicator(session: Session, team_id: str, indicator_id: int) -> Indicator | None:
    """An indicator of this team only: another workspace's id is simply not found."""
    return session.scalars(
        select(Indicator).where(Indicator.team_id == team_id, Indicator.id == indicator_id)
    ).one_or_none()


def first_period_from(session: Session, indicator_id: int, start: date) -> str | None:
    """The earliest stored period of an indicator that starts on or after `start` (any
    geography; a suppressed value counts: the publisher did publish it), or None."""
    return session.scalars(
        select(IndicatorValue.period)
        .where(IndicatorValue.indicator_id == indicator_id, IndicatorValue.period_start >= start)
        .order_by(IndicatorValue.period_start, IndicatorValue.period)
        .limit(1)
    ).first()


def indicators(session: Session, team_id: str) -> Sequence[Indicator]:
    return session.scalars(
        select(Indicator).where(Indicator.team_id == team_id).order_by(Indicator.name)
    ).all()


def delete_team(session: Session, team_id: str) -> dict[str, int]:
    """Delete everything we hold about one workspace: every row carrying its team id in every
    table (slack_sdk's installations and bot tokens among them, in OAuth mode), then the team.

    Works from the model metadata, so a table added later is covered as long as it has a
    `team_id` column (a schema test insists on that). Returns rows deleted per table.
    """
    counts: dict[str, int] = {}
    for table in reversed(Base.metadata.sorted_tables):  # children before parents
        if table.name != "teams" and "team_id" in table.c:
            counts[table.name] = _deleted(session, delete(table).where(table.c.team_id == team_id))
    teams = Base.metadata.tables["teams"]
    counts["teams"] = _deleted(session, delete(teams).where(teams.c.id == team_id))
    return {name: n for name, n in counts.items() if n}


def _deleted(session: Session, statement: Delete) -> int:
    return cast(CursorResult[Any], session.execute(statement)).rowcount


# Data loaded from the command line before any Slack workspace is known (the README's first run:
# `commstat import …` on a new database, no token yet) is kept under this placeholder team; the
# one workspace the bot's token serves adopts it at start (`adopt_unconnected_team`).
UNCONNECTED_TEAM = "T0UNCONNECTED"


def adopt_unconnected_team(session: Session, team_id: str) -> bool:
    """Move everything stored under UNCONNECTED_TEAM to `team_id`, the workspace the token serves,
    if that workspace has no data of its own yet. Idempotent; True when something moved."""
    local = session.get(Team, UNCONNECTED_TEAM, with_for_update=True)
    if local is None or team_id == UNCONNECTED_TEAM or session.get(Team, team_id) is not None:
        return False
    values = {c.key: getattr(local, c.key) for c in Team.__table__.columns}
    insert_ignore(session, Team, {**values, "id": team_id})
    for table in Base.metadata.sorted_tables:
        if table.name != Team.__tablename__ and "team_id" in table.c:
            session.execute(
                table.update().where(table.c.team_id == UNCONNECTED_TEAM).values(team_id=team_id)
            )
    session.execute(delete(Team).where(Team.id == UNCONNECTED_TEAM))
    return True
