"""Saying something in a channel for everyone there, or, where the bot can't post, answering in
the conversation instead.

A command's response URL works in every conversation (private channels and DMs included) without
the bot being a member, so nothing a person asked for is lost when the bot is not in the channel.

The text is posted as given: the bot's own words, with anyone else's already passed through
`bot.core.text.safe` where the sentence was built (escaping it here would also defuse the
mentions the bot means).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

logger = logging.getLogger(__name__)


def post_in_channel(
    client: WebClient, channel_id: str, text: str, blocks: Sequence[Block] | None = None
) -> str | None:
    """Post for everyone in the channel; the message's ts, or None when Slack refused (logged)."""
    try:
        posted = client.chat_postMessage(channel=channel_id, text=text, blocks=blocks)
    except SlackApiError as error:
        logger.info(
            "could not post to %s (%s); answering in place", channel_id, error.response.get("error")
        )
        return None
    return str(posted["ts"])


def in_place(text: str, blocks: Sequence[Block] | None = None) -> dict[str, Any]:
    """The same message as the command's answer, in the conversation it was asked in."""
    answer: dict[str, Any] = {"response_type": "in_channel", "text": text}
    if blocks is not None:
        answer["blocks"] = blocks
    return answer


def announce(client: WebClient, channel_id: str, text: str) -> dict[str, Any] | None:
    """Say it in the channel; where the bot can't post, the answer to give in place instead."""
    return None if post_in_channel(client, channel_id, text) else in_place(text)
