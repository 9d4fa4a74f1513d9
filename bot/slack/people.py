"""Who someone is and which time zone they live in, from Slack, cached in the database."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core.text import valid_zone
from bot.usecases.commitments import Actor
from storage.models import Person
from storage.repositories import ensure_team, get_person, save_person

logger = logging.getLogger(__name__)
CACHE_FOR = timedelta(hours=24)


class UnknownPerson(Exception):
    """Slack says there is no such user in this workspace."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


def lookup(
    session: Session, client: WebClient, team_id: str, user_id: str, *, now: datetime
) -> Person:
    """The person, refreshed from `users.info` at most once a day, inside the caller's session.

    Prefer `refresh_people` / `actor_for`, which ask Slack before any transaction opens.

    If Slack is unavailable we carry on with what we know (or the team's default zone): a nudge
    time slightly off is better than a refused commitment.
    """
    person = get_person(session, team_id, user_id)
    if person is not None and person.refreshed_at and now - person.refreshed_at < CACHE_FOR:
        return person
    answer = _ask(client, user_id)
    if not answer.known:
        raise UnknownPerson(user_id)
    if not answer.asked:
        return person or save_person(session, team_id, user_id)
    return save_person(
        session,
        team_id,
        user_id,
        display_name=answer.display_name,
        time_zone=answer.time_zone,
        is_slack_admin=answer.is_slack_admin,
        refreshed_at=now,
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


def _ask(client: WebClient, user_id: str) -> _Answer:
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "users_not_found"):
            return _Answer(user_id, known=False)
        logger.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
        return _Answer(user_id)
    if user.get("deleted"):
        return _Answer(user_id, known=False)
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
    Slack says does not exist (or was deactivated); nothing is stored for them.
    """
    now = services.clock()
    wanted = list(dict.fromkeys(user_ids))
    with services.sessions() as session:
        fresh = {
            user_id
            for user_id in wanted
            if (person := get_person(session, team_id, user_id)) is not None
            and person.refreshed_at
            and now - person.refreshed_at < CACHE_FOR
        }
    answers = [_ask(client, user_id) for user_id in wanted if user_id not in fresh]
    with services.sessions.begin() as session:
        ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
        for answer in answers:
            if not answer.known:
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
            )
    unknown = next((a.user_id for a in answers if not a.known), None)
    if unknown is not None:
        raise UnknownPerson(unknown)


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
