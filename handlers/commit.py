"""The /commit slash command: make, list and follow up commitments."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Services
from bot.core.commit_parser import (
    FOLLOW_UP_VERBS,
    CommitTextError,
    ListFilter,
    is_commitment_number,
    list_usage_message,
    looks_like_a_number,
    parse_id,
    read_list_filter,
    several_numbers,
    split_commit,
    which_commitment_message,
)
from bot.core.dates import DateError
from bot.core.text import mention
from bot.slack import ids
from bot.slack.blocks import commitments as blocks
from bot.slack.commitment_messages import post_confirmation, refresh_message
from bot.slack.help import help_text
from bot.slack.people import UnknownPerson, actor_for, refresh_people
from bot.usecases import commitments
from bot.usecases.commitments import CommitError
from handlers import replies

MAX_CLOSED_AT_ONCE = 20  # one answer a person can read (50 refusals made a wall of text)


def register(app: App, services: Services) -> None:
    def ack_commit(ack: Ack, command: dict[str, Any]) -> None:
        if _wants_help(command):
            ack(text=help_text(ids.COMMIT), response_type="ephemeral")
        else:
            ack()

    def on_commit(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        words = (command.get("text") or "").split()
        if not words:
            if not open_new_commitment_form(services, client, command):
                respond(text=replies.FORM_TOO_SLOW, response_type="ephemeral")
            return
        if _wants_help(command):
            return  # the ack was the answer
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, words),
            refusals=(CommitError, CommitTextError, DateError),
            command=ids.COMMIT,
        )

    app.command(ids.COMMIT)(ack=ack_commit, lazy=[on_commit])


def _wants_help(command: dict[str, Any]) -> bool:
    words = (command.get("text") or "").split()
    return len(words) == 1 and words[0].lower() in replies.HELP_WORDS


def dispatch(
    services: Services, client: WebClient, command: dict[str, Any], words: list[str]
) -> dict[str, Any] | None:
    """Route to a subcommand, or read the text as a new commitment.

    A line that starts with a subcommand's word but does not fit it ("Drop off kits at the
    shelter by Friday", "List the shelters by Friday") is a new commitment when it has a date;
    without one, the answer explains the subcommand rather than asking for a date.
    """
    head = words[0].lower()
    if head == "list":
        wanted = read_list_filter(words[1:])
        if wanted is not None:
            return list_commitments(services, command, wanted)
        if _has_date(command):
            return create(services, client, command)
        raise CommitError(list_usage_message(words[1:]))
    if head in FOLLOW_UP_VERBS:
        several = several_numbers(words[1:]) if head == "done" else None
        if several:
            return close_several(services, client, command, several)
        if len(words) >= 2 and is_commitment_number(words[1]):
            return change(services, client, command, head, parse_id(words[1]), " ".join(words[2:]))
        if len(words) == 1 or looks_like_a_number(words[1]) or not _has_date(command):
            raise CommitError(which_commitment_message(head, new_hint=len(words) > 2))
    return create(services, client, command)


def _has_date(command: dict[str, Any]) -> bool:
    """Whether the text reads as a commitment with a date phrase (a new commitment)."""
    return split_commit(command.get("text") or "")[0].when is not None


def create(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any] | None:
    """A new commitment from one line; Slack is asked about people before the transaction."""
    team_id, channel_id = command["team_id"], command.get("channel_id")
    readings = split_commit(command.get("text") or "")
    actor = actor_for(services, client, team_id, command["user_id"])
    try:
        if readings[0].owners:
            refresh_people(services, client, team_id, readings[0].owners)
    except UnknownPerson as unknown:
        raise CommitError(
            f"I can't find {mention(unknown.user_id)} in this workspace, so I can't make them "
            "an owner."
        ) from None
    with services.sessions.begin() as session:
        created = commitments.create_commitment(
            session,
            actor=actor,
            readings=readings,
            channel_id=channel_id,
            request_key=command.get("trigger_id"),
            default_zone=services.settings.timezone,
            now=services.clock(),
        )
    if not created.is_new and created.commitment.message_ts:
        return None  # a retry of a request already answered
    posted = post_confirmation(
        services, client, command["channel_id"], created.commitment, created.indicator
    )
    text, extra = blocks.after_creating(
        created.commitment,
        indicator=created.indicator,
        unlinked_tags=created.unlinked_tags,
        day_off=created.day_off,
        also_linked=created.also_linked,
    )
    if not extra:
        return posted
    if posted is not None:  # the confirmation is the answer: the remarks go under it
        posted["blocks"] = [*posted.get("blocks", []), *extra]
        return posted
    return {"text": text, "blocks": extra}


def list_commitments(
    services: Services, command: dict[str, Any], wanted: ListFilter
) -> dict[str, Any]:
    now = services.clock()
    with services.sessions() as session:
        found = commitments.list_open(
            session,
            team_id=command["team_id"],
            user_id=command["user_id"],
            wanted=wanted,
            limit=blocks.MAX_LIST_ITEMS,
            now=now,
        )
    if not found.team_known:
        with services.sessions.begin() as session:
            commitments.register_team(
                session, command["team_id"], default_zone=services.settings.timezone, now=now
            )
    title = blocks.list_title(wanted)
    message = blocks.build_commitment_list(
        found.items, title=title, total=found.total, now=now, more_hint=blocks.LIST_MORE_HINT
    )
    return {"text": f"{title} ({found.total})", "blocks": message}


def change(
    services: Services,
    client: WebClient,
    command: dict[str, Any],
    verb: str,
    commitment_id: int,
    rest: str,
) -> dict[str, Any]:
    actor = actor_for(services, client, command["team_id"], command["user_id"])
    changed = replies.change_commitment(services, actor, verb, commitment_id, rest, command)
    refresh_message(services, client, changed.commitment)
    if changed.day_off is not None:  # moved to a day off: said, with a button to the next one
        text, extra = blocks.after_moving(changed.answer, changed.commitment, changed.day_off)
        return {"text": text, "blocks": extra}
    return {"text": changed.answer}


def close_several(
    services: Services, client: WebClient, command: dict[str, Any], numbers: list[int]
) -> dict[str, Any]:
    """`done 3 4`: each closed on its own, so one refusal never undoes or hides another; the
    answer names what was closed and what was not, and why."""
    if len(numbers) > MAX_CLOSED_AT_ONCE:
        raise CommitError(
            f"That is {len(numbers)} commitments: close at most {MAX_CLOSED_AT_ONCE} at once, "
            "e.g. `/commit done 3 4`. Nothing was closed."
        )
    actor = actor_for(services, client, command["team_id"], command["user_id"])
    closed: list[int] = []
    refused: list[str] = []
    for number in numbers:
        try:
            changed = replies.change_commitment(services, actor, "done", number, "", command)
        except CommitError as error:
            refused.append(f"#{number} was not closed: {error}")
            continue
        closed.append(number)
        refresh_message(services, client, changed.commitment)
    lines = []
    if closed:
        names = " and ".join(
            [", ".join(f"#{n}" for n in closed[:-1]), f"#{closed[-1]}"]
            if len(closed) > 1
            else [f"#{closed[0]}"]
        )
        lines.append(f"✅ {names} {'are' if len(closed) > 1 else 'is'} done. Thank you!")
    lines.extend(refused)
    return {"text": "\n".join(lines)}


def open_new_commitment_form(
    services: Services, client: WebClient, command: dict[str, Any]
) -> bool:
    """The form offers the indicators that exist in this channel, like `#tag` does."""
    with services.sessions() as session:
        options = commitments.indicator_choices(
            session, command["team_id"], command.get("channel_id")
        )
    view = blocks.build_new_commitment_modal(
        user_id=command["user_id"], channel_id=command.get("channel_id"), indicator_options=options
    )
    return replies.open_form(client, str(command.get("trigger_id") or ""), view)
