"""Socket Mode: the bot connects out to Slack over a WebSocket, so it needs no public URL.

Good for a coalition that runs CommStat behind a firewall or on a laptop. Bolt's
`SocketModeHandler` (slack_sdk's built-in client: no extra dependency) asks the Web API's
`apps.connections.open` for a WebSocket URL with the app-level token (SLACK_APP_TOKEN, `xapp-…`),
then receives commands, clicks and events over it and acknowledges each one there. Everything
else (listeners, database, outbound Web API calls) is the same app as in HTTP mode.

Envelopes are not signed one by one (Slack authenticates the connection), so the app's
`RequestGate` (bot.slack.app) is what stands between a payload and the listeners, as over
HTTP. A payload it refuses (or one Bolt cannot read at all) is still acknowledged, with nothing
done, so Slack does not send it again; it is logged.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.config import ConfigError, Settings

logger = logging.getLogger(__name__)

# A message about the token, not a token (hence the noqa for ruff's password check).
APP_TOKEN_MISSING = (
    "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with "  # noqa: S105
    "connections:write; create it under Basic Information → App-Level Tokens"
)


def app_token(settings: Settings) -> str:
    """The app-level token, or one line saying what to create and where."""
    if settings.slack_app_token is None:
        raise ConfigError(APP_TOKEN_MISSING)
    token = settings.slack_app_token.get_secret_value().strip()
    if not token.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- (a bot token starts "
            "with xoxb- and goes in SLACK_BOT_TOKEN); create one under Basic Information → "
            "App-Level Tokens"
        )
    return token


class GatedSocketModeHandler(SocketModeHandler):
    """Bolt's handler, except that a payload refused or unreadable is acknowledged (nothing
    done) instead of left for Slack to send again, and never raises in the SDK's thread."""

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        start = time.time()
        try:
            request = BoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))
        except Exception as error:  # a payload Bolt cannot read: not one Slack sends
            logger.warning("refused a Socket Mode %s envelope: %s", req.type, type(error).__name__)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        response = self.app.dispatch(request)
        if 400 <= response.status < 500:
            logger.warning("refused a Socket Mode %s envelope (%s)", req.type, response.status)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        send_response(client, req, response, start)


def connect(app: App, settings: Settings) -> SocketModeHandler:
    """Open the Socket Mode connection for an app built with `socket_mode=True`; `close()` the result to disconnect.

    Raises ConfigError (one line, no secret) when a setting is missing or Slack refuses a token.
    """
    token = app_token(settings)
    handler = GatedSocketModeHandler(
        app, app_token=token, logger=logging.getLogger("commstat.socket")
    )
    try:
        handler.connect()
    except SlackApiError as exc:
        handler.close()
        error = exc.response.get("error") if exc.response is not None else None
        hint = {
            "invalid_auth": "Slack did not recognise it",
            "not_authed": "Slack did not receive it",
            "not_allowed_token_type": "it is not an app-level (xapp-) token",
            "missing_scope": "it lacks the connections:write scope",
        }.get(str(error), f"Slack answered {error}")
        raise ConfigError(
            f"SLACK_APP_TOKEN was not accepted: {hint} (SLACK_API_URL={settings.slack_api_url})"
        ) from None
    except Exception as exc:  # network trouble: say so in one line and stop
        handler.close()
        raise ConfigError(
            f"Could not open the Socket Mode connection ({type(exc).__name__}); check that "
            f"{settings.slack_api_url} can be reached from this machine"
        ) from None
    return handler


def run_until_stopped(handler: SocketModeHandler, stop: threading.Event) -> None:
    """Keep the connection (the SDK reconnects by itself) until `stop` is set, then close it."""
    try:
        while not stop.wait(0.5):
            pass
    finally:
        handler.close()
