"""OAuth mode: install CommStat in many workspaces, each with its own bot token.

When SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set, Bolt serves `GET /slack/install` (the "Add to
Slack" page) and `GET /slack/oauth_redirect` (Slack sends the installer back here with a one-time
code, which Bolt exchanges for the workspace's bot token with `oauth.v2.access`). slack_sdk's own
SQLAlchemy stores keep the installations and the one-time `state` values in our database (tables
from migration 0003), so one backup and one PostgreSQL hold everything.

Scheduled work has no incoming request whose token Bolt could use (bolt-python #498, #1076):
`bot_token_lookup` gives `Services.client_for(team_id)` the team's latest bot token instead.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence

from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth import OAuthStateUtils
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, and_, desc, select

from bot.config import ConfigError, Settings

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# What the app asks each workspace for; must match manifest.yml's oauth_config.scopes.bot
# (tests/e2e/test_oauth.py checks that).
DEFAULT_BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "users:read",
    "files:write",
    "files:read",
    "channels:read",
    "channels:history",
    "groups:history",
    "im:history",
)
STATE_EXPIRATION_SECONDS = 600  # the installer has ten minutes to click "Allow"


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    """slack_sdk's installation store on our engine (tables: slack_installations, slack_bots)."""
    if settings.slack_client_id is None:
        raise ConfigError("SLACK_CLIENT_ID is not set; see README.md, 'Connecting to Slack'.")
    return SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id,
        engine=engine,
        logger=logging.getLogger("commstat.oauth"),
    )


def state_store(engine: Engine) -> SQLAlchemyOAuthStateStore:
    """One-time `state` values that tie the redirect back to the install page that issued it."""
    return SQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_EXPIRATION_SECONDS,
        engine=engine,
        logger=logging.getLogger("commstat.oauth"),
    )


def bot_token_lookup(store: SQLAlchemyInstallationStore) -> Callable[[str], str | None]:
    """`team_id -> bot token` for work that no Slack request started (nudges, digests).

    Reads the latest bot row of that workspace for this app, whatever its Enterprise Grid id, so
    a workspace inside a grid is found by its team id alone. Not cached: an uninstall must stop
    the very next send.
    """
    bots = store.bots

    def token_for(team_id: str) -> str | None:
        query = (
            select(bots.c.bot_token)
            .where(
                and_(
                    bots.c.client_id == store.client_id,
                    bots.c.team_id == team_id,
                    bots.c.bot_token.is_not(None),
                )
            )
            .order_by(desc(bots.c.installed_at), desc(bots.c.id))
            .limit(1)
        )
        with store.engine.connect() as conn:
            token = conn.execute(query).scalar()
        return str(token) if token else None

    return token_for


def oauth_settings(
    settings: Settings, store: SQLAlchemyInstallationStore, engine: Engine
) -> OAuthSettings:
    """Bolt's OAuth flow with our stores, scopes and plain-language result pages."""
    settings.require("slack_client_secret")
    assert settings.slack_client_secret is not None  # for mypy; require() checked it
    scopes = (
        [s.strip() for s in settings.slack_scopes.split(",") if s.strip()]
        if settings.slack_scopes
        else list(DEFAULT_BOT_SCOPES)
    )
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=scopes,
        user_scopes=[],  # bot-only install; an explicit value keeps Bolt off os.environ
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        state_store=state_store(engine),
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        callback_options=CallbackOptions(success=_installed_page, failure=_failed_page),
        logger=logging.getLogger("commstat.oauth"),
    )


# --- the pages the installer sees -----------------------------------------------------------

_FAILURE_TEXT = {
    "access_denied": "The installation was cancelled in Slack, so nothing was installed.",
    "invalid_browser": (
        "This link was opened in a different browser, or the page was reloaded, so Slack could "
        "not confirm it was you. Nothing was installed."
    ),
    "invalid_state": (
        "This installation link has expired or was already used. Nothing was installed."
    ),
    "missing_code": "Slack did not send an installation code. Nothing was installed.",
    "invalid_code": (
        "Slack did not accept the installation code (it may have been used already). "
        "Nothing was installed."
    ),
    "storage_error": (
        "Slack approved the installation but CommStat could not save it. Nothing was installed; "
        "please tell the person who runs CommStat."
    ),
}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;"
        "padding:0 1em;line-height:1.5}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _headers_clearing_state_cookie() -> dict[str, str | Sequence[str]]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Set-Cookie": OAuthStateUtils().build_set_cookie_for_deletion(),
    }


def _installed_page(args: SuccessArgs) -> BoltResponse:
    team = args.installation.team_name or args.installation.team_id or "your workspace"
    logger.info("installed in team %s", args.installation.team_id)
    body = (
        f"<p>CommStat is now installed in <strong>{html.escape(team)}</strong>.</p>"
        "<p>In any channel, type <code>/commit help</code> to make your first commitment, or "
        "<code>/commstat meeting every Thursday at 10am</code> to set up your meeting's digest. "
        "You can close this page.</p>"
    )
    return BoltResponse(
        status=200,
        body=_page("CommStat is installed", body),
        headers=_headers_clearing_state_cookie(),
    )


def _failed_page(args: FailureArgs) -> BoltResponse:
    reason = _FAILURE_TEXT.get(
        args.reason, f"Slack reported “{args.reason}”. Nothing was installed."
    )
    logger.warning("installation failed: %s", args.reason)
    body = (
        f"<p>{html.escape(reason)}</p>"
        f"<p><a href='{INSTALL_PATH}'>Start the installation again</a> from the beginning, "
        "in the same browser.</p>"
    )
    return BoltResponse(
        status=args.suggested_status_code,
        body=_page("CommStat was not installed", body),
        headers=_headers_clearing_state_cookie(),
    )
