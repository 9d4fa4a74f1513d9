"""Buttons, pickers and forms on commitments: Done, Change date, Snooze, Add note, New commitment.

The same buttons sit on the channel's confirmation, in App Home and on each line of a person's
morning message; a click there changes that line only (`bot.slack.morning_message`), and a note
added from a line's form marks that line too.

A click or a form is read defensively: a value that is not what the bot put there (a button whose
value is not a number, a form whose hidden commitment number was changed, a missing field) gets a
private answer, or a message next to the form's field, and nothing is stored."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.core.commit_parser import (
    MAX_OWNERS,
    MAX_TEXT_CHARS,
    CommitDraft,
    CommitTextError,
    parse_id,
    tidy,
    too_many_owners_message,
)
from bot.core.dates import DateError
from bot.core.text import mention
from bot.slack import ids
from bot.slack.app import is_channel_id, is_user_id
from bot.slack.blocks import commitments as blocks
from bot.slack.commitment_messages import (
    post_confirmation,
    refresh_message,
    thread_note,
    update_in_place,
)
from bot.slack.home import publish_home
from bot.slack.jobs import ack_now, form_ack
from bot.slack.morning_message import update_line
from bot.slack.people import UnknownPerson, actor_for, refresh_people
from bot.usecases import commitments
from bot.usecases.commitments import Change, CommitError, UnknownIndicator
from handlers import replies

FIELD_ERROR_CHARS = 150  # Slack shows at most this much under a form field
STALE_FORM = "This form is out of date: close it and press Add note again. Nothing was saved."


def register(app: App, services: Services) -> None:
    def on_done(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        clicked(services, client, body, respond, "done", action.get("value"), "")

    def on_move(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        commitment_id = str(action.get("block_id") or "").removeprefix("commitment-")
        picked = action.get("selected_date")
        if action.get("type") == "button":  # "Move to Mon, Nov 30": `<id>:<date>`
            commitment_id, _, picked = replies.text_at(action, "value").partition(":")
        clicked(
            services,
            client,
            body,
            respond,
            "move",
            commitment_id,
            picked if isinstance(picked, str) else "",
        )

    def on_snooze(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        commitment_id, _, days = replies.text_at(action, "selected_option", "value").partition(":")
        clicked(services, client, body, respond, "snooze", commitment_id, days)

    def on_note_button(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        try:
            commitment_id = _id(action.get("value"))
        except CommitTextError as error:
            replies.tell(client, body, respond, str(error))
            return
        container = body.get("container") or {}
        # From a line of a morning message: the form remembers which, to mark that line.
        where = (
            f"{container.get('channel_id')}:{container.get('message_ts')}"
            if container.get("type") == "message" and container.get("message_ts")
            else ""
        )
        with services.sessions() as session:
            commitment = commitments.find(session, replies.team_of(body), commitment_id)
            view = (
                blocks.build_note_modal(commitment, context=where)
                if commitment is not None
                else None
            )
        if view is None:
            replies.tell(client, body, respond, "That commitment no longer exists.")
            return
        if not replies.open_form(client, str(body.get("trigger_id") or ""), view):
            replies.tell(client, body, respond, replies.FORM_TOO_SLOW)

    def on_note_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        note = replies.text_at(view["state"]["values"], "note", "text", "value").strip()
        if not note:
            ack(response_action="errors", errors={"note": "Write a note, or press Cancel."})
            return
        number, _, where = replies.text_at(view, "private_metadata").partition("|")
        try:
            commitment_id = _id(number)
        except CommitTextError:
            _refuse(ack, {"note": STALE_FORM})
            return
        user_id = body["user"]["id"]
        actor = actor_for(services, client, replies.team_of(body), user_id)
        try:
            changed = replies.change_commitment(services, actor, "note", commitment_id, note, body)
        except CommitError as error:
            ack(response_action="errors", errors={"note": str(error)[:FIELD_ERROR_CHARS]})
            return
        ack()
        thread_note(client, changed.commitment, user_id, changed.note)
        channel, _, ts = where.partition(":")
        update_line(
            services,
            client,
            team_id=replies.team_of(body),
            user_id=user_id,
            channel=channel,
            ts=ts,
            noted=changed.commitment.id,
        )

    def on_new_commitment(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        submit_new_commitment(services, ack, body, view, client)

    app.action(ids.COMMIT_DONE)(ack=ack_now, lazy=[on_done])
    app.action(ids.COMMIT_MOVE)(ack=ack_now, lazy=[on_move])
    app.action(ids.COMMIT_SNOOZE)(ack=ack_now, lazy=[on_snooze])
    app.action(ids.COMMIT_NOTE)(ack=ack_now, lazy=[on_note_button])
    # A form's answer is its errors next to the fields: the front waits for the worker's.
    app.view(ids.NOTE_VIEW)(ack=form_ack(services, on_note_submitted), lazy=[on_note_submitted])
    app.view(ids.NEW_COMMITMENT_VIEW)(
        ack=form_ack(services, on_new_commitment), lazy=[on_new_commitment]
    )


def _id(value: Any) -> int:
    """A commitment's number from a button, a block id or a form; CommitTextError otherwise."""
    return parse_id(value if isinstance(value, str) else "")


