"""Publishing App Home: read what it shows (no write lock), then ask Slack."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.slack.blocks.home import MAX_HOME_ITEMS, build_home
from bot.usecases import commitments

logger = logging.getLogger(__name__)


def publish_home(services: Services, client: WebClient, team_id: str, user_id: str) -> None:
    """Show this person their open commitments; a refusal from Slack is logged, not raised."""
    now = services.clock()
    with services.sessions() as session:
        home = commitments.home(
            session, team_id=team_id, user_id=user_id, limit=MAX_HOME_ITEMS, now=now
        )
    if not home.team_known:
        with services.sessions.begin() as session:
            commitments.register_team(
                session, team_id, default_zone=services.settings.timezone, now=now
            )
    view = build_home(
        home.mine,
        my_total=home.my_total,
        now=now,
        team_open=home.team_open,
        team_overdue=home.team_overdue,
        team_done_week=home.team_done_week,
    )
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        logger.warning(
            "could not publish App Home for %s: %s", user_id, error.response.get("error")
        )
