"""The /indicator slash command: shared measures, their chart, and data entry by stewards.

Answers go to the conversation with `respond(response_type="in_channel")`: the meeting sees the
question and the answer together, and a response URL works in every conversation (private
channels and DMs included) without the bot being a member. The chart follows as a file upload,
which does need the bot in the channel; when it is not, the chart goes to the asker's DM instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.core import charts
from bot.slack import errors, ids
from bot.slack.blocks.indicators import (
    answer_fallback,
    build_answer,
    build_catalog,
    catalog_fallback,
)
from bot.slack.help import help_text
from bot.slack.people import actor_for
from bot.usecases import indicators
from bot.usecases.indicators import IndicatorError
from handlers import replies

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.command(ids.INDICATOR)
    def on_indicator(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        text = (command.get("text") or "").strip()
        if not text or text.lower() in replies.HELP_WORDS:
            ack(text=help_text(ids.INDICATOR), response_type="ephemeral")
            return
        ack()
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, respond, text),
            refusals=(IndicatorError,),
            command=ids.INDICATOR,
        )


def dispatch(
    services: Services, client: WebClient, command: dict[str, Any], respond: Respond, text: str
) -> None:
    """List, set, or answer a question; each answers through `respond` itself."""
    words = text.split()
    head = words[0].lower()
    if head == "list" and len(words) == 1:
        list_catalog(services, command, respond)
    elif head == "set":
        set_value(
            services, client, command, respond, text.split(None, 1)[1] if len(words) > 1 else ""
        )
    else:
        ask(services, client, command, respond, text)


def ask(
    services: Services, client: WebClient, command: dict[str, Any], respond: Respond, text: str
) -> None:
    """The text answer first (one short read), then the chart: the meeting never waits for it."""
    with services.sessions() as session:
        answer = indicators.answer(
            session,
            team_id=command["team_id"],
            channel_id=command.get("channel_id"),
            text=text,
            now=services.clock(),
        )
        spec = indicators.chart_spec(answer)
        fallback, blocks = answer_fallback(answer), build_answer(answer)
        slug = answer.indicator.slug
    respond(text=fallback, blocks=blocks, response_type="in_channel", replace_original=False)
    send_chart(client, command, respond, spec, filename=f"{_safe(slug)}.png")


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:60] or "indicator"


def send_chart(
    client: WebClient,
    command: dict[str, Any],
    respond: Respond,
    spec: charts.ChartSpec,
    *,
    filename: str,
) -> None:
    """Render and upload the chart; every failure ends in a line the asker can see."""
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
        "title": spec.title,
        "alt_txt": alt,
    }
    channel = command.get("channel_id")
    try:
        client.files_upload_v2(channel=channel, **upload)
        return
    except SlackApiError as error:
        reason = str(error.response.get("error"))
        if reason not in errors.CANNOT_POST_HERE:
            logger.warning("chart upload to %s failed: %s", channel, reason)
            _tell(
                respond,
                f"The chart could not be uploaded (Slack said `{reason}`). Please try again in a minute.",
            )
            return
        logger.info("cannot post the chart in %s (%s); sending it by DM", channel, reason)
    except Exception as error:  # timeouts, dropped connections, the upload URL refusing
        logger.warning("chart upload to %s failed: %r", channel, error)
        _tell(
            respond,
            "The chart could not be uploaded (Slack did not answer in time). Please try again in a minute.",
        )
        return
    try:
        dm = client.conversations_open(users=command["user_id"])["channel"]["id"]
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


def list_catalog(services: Services, command: dict[str, Any], respond: Respond) -> None:
    with services.sessions() as session:
        entries = indicators.catalog(
            session, team_id=command["team_id"], channel_id=command.get("channel_id")
        )
        blocks, fallback = build_catalog(entries), catalog_fallback(entries)
    respond(text=fallback, blocks=blocks, response_type="in_channel", replace_original=False)


def set_value(
    services: Services, client: WebClient, command: dict[str, Any], respond: Respond, text: str
) -> None:
    """Data entry: checked and stored in one transaction; any refusal leaves the database as it was."""
    now = services.clock()
    actor = actor_for(services, client, command["team_id"], command["user_id"])
    with services.sessions.begin() as session:
        result = indicators.set_value(
            session,
            team_id=command["team_id"],
            channel_id=command.get("channel_id"),
            user_id=actor.user_id,
            is_admin=actor.is_admin,
            text=text,
            now=now,
        )
        message = result.message()
    respond(text=message, response_type="ephemeral", replace_original=False)
