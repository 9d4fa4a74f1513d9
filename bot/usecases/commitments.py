"""What can happen to a commitment, who may do it, and the trail it leaves.

Every change writes one event to the append-only log; nothing here commits the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.dates import Due, format_due
from storage.models import Commitment, CommitmentOwner, CommitmentStatus, Person
from storage.repositories import add_event, find_by_request, get_commitment

MAX_NOTE_CHARS = 2000
# <!here>, <!channel>, <!everyone>, <!subteam^S123|@team>: posting these would notify everyone.
_BROADCAST = re.compile(
    r"<!(here|channel|everyone)(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|@?([^>]*))?>"
)


def defuse_mentions(text: str) -> str:
    """Keep what people wrote, but never let a commitment ping a whole channel or group."""
    return _BROADCAST.sub(lambda m: "@" + (m.group(1) or m.group(2) or "group"), text)


class CommitError(Exception):
    """A refusal to show the user, as is."""


@dataclass(frozen=True)
class Actor:
    team_id: str
    user_id: str
    is_admin: bool = False

    @classmethod
    def of(cls, person: Person) -> Actor:
        return cls(person.team_id, person.user_id, person.is_admin or person.is_slack_admin)


def parse_id(text: str) -> int:
    raw = text.strip().removeprefix("#")
    if raw.isdigit() and len(raw) > 9:
        raise CommitError(f"I can't find commitment #{raw[:12]}{'…' if len(raw) > 12 else ''}.")
    if not raw.isdigit():
        shown = text if len(text) <= 20 else text[:19] + "…"
        raise CommitError(f"`{shown}` is not a commitment number. Use the number shown as `#12`.")
    return int(raw)


def create(
    session: Session,
    *,
    actor: Actor,
    owners: Sequence[str],
    what: str,
    due: Due,
    indicator_id: int | None,
    channel_id: str | None,
    request_key: str | None,
    now: datetime,
) -> tuple[Commitment, bool]:
    """Store a new commitment; (existing, False) when this request was already handled."""
    if request_key:
        existing = find_by_request(session, actor.team_id, request_key)
        if existing is not None:
            return existing, False
    commitment = Commitment(
        team_id=actor.team_id,
        text=defuse_mentions(what),
        due_at=due.at,
        due_has_time=due.has_time,
        time_zone=str(due.at.tzinfo),
        created_at=now,
        creator_id=actor.user_id,
        channel_id=channel_id,
        indicator_id=indicator_id,
        request_key=request_key,
        next_check_at=now,
    )
    commitment.owners = [
        CommitmentOwner(user_id=owner, team_id=actor.team_id, position=i)
        for i, owner in enumerate(dict.fromkeys(owners))
    ]
    try:
        with session.begin_nested():
            session.add(commitment)
            session.flush()
    except IntegrityError:
        # The same request raced us from another thread or process: theirs stands.
        if request_key and (existing := find_by_request(session, actor.team_id, request_key)):
            return existing, False
        raise
    add_event(
        session,
        commitment,
        actor=actor.user_id,
        kind="created",
        at=now,
        due=due.at.isoformat(),
        owners=commitment.owner_ids,
    )
    return commitment, True


def load_for_change(session: Session, actor: Actor, commitment_id: int) -> Commitment:
    """The commitment, locked for update, if this actor may change it; else a clear refusal."""
    commitment = get_commitment(session, actor.team_id, commitment_id, lock=True)
    if commitment is None:
        raise CommitError(
            f"I can't find commitment #{commitment_id}. `/commit list all` shows the open ones."
        )
    if not may_change(commitment, actor):
        owners = ", ".join(f"<@{o}>" for o in commitment.owner_ids)
        raise CommitError(
            f"Only an owner ({owners}), whoever logged it (<@{commitment.creator_id}>) or a coalition "
            f"admin can change #{commitment.id}."
        )
    return commitment


def may_change(commitment: Commitment, actor: Actor) -> bool:
    return (
        actor.is_admin
        or actor.user_id == commitment.creator_id
        or actor.user_id in commitment.owner_ids
    )


def _require_open(commitment: Commitment) -> None:
    if commitment.status != CommitmentStatus.OPEN:
        when = format_due(commitment.closed_at) if commitment.closed_at else "earlier"
        raise CommitError(f"#{commitment.id} is already {commitment.status.value} ({when}).")


def _clean_note(text: str, *, required: str | None = None) -> str:
    note = defuse_mentions(" ".join(text.split()))
    if not note and required:
        raise CommitError(required)
    if len(note) > MAX_NOTE_CHARS:
        raise CommitError(
            f"That note is {len(note):,} characters; please keep it under {MAX_NOTE_CHARS:,}."
        )
    return note


def complete(
    session: Session, commitment: Commitment, *, actor: Actor, now: datetime, note: str = ""
) -> str:
    """Marks it done; returns the note as stored (cleaned), "" without one."""
    _require_open(commitment)
    note = _clean_note(note)
    commitment.status = CommitmentStatus.DONE
    commitment.closed_at = now
    commitment.next_check_at = None  # no more nudges
    add_event(
        session,
        commitment,
        actor=actor.user_id,
        kind="done",
        at=now,
        **({"note": note} if note else {}),
    )
    return note


def drop(
    session: Session, commitment: Commitment, *, actor: Actor, now: datetime, reason: str
) -> str:
    """Drops it; returns the reason as stored."""
    _require_open(commitment)
    reason = _clean_note(
        reason, required=f"Please say why: `/commit drop {commitment.id} <reason>`."
    )
    commitment.status = CommitmentStatus.DROPPED
    commitment.closed_at = now
    commitment.next_check_at = None
    add_event(session, commitment, actor=actor.user_id, kind="dropped", at=now, reason=reason)
    return reason


def move(
    session: Session, commitment: Commitment, *, actor: Actor, now: datetime, due: Due
) -> None:
    _require_open(commitment)
    if due.at == commitment.due_at:
        raise CommitError(
            f"#{commitment.id} is already due {format_due(due.at, has_time=due.has_time)}."
        )
    before = commitment.due_at
    commitment.due_at = due.at
    commitment.due_has_time = due.has_time
    commitment.due_version += 1  # nudges are keyed on this: a new date earns new reminders
    commitment.snoozed_until = None
    commitment.next_check_at = now  # the scheduler recomputes this commitment's nudges
    add_event(
        session,
        commitment,
        actor=actor.user_id,
        kind="moved",
        at=now,
        before=before.isoformat(),
        after=due.at.isoformat(),
    )


def add_note(
    session: Session, commitment: Commitment, *, actor: Actor, now: datetime, text: str
) -> str:
    note = _clean_note(
        text, required=f"Write the note after the number: `/commit note {commitment.id} <text>`."
    )
    add_event(session, commitment, actor=actor.user_id, kind="noted", at=now, note=note)
    return note


def snooze(
    session: Session, commitment: Commitment, *, actor: Actor, now: datetime, days: int
) -> datetime:
    _require_open(commitment)
    if not 1 <= days <= 30:
        raise CommitError("Snooze for 1 to 30 days.")
    until = now + timedelta(days=days)
    commitment.snoozed_until = until
    commitment.next_check_at = now
    add_event(
        session, commitment, actor=actor.user_id, kind="snoozed", at=now, until=until.isoformat()
    )
    return until
