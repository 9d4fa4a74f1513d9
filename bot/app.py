"""The Bolt app factory: settings and services in, a ready `App` out."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.error import BoltError

import handlers
from bot.config import ConfigError
from bot.dates import warm_up
from bot.services import Services
from bot.slack_client import make_client

logger = logging.getLogger(__name__)


def create_app(services: Services, *, workers: int = 8) -> App:
    settings = services.settings
    settings.require("slack_bot_token", "slack_signing_secret")
    assert settings.slack_signing_secret is not None  # for mypy; require() checked it
    try:
        app = App(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            client=make_client(settings),
            logger=logging.getLogger("commstat.bolt"),
            listener_executor=ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="listener"
            ),
        )
    except BoltError as exc:
        # Bolt checks the token with auth.test on start; say which setting is wrong, not its value.
        reason = "Slack could not be reached" if "auth.test" not in str(exc) else "Slack refused it"
        raise ConfigError(
            f"SLACK_BOT_TOKEN was not accepted: {reason} (SLACK_API_URL={settings.slack_api_url})"
        ) from None
    handlers.register(app, services)
    warm_up()  # dateparser's first parse takes ~0.3 s: pay it at start, not in someone's command
    return app
