"""Buttons, pickers and forms on commitments: Done, Change date, Snooze, Add note, New commitment."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Services
from bot.core.commit_parser import CommitDraft, CommitTextError, parse_id
from bot.core.dates import DateError
from bot.core.text import mention
from bot.slack import ids
from bot.slack.blocks import commitments as blocks
from bot.slack.commitment_messages import (
    post_confirmation,
    refresh_message,
    thread_note,
    update_in_place,
)
from bot.slack.home import publish_home
from bot.slack.people import UnknownPerson, actor_for, refresh_people
from bot.usecases import commitments
from bot.usecases.commitments import CommitError, UnknownIndicator

FIELD_ERROR_CHARS = 150  # Slack shows at most this much under a form field


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
        with services.sessions() as session:
            commitment = commitments.find(session, _team_of(body), _id(action.get("value")))
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
        user_id = body["user"]["id"]
        actor = actor_for(services, client, _team_of(body), user_id)
        try:
            with services.sessions.begin() as session:
                changed = commitments.apply_change(
                    session, actor, "note", commitment_id, note, now=services.clock()
                )
        except CommitError as error:
            ack(response_action="errors", errors={"note": str(error)[:FIELD_ERROR_CHARS]})
            return
        ack()
        thread_note(client, changed.commitment, user_id, changed.note)

    @app.view(ids.NEW_COMMITMENT_VIEW)
    def on_new_commitment(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_new_commitment(services, ack, body, view, client)


def _id(value: Any) -> int:
    return parse_id(str(value or ""))


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
    actor = actor_for(services, client, team_id, user_id)
    try:
        with services.sessions.begin() as session:
            changed = commitments.apply_change(
                session, actor, verb, commitment_id, rest, now=services.clock()
            )
    except (CommitError, DateError) as error:
        _tell(client, body, respond, str(error))
        return
    commitment = changed.commitment
    refresh_message(services, client, commitment)
    container = body.get("container") or {}
    if container.get("type") == "view":
        publish_home(services, client, team_id, user_id)
        return
    message_ts = container.get("message_ts")
    if container.get("is_ephemeral") or message_ts is None:
        _tell(client, body, respond, changed.answer)
    elif message_ts != commitment.message_ts:
        # Another message showing this commitment (a reminder DM): update it in place too.
        update_in_place(services, client, container.get("channel_id"), message_ts, commitment)


def submit_new_commitment(
    services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """The form makes a commitment exactly as `/commit` does (same zone, same indicators);
    mistakes appear next to their field, and nothing is stored."""
    values = view["state"]["values"]
    what = " ".join((values["what"]["value"].get("value") or "").split())
    owners = list(values["owners"]["value"].get("selected_users") or [])
    picked = values["due"]["value"].get("selected_date") or ""
    slug = ((values.get("indicator") or {}).get("value", {}).get("selected_option") or {}).get(
        "value"
    )
    channel = values["channel"]["value"].get("selected_conversation")
    team_id = _team_of(body)
    user_id = body["user"]["id"]
    errors = _missing(what=what, owners=owners, picked=picked, channel=channel)
    actor = actor_for(services, client, team_id, user_id)
    if owners:
        try:
            refresh_people(services, client, team_id, owners)
        except UnknownPerson as unknown:
            errors["owners"] = f"I can't find {mention(unknown.user_id)} in this workspace."
    if errors:
        _refuse(ack, errors)
        return
    when = date.fromisoformat(picked).isoformat()  # checked above; Slack sends YYYY-MM-DD
    reading = CommitDraft(tuple(owners), what[:2000], when, slug)
    try:
        with services.sessions.begin() as session:
            created = commitments.create_commitment(
                session,
                actor=actor,
                readings=[reading],
                channel_id=channel,
                request_key=f"view:{view['id']}",
                default_zone=services.settings.timezone,
                now=services.clock(),
            )
    except UnknownIndicator as error:
        _refuse(ack, {"indicator": str(error)})
        return
    except (CommitTextError, DateError) as error:
        _refuse(ack, {"due": str(error)})
        return
    ack()
    if created.is_new:
        answer = post_confirmation(services, client, channel, created.commitment, created.indicator)
        if answer is not None:  # could not post there: tell the author by DM instead
            client.chat_postMessage(
                channel=user_id,
                text=f"I couldn't post in <#{channel}>, so here it is:",
                blocks=answer["blocks"],
            )


def _missing(*, what: str, owners: list[str], picked: str, channel: str | None) -> dict[str, str]:
    """Every empty field at once, so the form is fixed in one go."""
    errors: dict[str, str] = {}
    if not what:
        errors["what"] = "Say what will be done."
    if not owners:
        errors["owners"] = "Pick at least one owner."
    if not channel:
        errors["channel"] = "Pick where to post it."
    try:
        date.fromisoformat(picked)
    except ValueError:
        errors["due"] = "Pick a due date."
    return errors


def _refuse(ack: Ack, errors: dict[str, str]) -> None:
    ack(
        response_action="errors",
        errors={field: text[:FIELD_ERROR_CHARS] for field, text in errors.items()},
    )
