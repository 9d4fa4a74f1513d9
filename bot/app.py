"""The composition root of the Slack side: the Bolt app with CommStat's listeners registered."""

from __future__ import annotations

from slack_bolt import App

import handlers
from bot.bootstrap import Services
from bot.slack.app import build_app


def create_app(services: Services, *, workers: int = 8, socket_mode: bool = False) -> App:
    """The app that answers Slack: it stores each request as a job and acknowledges it.
    Token mode (one workspace, SLACK_BOT_TOKEN) unless SLACK_CLIENT_ID is set (OAuth mode)."""
    return build_app(services, register=handlers.register, workers=workers, socket_mode=socket_mode)


def create_worker_app(services: Services, *, socket_mode: bool = False) -> App:
    """The app that carries out stored jobs (bot.slack.worker.Worker), with the same listeners."""
    return build_app(
        services, register=handlers.register, role="worker", workers=1, socket_mode=socket_mode
    )
