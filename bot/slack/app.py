"""The Bolt app: settings and services in, a ready `App` out, with the listeners it is given.

The listeners (`handlers.register`) are passed in by the composition root, `bot.app`, so this
package never imports `handlers` (the layers only import downward)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.error import BoltError

from bot.bootstrap import Services
from bot.config import ConfigError
from bot.core import charts
from bot.core.dates import warm_up
from bot.slack.web_client import make_client

logger = logging.getLogger(__name__)

Register = Callable[[App, Services], None]
"""Adds the listeners to a new app (`handlers.register`)."""


def build_app(
    services: Services, *, register: Register, workers: int = 8, socket_mode: bool = False
) -> App:
    """Token mode (one workspace, SLACK_BOT_TOKEN) unless SLACK_CLIENT_ID is set (OAuth mode:
    each workspace's token comes from its installation). Socket Mode needs no signing secret:
    Slack authenticates the WebSocket itself."""
    settings = services.settings
    if settings.oauth_enabled:
        app = _oauth_app(services, workers=workers, socket_mode=socket_mode)
        register(app, services)
        warm_up()
        charts.warm_up()
        return app
    settings.require("slack_bot_token", *(() if socket_mode else ("slack_signing_secret",)))
    signing_secret = settings.slack_signing_secret
    try:
        app = App(
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            request_verification_enabled=not socket_mode,
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
    register(app, services)
    warm_up()  # dateparser's first parse takes ~0.3 s: pay it at start, not in someone's command
    charts.warm_up()  # matplotlib's font cache and first PNG: same, for /indicator's chart
    return app


def _oauth_app(services: Services, *, workers: int, socket_mode: bool) -> App:
    """Bolt with slack_sdk's installation store: it serves /slack/install and
    /slack/oauth_redirect, and finds the right workspace's token for every request."""
    from bot.slack.oauth import oauth_settings

    settings = services.settings
    settings.require("slack_client_secret", *(() if socket_mode else ("slack_signing_secret",)))
    store = services.installation_store
    if store is None:  # bootstrap() builds it in OAuth mode; a hand-built Services may not
        from bot.slack.oauth import installation_store

        store = services.installation_store = installation_store(settings, services.engine)
    signing_secret = settings.slack_signing_secret
    return App(
        signing_secret=signing_secret.get_secret_value() if signing_secret else "",
        request_verification_enabled=not socket_mode,
        # No fixed token: Bolt hands each listener a client with that workspace's token.
        client=make_client(settings.model_copy(update={"slack_bot_token": None})),
        logger=logging.getLogger("commstat.bolt"),
        installation_store=store,
        oauth_settings=oauth_settings(settings, store, services.engine),
        listener_executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="listener"),
    )
