"""Uninstall: when a workspace removes CommStat, forget everything we hold about it.

Slack sends `app_uninstalled` when the app is removed, and `tokens_revoked` when its tokens are
revoked (the bot token among them means the same for us: we can no longer act there). Bolt skips
its auth.test for these two events, since the token is already dead. Both are idempotent: Slack
may retry, and a second delete finds nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.bootstrap import Services
from bot.slack.jobs import ack_now
from bot.usecases.uninstall import forget_team

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def on_app_uninstalled(context: BoltContext) -> None:
        _forget(services, context, "app_uninstalled")

    def on_tokens_revoked(event: dict[str, Any], context: BoltContext) -> None:
        if not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens: we never use those, the bot still works
        _forget(services, context, "tokens_revoked")

    app.event("app_uninstalled")(ack=ack_now, lazy=[on_app_uninstalled])
    app.event("tokens_revoked")(ack=ack_now, lazy=[on_tokens_revoked])


def _forget(services: Services, context: BoltContext, why: str) -> None:
    team_id = context.team_id
    if not team_id:
        logger.warning("%s without a team id; nothing deleted", why)
        return
    with services.sessions.begin() as session:
        deleted = forget_team(session, team_id)
    logger.info(
        "%s: deleted team %s's data (%s)",
        why,
        team_id,
        ", ".join(f"{n} {table}" for table, n in sorted(deleted.items())) or "nothing stored",
    )
