"""App Home: my open commitments, overdue first, and how the coalition is doing."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.bootstrap import Services
from bot.slack.home import publish_home
from bot.slack.jobs import ack_now


def register(app: App, services: Services) -> None:
    def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(services, client, body["team_id"], event["user"])

    app.event("app_home_opened")(ack=ack_now, lazy=[on_home_opened])