def clicked(
    services: Services,
    client: WebClient,
    body: dict[str, Any],
    respond: Respond,
    verb: str,
    raw_id: Any,
    rest: str,
) -> None:
    team_id = replies.team_of(body)
    user_id = body["user"]["id"]
    try:
        commitment_id = _id(raw_id)
    except CommitTextError as error:
        replies.tell(client, body, respond, str(error))
        return
    actor = actor_for(services, client, team_id, user_id)
    try:
        changed = replies.change_commitment(services, actor, verb, commitment_id, rest, body)
    except (CommitError, DateError) as error:
        replies.tell(client, body, respond, str(error))
        # A line someone else closed or changed since this morning's message went: show it as
        # it is now, so its buttons are not offered again (a no-op for other messages).
        container = body.get("container") or {}
        if isinstance(error, CommitError) and container.get("type") == "message":
            update_line(
                services,
                client,
                team_id=team_id,
                user_id=user_id,
                channel=container.get("channel_id"),
                ts=container.get("message_ts"),
            )
        return
    commitment = changed.commitment
    refresh_message(services, client, commitment)
    # A date picked on a day off is pointed out, with a button to the next working day, as
    # `/commit move` does (from the channel message, a morning line, App Home or a remark).
    day_off = _tell_day_off(client, body, respond, changed)
    container = body.get("container") or {}
    if container.get("type") == "view":
        publish_home(services, client, team_id, user_id)
        return
    message_ts = container.get("message_ts")
    if container.get("is_ephemeral") or message_ts is None:
        if not day_off:  # the remark holds the answer
            replies.tell(client, body, respond, changed.answer)
    elif message_ts != commitment.message_ts:
        # Another message showing this commitment: a line of a morning message changes alone;
        # any other (a reminder from before those) shows the commitment as it is now.
        channel = container.get("channel_id")
        if not update_line(
            services, client, team_id=team_id, user_id=user_id, channel=channel, ts=message_ts
        ):
            update_in_place(services, client, channel, message_ts, commitment)


def _tell_day_off(
    client: WebClient, body: dict[str, Any], respond: Respond, changed: Change
) -> bool:
    """The answer to a move to a day off, with its Move button, to the person who clicked only
    (in place of a reply where Slack gave a response URL, else by DM); False for any other."""
    if changed.day_off is None:
        return False
    text, extra = blocks.after_moving(changed.answer, changed.commitment, changed.day_off)
    replies.tell(client, body, respond, text, blocks=extra)
    return True


def submit_new_commitment(
    services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """The form makes a commitment exactly as `/commit` does (same zone, same indicators);
    mistakes appear next to their field, and nothing is stored."""
    values = view["state"]["values"]
    typed = replies.text_at(values, "what", "value", "value")
    what = tidy(typed)
    picked_users = replies.node(values, "owners", "value", "selected_users") or []
    if not isinstance(picked_users, list):
        picked_users = [picked_users]
    owners = list(dict.fromkeys(u for u in picked_users if is_user_id(u)))
    picked = replies.text_at(values, "due", "value", "selected_date")
    slug = replies.text_at(values, "indicator", "value", "selected_option", "value") or None
    channel = replies.text_at(values, "channel", "value", "selected_conversation")
    team_id = replies.team_of(body)
    user_id = body["user"]["id"]
    errors = _missing(what=what, owners=picked_users, picked=picked, channel=channel)
    if len(typed) > MAX_TEXT_CHARS:  # Slack's form stops at 2,000; a forged one is refused too
        errors["what"] = f"Keep it under {MAX_TEXT_CHARS:,} characters; put details in a note."
    if "owners" not in errors and len(owners) != len(set(map(str, picked_users))):
        errors["owners"] = "Pick the owners from the list."
    elif len(owners) > MAX_OWNERS:
        errors["owners"] = too_many_owners_message(len(owners))
    if "channel" not in errors and not is_channel_id(channel):
        errors["channel"] = "Pick the channel from the list."
    if "owners" in errors:
        _refuse(ack, errors)  # before asking Slack about anyone
        return
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
    reading = CommitDraft(tuple(owners), what, when, slug)
    try:
        with services.sessions.begin() as session:
            created = commitments.create_commitment(
                session,
                actor=actor,
                readings=[reading],
                channel_id=channel,
                request_key=f"view:{view.get('id')}" if view.get("id") else None,
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
        _remark_day_off(client, created, channel=channel, user_id=user_id)


def _remark_day_off(client: WebClient, created: Any, *, channel: str, user_id: str) -> None:
    """A due day picked on a day off gets the same remark as `/commit` gives, with its button to
    the next working day: privately in the channel, or by DM where the bot cannot."""
    text, extra = blocks.after_creating(
        created.commitment, indicator=None, unlinked_tags=(), day_off=created.day_off
    )
    if not extra:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=extra)
    except SlackApiError:
        client.chat_postMessage(channel=user_id, text=text, blocks=extra)


def _missing(*, what: str, owners: list[Any], picked: str, channel: str) -> dict[str, str]:
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
