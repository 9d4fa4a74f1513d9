"""Bootstrap: the one place that assembles the bot's dependencies from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.slack.web_client import make_client
from storage.db import make_engine, make_session_factory, upgrade

if TYPE_CHECKING:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)  # now-ok: the one real clock; everything else is handed `clock`


class NotInstalled(Exception):
    """No bot token is known for this Slack team (never installed, or uninstalled)."""


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default=system_clock)
    # Scheduled work has no incoming request to borrow a token from: it asks for each team's
    # client here. Token mode: the one SLACK_BOT_TOKEN; OAuth mode replaces this lookup.
    token_for: Callable[[str], str | None] | None = None
    # OAuth mode only: where Bolt keeps each workspace's installation (see bot/slack/oauth.py).
    installation_store: SQLAlchemyInstallationStore | None = None
    _clients: dict[str, WebClient] = field(default_factory=dict, repr=False)

    def client_for(self, team_id: str) -> WebClient:
        """The outbound Slack client for one team; raises NotInstalled when there is no token."""
        if self.token_for is not None:
            token = self.token_for(team_id)
        elif self.settings.slack_bot_token is not None:
            token = self.settings.slack_bot_token.get_secret_value()
        else:
            token = None
        if not token:
            raise NotInstalled(team_id)
        client = self._clients.get(token)
        if client is None:
            client = self._clients[token] = make_client(self.settings, token=token)
        return client


def bootstrap(settings: Settings, *, clock: Clock = system_clock, migrate: bool = True) -> Services:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    services = Services(
        settings=settings, engine=engine, sessions=make_session_factory(engine), clock=clock
    )
    if settings.oauth_enabled:
        from bot.slack.oauth import bot_token_lookup, installation_store

        services.installation_store = installation_store(settings, engine)
        services.token_for = bot_token_lookup(services.installation_store)
    return services
