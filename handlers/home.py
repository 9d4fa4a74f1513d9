"""App Home: my open commitments, overdue first, and how the coalition is doing."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.slack.blocks import commitments as blocks
from storage import repositories as repo

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(services, client, body["team_id"], event["user"])


def publish_home(services: Services, client: WebClient, team_id: str, user_id: str) -> None:
    now = services.clock()
    with services.sessions.begin() as session:
        repo.ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
        mine = repo.open_commitments(session, team_id, owner=user_id, limit=blocks.MAX_HOME_ITEMS)
        view = blocks.build_home(
            mine,
            my_total=repo.count_open(session, team_id, owner=user_id),
            now=now,
            team_open=repo.count_open(session, team_id),
            team_overdue=repo.count_open(session, team_id, overdue_at=now),
            team_done_week=repo.count_closed_since(session, team_id, now - timedelta(days=7)),
        )
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        logger.warning(
            "could not publish App Home for %s: %s", user_id, error.response.get("error")
        )
