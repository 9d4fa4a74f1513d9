"""A commitment's messages in Slack: the confirmation in its channel, kept in step with every
change, and notes threaded under it.

Each function runs after the caller's transaction has committed, so a slow or failing Slack never
holds the database; failures are logged, never raised, because the change itself is already saved.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.core.text import mention, safe
from bot.slack.announce import in_place, post_in_channel
from bot.slack.blocks import commitments as blocks
from bot.usecases import commitments
from storage.models import Commitment

logger = logging.getLogger(__name__)


def post_confirmation(
    services: Services,
    client: WebClient,
    channel_id: str,
    commitment: Commitment,
    indicator: str | None,
) -> dict[str, Any] | None:
    """Post in the channel for public accountability and remember the message; if the bot can't
    post there, return the message for the caller to deliver another way (the command's response
    URL, which works in any conversation, or a DM)."""
    message_blocks = blocks.build_commitment_message(
        commitment, now=services.clock(), indicator=indicator
    )
    fallback = blocks.message_fallback(commitment)
    ts = post_in_channel(client, channel_id, fallback, message_blocks)
    if ts is None:
        return in_place(fallback, message_blocks)
    with services.sessions.begin() as session:
        commitments.record_message(session, commitment, ts)
    return None


def refresh_message(services: Services, client: WebClient, commitment: Commitment) -> None:
    """Keep the channel's confirmation message in step with the commitment (best effort)."""
    if not (commitment.channel_id and commitment.message_ts):
        return
    with services.sessions() as session:
        indicator = commitments.indicator_slug(session, commitment)
    try:
        client.chat_update(
            channel=commitment.channel_id,
            ts=commitment.message_ts,
            text=blocks.message_fallback(commitment),
            blocks=blocks.build_commitment_message(
                commitment, now=services.clock(), indicator=indicator
            ),
        )
    except SlackApiError as error:
        logger.warning(
            "could not update the message of #%s: %s", commitment.id, error.response.get("error")
        )


def update_in_place(
    services: Services, client: WebClient, channel: str | None, ts: str, commitment: Commitment
) -> None:
    """Another message showing this commitment (a reminder DM) follows the change too."""
    try:
        client.chat_update(
            channel=channel or "",
            ts=ts,
            text=blocks.message_fallback(commitment),
            blocks=blocks.build_commitment_message(commitment, now=services.clock()),
        )
    except SlackApiError as error:
        logger.warning("could not update message %s: %s", ts, error.response.get("error"))


def thread_note(client: WebClient, commitment: Commitment, author: str, note: str) -> None:
    """A note from the form (as stored: the words people read) also shows under the confirmation,
    where the channel follows the commitment; only its author is mentioned."""
    if not (commitment.channel_id and commitment.message_ts):
        return
    try:
        client.chat_postMessage(
            channel=commitment.channel_id,
            thread_ts=commitment.message_ts,
            text=f"📝 {mention(author)}: {safe(note)}",
        )
    except SlackApiError as error:
        logger.warning(
            "could not post the note on #%s: %s", commitment.id, error.response.get("error")
        )
