"""The Bolt app: settings and services in, a ready `App` out, with the listeners it is given.

The listeners (`handlers.register`) are passed in by the composition root, `bot.app`, so this
package never imports `handlers` (the layers only import downward).

Every request, over HTTP or Socket Mode, passes `RequestGate` first (after the signature, before
Bolt looks for the workspace's token): one Slack would never send — no team, user or channel id
where Slack always puts one, an id of the wrong shape, no type, a shape Bolt's own matching would
trip over (no action, a view without its type), a response URL that is not Slack's — is refused
with 400 and reaches no listener, so nothing is stored or sent for it. In token mode the bot serves the one workspace its token
belongs to (learnt with auth.test at start): a request from any other is answered privately and
goes no further. In OAuth mode Bolt finds the workspace's installation, and refuses, with the
same words, a workspace that has none."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlsplit

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.middleware import Middleware
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.config import ConfigError
from bot.core import charts
from bot.core.dates import warm_up
from bot.core.text import USER_ID
from bot.slack.jobs import as_front
from bot.slack.web_client import make_client
from bot.slack.worker import as_worker
from storage.repositories import adopt_unconnected_team

logger = logging.getLogger(__name__)

TEAM_ID = re.compile(r"[TE][A-Z0-9]{1,30}")
CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{1,30}")
USER = re.compile(USER_ID)
NOT_SERVED = (
    "CommStat isn't set up for this Slack workspace, so I can't do anything here. "
    "Nothing was saved."
)
# Interactions whose acting person is `user.id` and whose workspace is `team.id`.
_INTERACTIONS = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "interactive_message",
        "dialog_submission",
    }
)

# Interactions Bolt matches by a top-level `callback_id` (payload_utils' is_* helpers).
_BY_CALLBACK_ID = frozenset(
    {
        "shortcut",
        "message_action",
        "interactive_message",
        "dialog_submission",
        "dialog_cancellation",
        "dialog_suggestion",
        "workflow_step_edit",
    }
)
# Slack's own response URLs: https://hooks.slack.com/…
SLACK_HOOKS = ("https", "hooks.slack.com", 443)

Register = Callable[[App, Services], None]
"""Adds the listeners to a new app (`handlers.register`)."""


def is_user_id(value: Any) -> bool:
    return isinstance(value, str) and USER.fullmatch(value) is not None


def is_channel_id(value: Any) -> bool:
    return isinstance(value, str) and CHANNEL_ID.fullmatch(value) is not None


def is_team_id(value: Any) -> bool:
    return isinstance(value, str) and TEAM_ID.fullmatch(value) is not None


def origin(url: Any) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a plain http(s) URL, or None for anything else: no user info,
    no backslash, whitespace or control characters (which clients read differently)."""
    if not isinstance(url, str) or "\\" in url or any(c <= " " or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def response_origins(slack_api_url: str) -> frozenset[tuple[str, str, int]]:
    """Where the bot may send an answer: Slack's hooks, and the host of SLACK_API_URL (the
    local stand-in's response URLs are on its own host; in production that is slack.com)."""
    api = origin(slack_api_url)
    return frozenset({SLACK_HOOKS, *((api,) if api else ())})


def foreign_response_url(body: dict[str, Any], allowed: frozenset[tuple[str, str, int]]) -> bool:
    """True if the request names a response URL that is not Slack's (nor the stand-in's)."""
    urls: list[Any] = []
    if "response_url" in body:
        urls.append(body["response_url"])
    if "response_urls" in body:
        entries = body["response_urls"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return True
        urls.extend(e.get("response_url") for e in entries)
    return any(origin(url) not in allowed for url in urls)


def acting_team(body: dict[str, Any]) -> Any:
    """The workspace a request acts in, read as the listeners read it: a command's and an
    event's `team_id`; an interaction's `team.id`, else its user's `team_id`."""
    if "command" in body or body.get("type") == "event_callback":
        return body.get("team_id")
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return team.get("id")
    user = body.get("user")
    return user.get("team_id") if isinstance(user, dict) else None


def malformed(body: dict[str, Any]) -> str | None:
    """Why this (signed) request is not one Slack sends, or None. Only what the listeners rely
    on is checked: the ids they store and answer to, and the shapes they read."""
    kind = body.get("type")
    if "command" in body:
        if not isinstance(body.get("command"), str) or not isinstance(body.get("text", ""), str):
            return "command"
        if not is_team_id(body.get("team_id")):
            return "team_id"
        if not is_user_id(body.get("user_id")):
            return "user_id"
        if not is_channel_id(body.get("channel_id")):
            return "channel_id"
        return None
    if not isinstance(kind, str):
        return "type"
    if kind == "event_callback":
        event = body.get("event")
        if not is_team_id(body.get("team_id")):
            return "team_id"
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event"
        if event["type"] == "app_home_opened" and not is_user_id(event.get("user")):
            return "event.user"
        return None
    if kind in _INTERACTIONS:
        user = body.get("user")
        if not isinstance(user, dict) or not is_user_id(user.get("id")):
            return "user.id"
        if not is_team_id(acting_team(body)):
            return "team.id"
        if kind in ("block_actions", "interactive_message") and not _has_actions(body):
            return "actions"  # Bolt reads actions[0]
        if kind in ("view_submission", "view_closed"):
            view = body.get("view")
            if not isinstance(view, dict) or not isinstance(view.get("type"), str):
                return "view.type"
            if not isinstance(view.get("callback_id"), str):
                return "view.callback_id"
        if kind == "view_submission":
            state = body["view"].get("state")
            if not isinstance(state, dict) or not isinstance(state.get("values"), dict):
                return "view.state"
    if kind == "block_suggestion" and not isinstance(body.get("action_id"), str):
        return "action_id"
    if kind in _BY_CALLBACK_ID and not isinstance(body.get("callback_id"), str):
        return "callback_id"
    if kind == "workflow_step_edit" and not isinstance(body.get("workflow_step"), dict):
        return "workflow_step"
    return None  # another kind of request (url_verification, app_rate_limited…): Bolt decides


def _has_actions(body: dict[str, Any]) -> bool:
    """At least one action, each an object with a text `action_id` (Slack always sends one)."""
    actions = body.get("actions")
    return (
        isinstance(actions, list)
        and len(actions) > 0
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    )


class RequestGate(Middleware):
    """Refuses what Slack would never send (400), and in token mode any workspace but the one
    served (a private answer); runs before Bolt's authorization, over HTTP and Socket Mode."""

    def __init__(self, served_team: str | None, *, slack_api_url: str) -> None:
        self.served_team = served_team
        self.response_origins = response_origins(slack_api_url)

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse | None:
        body = req.body
        problem = malformed(body) if isinstance(body, dict) else "body"
        if problem is None and foreign_response_url(body, self.response_origins):
            problem = "response_url"  # answers go to Slack only, never to a URL of the sender's
        if problem is not None:
            logger.warning("refused a request Slack would not send (%s)", problem)
            return BoltResponse(status=400, body={"error": f"bad request: {problem}"})
        team = acting_team(body)
        if self.served_team is not None and team is not None and team != self.served_team:
            logger.warning("refused a request from workspace %s, not the one served", team)
            return not_served(req)
        return next()


def not_served(req: BoltRequest, text: str = NOT_SERVED) -> BoltResponse:
    """A private answer and nothing else: a command's is its ack, a form's replaces the form,
    a click's goes to its response URL; an event is only acknowledged."""
    body = req.body
    if "command" in body:
        return BoltResponse(
            status=200,
            body=json.dumps({"response_type": "ephemeral", "text": text}),
            headers={"content-type": "application/json"},
        )
    if body.get("type") == "view_submission":
        view = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "CommStat"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text}}],
        }
        return BoltResponse(
            status=200,
            body=json.dumps({"response_action": "update", "view": view}),
            headers={"content-type": "application/json"},
        )
    if req.context.respond is not None:
        try:
            req.context.respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception as error:  # the answer is a courtesy; the refusal stands without it
            logger.warning("could not answer a refused request: %s", type(error).__name__)
    return BoltResponse(status=200, body="")


