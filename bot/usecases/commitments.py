"""What people can do with commitments: make one, change it, list them, and the trail it leaves.

Every change writes one event to the append-only log. The caller opens the session and owns the
transaction; nothing here commits it, and nothing here speaks to Slack (people are looked up
before the transaction opens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.commit_parser import (
    MAX_OWNERS,
    CommitDraft,
    CommitTextError,
    ListFilter,
    ParsedCommit,
    move_phrase,
    read_commit,
    snooze_days,
    too_many_owners_message,
)
from bot.core.dates import Due, format_due, parse_due
from bot.core.deadlines import local_due
from bot.core.nudge_rules import Rules, team_holidays
from bot.core.text import mention, plain, safe, zone_name
from bot.usecases.indicators import visible_indicators
from bot.usecases.meetings import next_meeting
from storage.models import (
    Commitment,
    CommitmentEvent,
    CommitmentIndicator,
    CommitmentOwner,
    CommitmentStatus,
    Indicator,
    Person,
    Team,
)
from storage.repositories import (
    add_event,
    count_closed_since,
    count_open,
    ensure_team,
    find_by_request,
    get_commitment,
    get_person,
    open_commitments,
)

MAX_NOTE_CHARS = 2000


class CommitError(Exception):
    """A refusal to show the user, as is."""


class UnknownIndicator(CommitError):
    """A `#tag` (or the form's choice) that names no indicator visible where it would be posted."""


@dataclass(frozen=True)
class Actor:
    team_id: str
    user_id: str
    is_admin: bool = False

    @classmethod
    def of(cls, person: Person) -> Actor:
        return cls(person.team_id, person.user_id, person.is_admin or person.is_slack_admin)


def store_new(
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
        text=what,  # the words as people read them; `safe` escapes them for Slack
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
        owners = ", ".join(mention(o) for o in commitment.owner_ids)
        raise CommitError(
            f"Only an owner ({owners}), whoever logged it ({mention(commitment.creator_id)}) or a coalition "
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
    """The words as people read them: a command's Slack escaping is undone (a form's text has
    none), and `safe` escapes them again on their way back to Slack."""
    note = " ".join(plain(text).split())
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


# --- making one: the slash command and the form share this path -------------------------------


@dataclass(frozen=True)
class Created:
    commitment: Commitment
    is_new: bool  # False: a retry of a request already handled
    indicator: str | None  # the first linked indicator's slug (the one its messages show)
    unlinked_tags: tuple[str, ...] = ()  # `#tags` that name no indicator here: not linked
    also_linked: tuple[str, ...] = ()  # the slugs of the other indicators its `#tags` linked
    day_off: DayOff | None = None  # due on a day off: the next working day, to offer instead


def create_commitment(
    session: Session,
    *,
    actor: Actor,
    readings: Sequence[CommitDraft],
    channel_id: str | None,
    request_key: str | None,
    default_zone: str,
    now: datetime,
) -> Created:
    """Make a commitment from what someone asked for: a `/commit` line's readings (best first)
    or the form's one. Dates are read in the first owner's zone, else the coalition's, else the
    configured default, so the same words give the same due date from either door.

    Owners (default: the actor) must already be known: look them up before the transaction.
    At most MAX_OWNERS (the slash command and the form refuse more before asking Slack).
    """
    owners = list(dict.fromkeys(readings[0].owners)) or [actor.user_id]
    if len(owners) > MAX_OWNERS:
        raise CommitError(too_many_owners_message(len(owners)))
    zone = owner_zone(session, actor.team_id, owners[0], default=default_zone)
    parsed = read_commit(
        readings,
        now=now,
        tz=zone,
        next_meeting=next_meeting(session, actor.team_id, channel_id, now=now),
    )
    linked, unlinked = _linked_indicators(session, actor.team_id, channel_id, parsed)
    commitment, is_new = store_new(
        session,
        actor=actor,
        owners=owners,
        what=parsed.what,
        due=parsed.due,
        indicator_id=linked[0].id if linked else None,
        channel_id=channel_id,
        request_key=request_key,
        now=now,
    )
    if is_new:
        for position, indicator in enumerate(linked):
            session.add(
                CommitmentIndicator(
                    commitment_id=commitment.id,
                    indicator_id=indicator.id,
                    team_id=actor.team_id,
                    position=position,
                )
            )
    return Created(
        commitment,
        is_new,
        linked[0].slug if linked else None,
        unlinked_tags=unlinked,
        day_off=day_off(session, actor.team_id, parsed.due.at.date()),
        also_linked=tuple(i.slug for i in linked[1:]),
    )


def _linked_indicators(
    session: Session, team_id: str, channel_id: str | None, parsed: ParsedCommit
) -> tuple[list[Indicator], tuple[str, ...]]:
    """Every `#tag` that names an indicator visible here links it (each once, in order); the
    others are returned to be pointed out. The first tag must name one: a commitment whose
    linking tag is a typo is refused (nothing saved), as always."""
    if not parsed.indicator:
        return [], ()
    known = visible_indicators(session, team_id, channel_id)
    linked, unlinked = [_tagged(known, parsed.indicator)], []
    for tag in parsed.tags:
        if tag == parsed.indicator:
            continue
        try:
            indicator = _tagged(known, tag)
        except UnknownIndicator:
            unlinked.append(tag)
            continue
        if all(indicator.id != known.id for known in linked):
            linked.append(indicator)
    return linked, tuple(unlinked)


@dataclass(frozen=True)
class DayOff:
    """A due day that is not one of the team's working days: the next one that is, to offer
    instead, and the holiday's name when it is one (None: a weekend or other day off)."""

    working_day: date
    holiday: str | None


def day_off(session: Session, team_id: str, day: date) -> DayOff | None:
    """None when the due day (in the commitment's zone) is a working day, or the team has no
    working days set."""
    team = session.get(Team, team_id)
    rules = Rules.of(team) if team is not None else Rules()
    if not rules.working_days or rules.is_working_day(day):
        return None
    after = rules.working_day_after(day)
    if after is None:
        return None
    return DayOff(after, team_holidays(team).get(day) if team is not None else None)


def owner_zone(session: Session, team_id: str, user_id: str, *, default: str) -> str:
    """The zone a commitment's dates are read in: the owner's, the coalition's, the default."""
    person = get_person(session, team_id, user_id)
    team = session.get(Team, team_id)
    return zone_name(
        person.time_zone if person else None, team.time_zone if team else None, default
    )


def _tagged(known: Sequence[Indicator], tag: str) -> Indicator:
    """The indicator a `#tag` names among those visible here (`known`: an indicator restricted
    to other channels does not exist here, as for `/indicator`): its slug or an alias, else the
    one slug it starts."""
    wanted = tag.lower().replace("_", "-")
    for indicator in known:
        names = [indicator.slug, *(a.lower().replace(" ", "-") for a in indicator.aliases or [])]
        if wanted in names:
            return indicator
    starts = [i for i in known if i.slug.startswith(wanted)]
    if len(starts) == 1:
        return starts[0]
    if len(starts) > 1:
        named = ", ".join(f"#{i.slug}" for i in starts[:5])
        raise UnknownIndicator(
            f"#{safe(tag, 60)} starts more than one indicator ({named}): write more of it. "
            "Nothing was saved."
        )
    choices = ", ".join(f"#{i.slug}" for i in known[:10]) or "none yet (`/indicator list`)"
    raise UnknownIndicator(
        f"I don't know the indicator #{safe(tag, 60)}. Known indicators: {choices}. Nothing was saved."
    )


def indicator_choices(
    session: Session, team_id: str, channel_id: str | None
) -> list[tuple[str, str]]:
    """(slug, name) of the indicators the form may link, those visible in this channel."""
    return [(i.slug, i.name) for i in visible_indicators(session, team_id, channel_id)]


# --- changing one -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    answer: str  # what the person who changed it is told
    commitment: Commitment
    note: str = ""  # the note or reason as stored (cleaned), "" without one
    day_off: DayOff | None = None  # moved to a day off: the next working day, to offer instead


def apply_change(
    session: Session,
    actor: Actor,
    verb: str,
    commitment_id: int,
    rest: str,
    *,
    now: datetime,
    request: str | None = None,
) -> Change:
    """One change by one person, with its answer; shared by commands, buttons and forms.

    `request` names the request that asks for it (a click, a command, a form): the change is
    made once per request. The same request again (a job run again after a crash) changes
    nothing and gets the first answer, not "it is already done"."""
    commitment = load_for_change(session, actor, commitment_id)
    if request:
        earlier = session.scalars(
            select(CommitmentEvent)
            .where(
                CommitmentEvent.commitment_id == commitment.id,
                CommitmentEvent.request == request,
            )
            .limit(1)
        ).first()
        if earlier is not None:
            note = (earlier.detail or {}).get("note") or (earlier.detail or {}).get("reason")
            return _with_day_off(
                session, verb, Change(earlier.answer or "", commitment, str(note or ""))
            )
    session.flush()
    before = set(session.identity_map.values())
    change = _with_day_off(session, verb, _change(session, actor, verb, commitment, rest, now=now))
    if request:
        # The events this change wrote (in this session: nobody else's) carry its request.
        for written in [*session.new, *session.identity_map.values()]:
            if (
                isinstance(written, CommitmentEvent)
                and written not in before
                and written.actor_id == actor.user_id
            ):
                written.request = request[:300]
                written.answer = change.answer
    return change


def _with_day_off(session: Session, verb: str, change: Change) -> Change:
    """A move to a day off is pointed out, as a new commitment's is (also when a request is
    answered again: its first answer is stored, the remark is worked out anew)."""
    if verb != "move" or change.commitment.status != CommitmentStatus.OPEN:
        return change
    day = local_due(change.commitment).date()
    return replace(change, day_off=day_off(session, change.commitment.team_id, day))


def _change(
    session: Session, actor: Actor, verb: str, commitment: Commitment, rest: str, *, now: datetime
) -> Change:
    if verb == "done":
        note = complete(session, commitment, actor=actor, now=now, note=rest)
        with_note = f", with the note “{safe(note)}”" if note else ""
        return Change(f"✅ #{commitment.id} is done{with_note}. Thank you!", commitment, note)
    if verb == "drop":
        reason = drop(session, commitment, actor=actor, now=now, reason=rest)
        return Change(f"✖️ #{commitment.id} was dropped: “{safe(reason)}”.", commitment, reason)
    if verb == "move":
        phrase = move_phrase(rest)  # "to next Tuesday" is "next Tuesday"
        if not phrase:
            raise CommitError(f"To when? e.g. `/commit move {commitment.id} next Friday`.")
        due = parse_due(phrase, now=now, tz=commitment.time_zone)
        move(session, commitment, actor=actor, now=now, due=due)
        when = format_due(due.at, has_time=due.has_time)
        return Change(f"📅 #{commitment.id} is now due {when}.", commitment)
    if verb == "note":
        note = add_note(session, commitment, actor=actor, now=now, text=rest)
        return Change(f"📝 Note added to #{commitment.id}: “{safe(note)}”.", commitment, note)
    if verb == "snooze":
        try:
            days = snooze_days(rest, commitment.id)
        except CommitTextError as error:
            raise CommitError(str(error)) from error
        until = snooze(session, commitment, actor=actor, now=now, days=days)
        local = until.astimezone(ZoneInfo(commitment.time_zone))
        return Change(
            f"💤 Reminders for #{commitment.id} are paused until {format_due(local)}.", commitment
        )
    raise CommitError(f"I don't know how to `{verb}` a commitment.")


# --- reading them -------------------------------------------------------------------------------


def find(session: Session, team_id: str, commitment_id: int) -> Commitment | None:
    """A commitment of this team only: another workspace's number is simply not found."""
    return get_commitment(session, team_id, commitment_id)


def indicator_slug(session: Session, commitment: Commitment) -> str | None:
    """The `#tag` its messages show, if it is linked to an indicator."""
    if not commitment.indicator_id:
        return None
    found = session.get(Indicator, commitment.indicator_id)
    return found.slug if found else None


def record_message(session: Session, commitment: Commitment, ts: str) -> None:
    """Remember the channel message, so later changes update it in place."""
    stored = get_commitment(session, commitment.team_id, commitment.id)
    if stored is not None:
        stored.message_ts = ts


def register_team(session: Session, team_id: str, *, default_zone: str, now: datetime) -> None:
    """A workspace's first use stores its row, in the configured zone until an admin sets one."""
    ensure_team(session, team_id, time_zone=default_zone, now=now)


@dataclass(frozen=True)
class Listed:
    items: Sequence[Commitment]  # at most the limit asked for, soonest due first
    total: int
    team_known: bool  # False: the workspace's first use (see `register_team`)


def list_open(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    wanted: ListFilter,
    limit: int,
    now: datetime,
) -> Listed:
    """What `/commit list …` shows: mine, someone's or everyone's open (or overdue) ones.
    Reads only."""
    owner: str | None = wanted.person or (None if wanted.everyone else user_id)
    overdue_at = now if wanted.overdue else None
    items = open_commitments(session, team_id, owner=owner, overdue_at=overdue_at, limit=limit)
    return Listed(
        items,
        count_open(session, team_id, owner=owner, overdue_at=overdue_at),
        team_known=session.get(Team, team_id) is not None,
    )


@dataclass(frozen=True)
class Home:
    """What App Home shows one person: their open commitments, and how the coalition is doing."""

    mine: Sequence[Commitment]  # soonest due first, so overdue ones lead
    my_total: int
    team_open: int
    team_overdue: int
    team_done_week: int
    team_known: bool  # False: the workspace's first use (see `register_team`)


def home(session: Session, *, team_id: str, user_id: str, limit: int, now: datetime) -> Home:
    """Reads only."""
    return Home(
        mine=open_commitments(session, team_id, owner=user_id, limit=limit),
        my_total=count_open(session, team_id, owner=user_id),
        team_open=count_open(session, team_id),
        team_overdue=count_open(session, team_id, overdue_at=now),
        team_done_week=count_closed_since(session, team_id, now - timedelta(days=7)),
        team_known=session.get(Team, team_id) is not None,
    )
