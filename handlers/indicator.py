"""The /indicator slash command: shared measures, their chart, and data entry by stewards.

Answers go to the conversation with `respond(response_type="in_channel")`: the meeting sees the
question and the answer together, and a response URL works in every conversation (private
channels and DMs included) without the bot being a member. The chart follows as a file upload
(`bot.slack.chart_upload`), which does need the bot in the channel; when it is not, the chart
goes to the asker's DM instead.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Services
from bot.slack import ids
from bot.slack.blocks.imports import build_upload_modal
from bot.slack.blocks.indicators import (
    answer_fallback,
    build_answer,
    build_catalog,
    catalog_fallback,
)
from bot.slack.chart_upload import chart_filename, send_chart
from bot.slack.help import help_text
from bot.slack.people import actor_for
from bot.usecases import imports, indicators
from bot.usecases.indicators import IndicatorError
from handlers import replies


def register(app: App, services: Services) -> None:
    def ack_indicator(ack: Ack, command: dict[str, Any]) -> None:
        if _wants_help(command):
            ack(text=help_text(ids.INDICATOR), response_type="ephemeral")
        else:
            ack()

    def on_indicator(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        if _wants_help(command):
            return  # the ack was the answer
        text = (command.get("text") or "").strip()
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, respond, text),
            refusals=(IndicatorError,),
            command=ids.INDICATOR,
        )

    app.command(ids.INDICATOR)(ack=ack_indicator, lazy=[on_indicator])


def _wants_help(command: dict[str, Any]) -> bool:
    text = (command.get("text") or "").strip()
    return not text or text.lower() in replies.HELP_WORDS


def dispatch(
    services: Services, client: WebClient, command: dict[str, Any], respond: Respond, text: str
) -> None:
    """List, set, or answer a question; each answers through `respond` itself."""
    words = text.split()
    head = words[0].lower()
    if head == "list" and len(words) == 1:
        list_catalog(services, command, respond)
    elif head == "import" and len(words) == 1:
        open_import_form(client, command, respond)
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
        updated_by = imports.updated_by(session, answer.indicator)
    respond(
        text=answer_fallback(answer),
        blocks=build_answer(answer, updated_by=updated_by),
        response_type="in_channel",
        replace_original=False,
    )
    send_chart(
        client,
        respond,
        indicators.chart_spec(answer),
        channel_id=command.get("channel_id"),
        user_id=command["user_id"],
        filename=chart_filename(answer.indicator.slug),
    )


def open_import_form(client: WebClient, command: dict[str, Any], respond: Respond) -> None:
    """`/indicator import`: a form to pick a file (handlers/imports.py previews it by DM)."""
    view = build_upload_modal(channel_id=command["channel_id"])
    if not replies.open_form(client, str(command.get("trigger_id") or ""), view):
        respond(
            text="Sorry — I was too busy to open the form within the 3 seconds Slack allows. "
            "Type `/indicator import` again, or drop the file into a DM with me.",
            response_type="ephemeral",
            replace_original=False,
        )


def list_catalog(services: Services, command: dict[str, Any], respond: Respond) -> None:
    with services.sessions() as session:
        entries = indicators.catalog(
            session, team_id=command["team_id"], channel_id=command.get("channel_id")
        )
    respond(
        text=catalog_fallback(entries),
        blocks=build_catalog(entries),
        response_type="in_channel",
        replace_original=False,
    )


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
