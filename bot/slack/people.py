"""Who someone is and which time zone they live in, from Slack, cached in the database.

Also whether the bot can reach them: the outbox marks someone unreachable when Slack refuses a
direct message to them (`Person.unreachable_since`: deactivated, gone), and the scheduler plans
nothing for them from then on. They are reachable again as soon as Slack says they are active:
`users.info` (which is asked about them whatever the cache says, and again once a day by
`recheck_unreachable`) answers without `deleted`, or they use the bot themselves (`heard_from`,
for every job a worker runs: a signed request from them proves the account works).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core.text import valid_zone
from bot.usecases.commitments import Actor
from storage.models import Person
from storage.repositories import (
    ensure_team,
    get_person,
    mark_reachable,
    mark_unreachable,
    save_person,
)

logger = logging.getLogger(__name__)
CACHE_FOR = timedelta(hours=24)
RECHECK_LIMIT = 20  # unreachable people asked about again in one pass


class UnknownPerson(Exception):
    """Slack says there is no such user in this workspace."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


# What an answer from users.info of an active account clears.
_REACHABLE: dict[str, None] = {"unreachable_since": None, "unreachable_reason": None}


def _fresh(person: Person | None, now: datetime) -> bool:
    """Known well enough not to ask Slack again: looked up within a day, and reachable (someone
    the bot could not reach is asked about every time: their account may be back)."""
    return (
        person is not None
        and person.unreachable_since is None
        and person.refreshed_at is not None
        and now - person.refreshed_at < CACHE_FOR
    )


@dataclass(frozen=True)
class _Answer:
    """What `users.info` said about one person (None fields: Slack could not be asked)."""

    user_id: str
    known: bool = True
    display_name: str | None = None
    time_zone: str | None = None
    is_slack_admin: bool = False
    asked: bool = False
    deleted: bool = False  # known to Slack, and deactivated


def _ask(client: WebClient, user_id: str) -> _Answer:
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "users_not_found"):
            return _Answer(user_id, known=False)
        logger.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
        return _Answer(user_id)
    if user.get("deleted"):
        return _Answer(user_id, known=False, deleted=True)
    profile = user.get("profile") or {}
    return _Answer(
        user_id,
        display_name=profile.get("display_name") or user.get("real_name") or user.get("name"),
        time_zone=valid_zone(user.get("tz")),
        is_slack_admin=bool(user.get("is_admin") or user.get("is_owner")),
        asked=True,
    )


def refresh_people(
    services: Services, client: WebClient, team_id: str, user_ids: Sequence[str]
) -> None:
    """Bring these people up to date from Slack, asking it with no transaction open.

    Call it before the handler's own transaction: on SQLite a write transaction holds the only
    write lock, and a slow `users.info` inside one would hold back every other command. The
    team row is created on a workspace's first use. Raises UnknownPerson for the first person
    Slack says does not exist (or was deactivated). Someone deactivated is stored as unreachable
    (no reminder is tried for them), someone unreachable and gone stays so, and the time they
    were asked is kept, so that `recheck_unreachable` asks again only a day later. An answer
    about an active account makes its person reachable again.
    """
    now = services.clock()
    wanted = list(dict.fromkeys(user_ids))
    with services.sessions() as session:
        fresh = {
            user_id for user_id in wanted if _fresh(get_person(session, team_id, user_id), now)
        }
    answers = [_ask(client, user_id) for user_id in wanted if user_id not in fresh]
    with services.sessions.begin() as session:
        ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
        for answer in answers:
            if not answer.known:
                _not_active(session, team_id, answer, now=now)
                continue
            if not answer.asked:
                save_person(session, team_id, answer.user_id)
                continue
            save_person(
                session,
                team_id,
                answer.user_id,
                display_name=answer.display_name,
                time_zone=answer.time_zone,
                is_slack_admin=answer.is_slack_admin,
                refreshed_at=now,
                **_REACHABLE,
            )
    unknown = next((a.user_id for a in answers if not a.known), None)
    if unknown is not None:
        raise UnknownPerson(unknown)