Role = Literal["front", "worker"]


def build_app(
    services: Services,
    *,
    register: Register,
    role: Role = "front",
    workers: int = 8,
    socket_mode: bool = False,
) -> App:
    """Token mode (one workspace, SLACK_BOT_TOKEN) unless SLACK_CLIENT_ID is set (OAuth mode:
    each workspace's token comes from its installation). Socket Mode needs no signing secret:
    Slack authenticates the WebSocket itself.

    The *front* answers Slack: it stores each request's work as a job before the ack and does
    nothing else (no chart, no Slack call after the ack). The *worker* app runs stored jobs
    (bot/slack/jobs.py); it checks no signature, since only the front, which did, stores jobs."""
    settings = services.settings
    front = role == "front"
    if settings.oauth_enabled:
        app = _oauth_app(services, workers=workers, socket_mode=socket_mode, front=front)
        register(app, services)
        return _as_role(app, services, front=front)
    settings.require(
        "slack_bot_token", *(() if socket_mode or not front else ("slack_signing_secret",))
    )
    signing_secret = settings.slack_signing_secret
    gate = RequestGate(served_team=None, slack_api_url=settings.slack_api_url)
    try:
        app = App(
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            request_verification_enabled=front and not socket_mode,
            process_before_response=front,  # the job is stored before the ack is sent
            client=make_client(settings),
            logger=logging.getLogger("commstat.bolt"),
            listener_executor=ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="listener"
            ),
            before_authorize=gate,
            user_facing_authorize_error_message=NOT_SERVED,
        )
        # The one workspace this token serves: Bolt checked the token with auth.test just now,
        # but keeps the answer to itself, so ask once more (once, at start).
        served = app.client.auth_test().get("team_id")
        gate.served_team = str(served) if served else None  # an org-wide token: not one team
        if gate.served_team:
            with services.sessions.begin() as session:  # data imported before Slack was connected
                if adopt_unconnected_team(session, gate.served_team):
                    logger.info(
                        "Data imported before Slack was connected now belongs to %s", served
                    )
    except (BoltError, SlackApiError) as exc:
        # Say which setting is wrong, not its value.
        refused = isinstance(exc, SlackApiError) or "auth.test" in str(exc)
        reason = "Slack refused it" if refused else "Slack could not be reached"
        raise ConfigError(
            f"SLACK_BOT_TOKEN was not accepted: {reason} (SLACK_API_URL={settings.slack_api_url})"
        ) from None
    except OSError as exc:  # no answer at all (refused, DNS, timeout): one line, no traceback
        raise ConfigError(
            f"Slack could not be reached at SLACK_API_URL={settings.slack_api_url} "
            f"({type(exc).__name__}); check the network and that URL. Nothing was started."
        ) from None
    register(app, services)
    return _as_role(app, services, front=front)


def _as_role(app: App, services: Services, *, front: bool) -> App:
    if front:
        return as_front(app, services)
    warm_up()  # dateparser's first parse takes ~0.3 s: pay it at start, not in someone's command
    charts.warm_up()  # matplotlib's font cache and first PNG: same, for /indicator's chart
    return as_worker(app)


def _oauth_app(services: Services, *, workers: int, socket_mode: bool, front: bool) -> App:
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
        request_verification_enabled=front and not socket_mode,
        process_before_response=front,
        # No fixed token: Bolt hands each listener a client with that workspace's token.
        client=make_client(settings.model_copy(update={"slack_bot_token": None})),
        logger=logging.getLogger("commstat.bolt"),
        installation_store=store,
        oauth_settings=oauth_settings(settings, store, services.engine),
        listener_executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="listener"),
        # Each workspace is served through its installation: Bolt refuses one without any.
        before_authorize=RequestGate(served_team=None, slack_api_url=settings.slack_api_url),
        user_facing_authorize_error_message=NOT_SERVED,
    )
