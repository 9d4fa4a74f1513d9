"""Buttons, pickers and forms on commitments: Done, Change date, Snooze, Add note, New commitment."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.core.dates import DateError, Due, parse_due
from bot.slack import ids
from bot.slack.blocks import commitments as blocks
from bot.slack.people import UnknownPerson, lookup
from bot.usecases import commitments
from bot.usecases.commitments import CommitError
from handlers.commit import actor_for, apply_change, post_confirmation, refresh_message
from handlers.home import publish_home
from storage import repositories as repo
from storage.models import Commitment

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.action(ids.COMMIT_DONE)
    def on_done(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        clicked(services, client, body, respond, "done", _id(action.get("value")), "")

    @app.action(ids.COMMIT_MOVE)
    def on_move(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        commitment_id = _id(str(action.get("block_id", "")).removeprefix("commitment-"))
        clicked(
            services,
            client,
            body,
            respond,
            "move",
            commitment_id,
            str(action.get("selected_date") or ""),
        )

    @app.action(ids.COMMIT_SNOOZE)
    def on_snooze(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        value = str((action.get("selected_option") or {}).get("value", ""))
        commitment_id, _, days = value.partition(":")
        clicked(services, client, body, respond, "snooze", _id(commitment_id), days)

    @app.action(ids.COMMIT_NOTE)
    def on_note_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        team_id = _team_of(body)
        with services.sessions() as session:
            commitment = repo.get_commitment(session, team_id, _id(action.get("value")))
            view = blocks.build_note_modal(commitment) if commitment is not None else None
        if view is None:
            _tell(client, body, respond, "That commitment no longer exists.")
            return
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(ids.NOTE_VIEW)
    def on_note_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        note = (view["state"]["values"]["note"]["text"].get("value") or "").strip()
        if not note:
            ack(response_action="errors", errors={"note": "Write a note, or press Cancel."})
            return
        commitment_id = _id(view.get("private_metadata", "").partition("|")[0])
        team_id = _team_of(body)
        try:
            with services.sessions.begin() as session:
                actor = actor_for(services, client, session, team_id, body["user"]["id"])
                _, commitment = apply_change(
                    session, actor, "note", commitment_id, note, now=services.clock()
                )
        except CommitError as error:
            ack(response_action="errors", errors={"note": str(error)[:150]})
            return
        ack()
        _thread_note(client, commitment, body["user"]["id"], note)

    @app.view(ids.NEW_COMMITMENT_VIEW)
    def on_new_commitment(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_new_commitment(services, ack, body, view, client)


def _id(value: Any) -> int:
    return commitments.parse_id(str(value or ""))


def _team_of(body: dict[str, Any]) -> str:
    return str(body["team"]["id"] if body.get("team") else body["user"]["team_id"])


def _tell(client: WebClient, body: dict[str, Any], respond: Respond, text: str) -> None:
    """Answer only the person who clicked: in place of a reply in the conversation, or by DM from
    App Home (which has no response URL)."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=body["user"]["id"], text=text)


def clicked(
    services: Services,
    client: WebClient,
    body: dict[str, Any],
    respond: Respond,
    verb: str,
    commitment_id: int,
    rest: str,
) -> None:
    team_id = _team_of(body)
    user_id = body["user"]["id"]
    try:
        with services.sessions.begin() as session:
            actor = actor_for(services, client, session, team_id, user_id)
            answer, commitment = apply_change(
                session, actor, verb, commitment_id, rest, now=services.clock()
            )
    except (CommitError, DateError) as error:
        _tell(client, body, respond, str(error))
        return
    refresh_message(services, client, commitment)
    container = body.get("container") or {}
    if container.get("type") == "view":
        publish_home(services, client, team_id, user_id)
        return
    message_ts = container.get("message_ts")
    if container.get("is_ephemeral") or message_ts is None:
        _tell(client, body, respond, answer)
    elif message_ts != commitment.message_ts:
        # Another message showing this commitment (a reminder DM): update it in place too.
        _update_in_place(services, client, container.get("channel_id"), message_ts, commitment)


def _update_in_place(
    services: Services, client: WebClient, channel: str | None, ts: str, commitment: Commitment
) -> None:
    try:
        client.chat_update(
            channel=channel or "",
            ts=ts,
            text=blocks.message_fallback(commitment),
            blocks=blocks.build_commitment_message(commitment, now=services.clock()),
        )
    except SlackApiError as error:
        logger.warning("could not update message %s: %s", ts, error.response.get("error"))


def _thread_note(client: WebClient, commitment: Commitment, author: str, note: str) -> None:
    if commitment.channel_id and commitment.message_ts:
        try:
            client.chat_postMessage(
                channel=commitment.channel_id,
                thread_ts=commitment.message_ts,
                text=f"📝 <@{author}>: {note}",
            )
        except SlackApiError as error:
            logger.warning(
                "could not post the note on #%s: %s", commitment.id, error.response.get("error")
            )


def submit_new_commitment(
    services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Validate the form; errors appear next to the field, and nothing is stored."""
    values = view["state"]["values"]
    what = " ".join((values["what"]["value"].get("value") or "").split())
    owners = list(values["owners"]["value"].get("selected_users") or [])
    picked = values["due"]["value"].get("selected_date")
    slug = ((values.get("indicator") or {}).get("value", {}).get("selected_option") or {}).get(
        "value"
    )
    channel = values["channel"]["value"].get("selected_conversation")
    team_id = _team_of(body)
    user_id = body["user"]["id"]
    now = services.clock()
    errors: dict[str, str] = {}
    if not what:
        errors["what"] = "Say what will be done."
    if not owners:
        errors["owners"] = "Pick at least one owner."
    if not channel:
        errors["channel"] = "Pick where to post it."
    with services.sessions.begin() as session:
        actor = actor_for(services, client, session, team_id, user_id)
        zone = services.settings.timezone
        for owner in owners:
            try:
                person = lookup(session, client, team_id, owner, now=now)
            except UnknownPerson:
                errors["owners"] = f"I can't find <@{owner}> in this workspace."
                continue
            if owner == owners[0] and person.time_zone:
                zone = person.time_zone
        due: Due | None = None
        if not picked:
            errors["due"] = "Pick a due date."
        else:
            try:
                due = parse_due(date.fromisoformat(picked).isoformat(), now=now, tz=zone)
            except (DateError, ValueError) as error:
                errors["due"] = str(error)
        indicator = repo.find_indicator(session, team_id, slug) if slug else None
        if errors or due is None:
            ack(response_action="errors", errors={k: v[:150] for k, v in errors.items()})
            session.rollback()
            return
        commitment, is_new = commitments.create(
            session,
            actor=actor,
            owners=owners,
            what=what[:2000],
            due=due,
            indicator_id=indicator.id if indicator else None,
            channel_id=channel,
            request_key=f"view:{view['id']}",
            now=now,
        )
        indicator_slug = indicator.slug if indicator else None
    ack()
    if is_new:
        answer = post_confirmation(
            services, client, {"channel_id": channel}, commitment, indicator_slug
        )
        if answer is not None:  # could not post there: tell the author by DM instead
            client.chat_postMessage(
                channel=user_id,
                text=f"I couldn't post in <#{channel}>, so here it is:",
                blocks=answer["blocks"],
            )
