"""The composition root of the Slack side: the Bolt app with CommStat's listeners registered."""

from __future__ import annotations

from slack_bolt import App

import handlers
from bot.bootstrap import Services
from bot.slack.app import build_app


def create_app(services: Services, *, workers: int = 8, socket_mode: bool = False) -> App:
    """Token mode (one workspace, SLACK_BOT_TOKEN) unless SLACK_CLIENT_ID is set (OAuth mode)."""
    return build_app(services, register=handlers.register, workers=workers, socket_mode=socket_mode)
