"""Finding a message the bot may already have posted: one helper for the outbox and the job
journal, which both mark their posts with message metadata (`event_type`, `event_payload.key`)
so that a post interrupted between Slack's receipt and our note is found instead of sent again.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import errors

CLOCK_SKEW = 300.0  # look this much further back in history than our own clock says
PAGES = 10
PAGE_SIZE = 200


class CannotLook(Exception):
    """Slack will not show this conversation's history (not a member, a scope missing): the
    caller decides whether to send rather than lose the message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TooLong(Exception):
    """More history since then than PAGES × PAGE_SIZE messages: not searched to the end."""


def find_marked(
    client: WebClient,
    channel: str,
    *,
    since: float,
    event_type: str,
    key: str,
    filename: str | None = None,
) -> dict[str, Any] | None:
    """The message posted since `since` (epoch seconds, less CLOCK_SKEW) that carries this
    metadata (or, for an upload, a file of this name), or None. Raises CannotLook when Slack
    refuses to show the history, TooLong when it is longer than we read, and SlackApiError on
    transient errors (try again later)."""
    oldest = f"{max(since - CLOCK_SKEW, 0):.6f}"
    cursor: str | None = None
    for _ in range(PAGES):
        try:
            response = client.conversations_history(
                channel=channel,
                oldest=oldest,
                limit=PAGE_SIZE,
                include_all_metadata=True,
                cursor=cursor,
            )
        except SlackApiError as exc:
            code = str(exc.response.get("error", ""))
            if exc.response.status_code == 200 and code not in errors.TRANSIENT:
                raise CannotLook(code) from None
            raise
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == event_type
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return dict(message)
            if filename and any(f.get("name") == filename for f in message.get("files") or []):
                return dict(message)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None
    raise TooLong(channel)
