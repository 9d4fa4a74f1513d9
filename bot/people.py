"""Who someone is and which time zone they live in, from Slack, cached in the database."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from storage.models import Person
from storage.repositories import get_person, save_person

logger = logging.getLogger(__name__)
CACHE_FOR = timedelta(hours=24)


class UnknownPerson(Exception):
    """Slack says there is no such user in this workspace."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


def _valid_zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def lookup(
    session: Session, client: WebClient, team_id: str, user_id: str, *, now: datetime
) -> Person:
    """The person, refreshed from `users.info` at most once a day.

    If Slack is unavailable we carry on with what we know (or the team's default zone): a nudge
    time slightly off is better than a refused commitment.
    """
    person = get_person(session, team_id, user_id)
    if person is not None and person.refreshed_at and now - person.refreshed_at < CACHE_FOR:
        return person
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "users_not_found"):
            raise UnknownPerson(user_id) from None
        logger.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
        return person or save_person(session, team_id, user_id)
    if user.get("deleted"):
        raise UnknownPerson(user_id)
    profile = user.get("profile") or {}
    return save_person(
        session,
        team_id,
        user_id,
        display_name=profile.get("display_name") or user.get("real_name") or user.get("name"),
        time_zone=_valid_zone(user.get("tz")),
        is_slack_admin=bool(user.get("is_admin") or user.get("is_owner")),
        refreshed_at=now,
    )