def _not_active(session: Session, team_id: str, answer: _Answer, *, now: datetime) -> None:
    """users.info said this person is deactivated (they are stored as unreachable, so no reminder
    is ever tried), or not in the workspace (only someone already unreachable stays so: a guest
    from another organisation may be missing from users.info and still be reachable)."""
    if answer.deleted:
        mark_unreachable(session, team_id, answer.user_id, reason="user_disabled", since=now)
    person = get_person(session, team_id, answer.user_id)
    if person is not None and person.unreachable_since is not None:
        person.refreshed_at = now  # asked: `recheck_unreachable` waits a day before asking again


def recheck_unreachable(services: Services, *, limit: int = RECHECK_LIMIT) -> int:
    """Ask Slack again, once a day each, about the people the bot could not reach, so that an
    account turned back on gets its reminders again from its next reminder day even if its
    owner never uses the bot. Asks with no transaction open; returns how many were asked."""
    now = services.clock()
    with services.sessions.begin() as session:
        # The longest-unasked first, and stamped as asked before asking: a workspace that is
        # uninstalled, or a users.info that keeps failing, waits a day like any other answer
        # instead of taking the same places at every pass while nobody else is asked.
        due = session.execute(
            select(Person.team_id, Person.user_id)
            .where(
                Person.unreachable_since.is_not(None),
                or_(Person.refreshed_at.is_(None), Person.refreshed_at <= now - CACHE_FOR),
            )
            .order_by(Person.refreshed_at.asc().nulls_first(), Person.team_id, Person.user_id)
            .limit(limit)
        ).all()
        for team_id, user_id in due:
            session.execute(
                update(Person)
                .where(Person.team_id == team_id, Person.user_id == user_id)
                .values(refreshed_at=now)
            )
    by_team: dict[str, list[str]] = defaultdict(list)
    for team_id, user_id in due:
        by_team[str(team_id)].append(str(user_id))
    for team_id, user_ids in by_team.items():
        try:
            refresh_people(services, services.client_for(team_id), team_id, user_ids)
        except UnknownPerson:
            pass  # still deactivated or gone: asked again in a day
        except Exception:  # NotInstalled, Slack down: asked again at the next pass
            logger.warning("could not ask Slack about the unreachable people of team %s", team_id)
    return len(due)


def actor_for(services: Services, client: WebClient, team_id: str, user_id: str) -> Actor:
    """Who is acting, with their rights: looked up (and stored) before any transaction opens.

    Someone Slack does not know is still allowed to act as a plain member: the request is signed
    by Slack, so the user exists even when `users.info` disagrees for a moment.
    """
    try:
        refresh_people(services, client, team_id, [user_id])
    except UnknownPerson:
        with services.sessions.begin() as session:
            save_person(session, team_id, user_id)
    with services.sessions() as session:
        person = get_person(session, team_id, user_id)
        assert person is not None  # stored just above
        return Actor.of(person)


def heard_from(services: Services, team_id: str | None, user_id: Any) -> None:
    """A signed request from this person (a command, a click, a form; an event's sender, such as
    a file's in their DM, is not read here, but its handler's `actor_for` asks `users.info`):
    their account works, so the bot can reach them again. One read; a write only for someone
    marked unreachable. Best effort: never fails the request it comes with."""
    if not team_id or not isinstance(user_id, str) or not user_id:
        return
    try:
        with services.sessions() as session:
            person = get_person(session, team_id, user_id)
            if person is None or person.unreachable_since is None:
                return
        with services.sessions.begin() as session:
            if mark_reachable(session, team_id, user_id):
                logger.info("%s of team %s used the bot: reachable again", user_id, team_id)
    except Exception:
        logger.exception("could not mark %s of team %s reachable", user_id, team_id)
