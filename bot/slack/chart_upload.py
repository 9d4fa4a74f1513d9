"""The chart after an `/indicator` answer: drawn once the answer's transaction has closed, then
uploaded where the question was asked, or to the asker's DM when the bot can't post there.

The numbers are already in the conversation, so every failure ends in a line the asker can see
rather than an error: the meeting goes on without the picture.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core import charts
from bot.core.text import safe
from bot.slack import errors

logger = logging.getLogger(__name__)

FILE_TITLE_CHARS = 250


def chart_filename(slug: str) -> str:
    """`overdose-deaths.png`: the indicator's slug, safe as a file name."""
    return (re.sub(r"[^a-z0-9-]+", "-", slug.lower()).strip("-")[:60] or "indicator") + ".png"


def send_chart(
    client: WebClient,
    respond: Respond,
    spec: charts.ChartSpec,
    *,
    channel_id: str | None,
    user_id: str,
    filename: str,
) -> None:
    """Render and upload the chart (call it with no transaction open)."""
    try:
        png = charts.render_indicator_chart(spec)
        alt = charts.describe(spec)
    except Exception:
        logger.exception("could not draw the chart for %s", spec.title)
        _tell(respond, "The chart could not be drawn this time; the numbers above are complete.")
        return
    upload: dict[str, Any] = {
        "file": png,
        "filename": filename,
        "title": safe(spec.title, FILE_TITLE_CHARS),  # the name is a file's words: made safe
        "alt_txt": alt,  # `describe` makes it safe
    }
    try:
        client.files_upload_v2(channel=channel_id, **upload)
        return
    except SlackApiError as error:
        reason = str(error.response.get("error"))
        if reason not in errors.CANNOT_POST_HERE:
            logger.warning("chart upload to %s failed: %s", channel_id, reason)
            _tell(
                respond,
                f"The chart could not be uploaded (Slack said `{reason}`). Please try again in a minute.",
            )
            return
        logger.info("cannot post the chart in %s (%s); sending it by DM", channel_id, reason)
    except Exception as error:  # timeouts, dropped connections, the upload URL refusing
        logger.warning("chart upload to %s failed: %r", channel_id, error)
        _tell(
            respond,
            "The chart could not be uploaded (Slack did not answer in time). Please try again in a minute.",
        )
        return
    try:
        dm = client.conversations_open(users=user_id)["channel"]["id"]
        client.files_upload_v2(channel=dm, **upload)
    except Exception as error:
        logger.warning("chart upload by DM failed: %r", error)
        _tell(
            respond,
            "The chart could not be uploaded here or to your DMs. Please try again in a minute.",
        )
        return
    _tell(
        respond,
        "I can't post files in this conversation, so I sent the chart to you in a direct message. "
        "To get charts here, add me to the channel (`/invite @commstat`).",
    )


def _tell(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        logger.exception("could not tell the user about the chart")
