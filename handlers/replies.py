"""How every slash command answers after its ack: privately, in the user's own words on a refusal,
with an apology (and a log entry) on anything unexpected. Nothing is stored on either."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.bootstrap import Services
from bot.slack.jobs import request_identity
from bot.usecases import commitments
from bot.usecases.commitments import Actor, Change

logger = logging.getLogger(__name__)

HELP_WORDS = ("help", "?")
# Slack lets a form open only within 3 seconds of the click or command (its trigger id expires).
FORM_TOO_SLOW = (
    "Sorry — I was too busy to open the form within the 3 seconds Slack allows. Please try "
    "again (or type it in one line: `/commit Call the shelters by Friday`)."
)
EXPIRED_TRIGGER = frozenset({"expired_trigger_id", "invalid_trigger_id", "trigger_exchanged"})
SORRY = "Sorry — something went wrong on my side and nothing was saved. Please try again."


def open_form(client: WebClient, trigger_id: str, view: Any) -> bool:
    """Open a form; False when Slack says the moment to open it has passed (the person is told
    by the caller), any other refusal is raised."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        if str(error.response.get("error")) in EXPIRED_TRIGGER:
            logger.warning("a form could not open: its trigger had expired")
            return False
        raise
    return True


def answer(
    respond: Respond,
    work: Callable[[], dict[str, Any] | None],
    *,
    refusals: tuple[type[Exception], ...],
    command: str,
) -> None:
    """Run the slow part of `command`; post what it returns (ephemeral unless it says otherwise).
    `work` may also answer by itself through `respond` and return None."""
    try:
        reply = work()
    except refusals as error:
        respond(text=str(error), response_type="ephemeral", replace_original=False)
        return
    except Exception:
        logger.exception("%s failed", command)
        respond(text=SORRY, response_type="ephemeral", replace_original=False)
        return
    if reply is not None:
        reply.setdefault("response_type", "ephemeral")
        respond(**reply, replace_original=False)


def change_commitment(
    services: Services, actor: Actor, verb: str, commitment_id: int, rest: str, request: Any
) -> Change:
    """One change (done, move, note…) in its own transaction, made once per Slack request
    (`request`, the payload that asked): a job run again after a crash changes nothing twice."""
    with services.sessions.begin() as session:
        return commitments.apply_change(
            session,
            actor,
            verb,
            commitment_id,
            rest,
            now=services.clock(),
            request=request_identity(request),
        )


# --- reading interaction payloads (clicks and forms) -------------------------------------------


def node(payload: Any, *path: str) -> Any:
    """What is at `path` in a payload, or None when a step is missing or not an object."""
    for key in path:
        payload = payload.get(key) if isinstance(payload, dict) else None
    return payload


def text_at(payload: Any, *path: str) -> str:
    """The text at `path` in a payload, or "" when it is missing or not text."""
    found = node(payload, *path)
    return found if isinstance(found, str) else ""


def team_of(body: dict[str, Any]) -> str:
    """The workspace an interaction came from (a click's `team`, a form's `user.team_id`)."""
    return str(body["team"]["id"] if body.get("team") else body["user"]["team_id"])


def tell(
    client: WebClient,
    body: dict[str, Any],
    respond: Respond,
    text: str,
    *,
    blocks: Sequence[Block] | None = None,
) -> None:
    """Answer only the person who clicked: in place of a reply in the conversation, or by DM
    from App Home or a form (which have no response URL)."""
    if body.get("response_url"):
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text, blocks=blocks)
