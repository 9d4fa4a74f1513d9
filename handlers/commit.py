"""The /commit slash command: make, list and follow up commitments."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot import blocks, commitments, ids
from bot.commit_text import CommitTextError, parse_commit, split_commit
from bot.commitments import Actor, CommitError
from bot.dates import DateError, format_due, parse_due
from bot.help import help_text
from bot.meetings import next_meeting
from bot.people import UnknownPerson, lookup
from bot.services import Services
from storage import repositories as repo
from storage.models import Commitment, Indicator, Team

logger = logging.getLogger(__name__)

MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$")
ID_TOKEN = re.compile(r"^#?\d+$")
SUBCOMMANDS = ("list", "done", "drop", "move", "note", "snooze")


def register(app: App, services: Services) -> None:
    @app.command(ids.COMMIT)
    def on_commit(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = command.get("text") or ""
        words = text.split()
        if not words:
            ack()
            open_new_commitment_form(services, client, command)
            return
        if words[0].lower() == "help" and len(words) == 1:
            ack(text=help_text(ids.COMMIT), response_type="ephemeral")
            return
        ack()
        try:
            answer = dispatch(services, client, command, words)
        except (CommitError, CommitTextError, DateError) as error:
            respond(text=str(error), response_type="ephemeral", replace_original=False)
            return
        except Exception:
            logger.exception("/commit failed")
            respond(
                text="Sorry — something went wrong on my side and nothing was saved. Please try again.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        if answer is not None:
            answer.setdefault("response_type", "ephemeral")
            respond(**answer, replace_original=False)


def dispatch(
    services: Services, client: WebClient, command: dict[str, Any], words: list[str]
) -> dict[str, Any] | None:
    """Route to a subcommand, or read the text as a new commitment."""
    head = words[0].lower()
    if head == "list" and (len(words) == 1 or (len(words) == 2 and _is_list_target(words[1]))):
        return list_commitments(services, client, command, words[1] if len(words) == 2 else None)
    if head in SUBCOMMANDS[1:] and len(words) >= 2 and ID_TOKEN.match(words[1]):
        return change(
            services, client, command, head, commitments.parse_id(words[1]), " ".join(words[2:])
        )
    if head in SUBCOMMANDS[1:] and len(words) == 1:
        raise CommitError(
            f"Which commitment? Use `/commit {head} <number>`, e.g. `/commit {head} 12`."
        )
    return create(services, client, command)


def _is_list_target(word: str) -> bool:
    return word.lower() in ("all", "overdue", "mine") or bool(MENTION.match(word))


# --- who is asking --------------------------------------------------------------------------


def actor_for(
    services: Services, client: WebClient, session: Session, team_id: str, user_id: str
) -> Actor:
    """Who is acting, with their rights; the team row is created on a workspace's first use."""
    now = services.clock()
    repo.ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
    try:
        person = lookup(session, client, team_id, user_id, now=now)
    except UnknownPerson:
        person = repo.save_person(session, team_id, user_id)
    return Actor.of(person)


def _zone_of(session: Session, services: Services, team_id: str, user_id: str) -> str:
    person = repo.get_person(session, team_id, user_id)
    if person is not None and person.time_zone:
        return person.time_zone
    team = session.get(Team, team_id)
    return team.time_zone if team else services.settings.timezone


# --- new commitment -------------------------------------------------------------------------


def create(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any] | None:
    text = command.get("text") or ""
    now = services.clock()
    team_id, channel_id = command["team_id"], command.get("channel_id")
    with services.sessions.begin() as session:
        actor = actor_for(services, client, session, command["team_id"], command["user_id"])
        owners = list(split_commit(text)[0].owners) or [actor.user_id]
        for owner in owners:
            try:
                lookup(session, client, team_id, owner, now=now)
            except UnknownPerson:
                raise CommitError(
                    f"I can't find <@{owner}> in this workspace, so I can't make them an owner."
                ) from None
        zone = _zone_of(session, services, team_id, owners[0])
        parsed = parse_commit(
            text, now=now, tz=zone, next_meeting=next_meeting(session, team_id, channel_id, now=now)
        )
        indicator = (
            resolve_indicator(session, team_id, parsed.indicator) if parsed.indicator else None
        )
        commitment, is_new = commitments.create(
            session,
            actor=actor,
            owners=owners,
            what=parsed.what,
            due=parsed.due,
            indicator_id=indicator.id if indicator else None,
            channel_id=channel_id,
            request_key=command.get("trigger_id"),
            now=now,
        )
        indicator_slug = indicator.slug if indicator else None
    if not is_new and commitment.message_ts:
        return None  # a retry of a request already answered
    return post_confirmation(services, client, command, commitment, indicator_slug)


def resolve_indicator(session: Session, team_id: str, tag: str) -> Indicator:
    wanted = tag.lower().replace("_", "-")
    known = repo.indicators(session, team_id)
    for indicator in known:
        names = [indicator.slug, *(a.lower().replace(" ", "-") for a in indicator.aliases)]
        if wanted in names:
            return indicator
    starts = [i for i in known if i.slug.startswith(wanted)]
    if len(starts) == 1:
        return starts[0]
    choices = ", ".join(f"#{i.slug}" for i in known[:10]) or "none yet (`/indicator list`)"
    raise CommitError(
        f"I don't know the indicator #{tag}. Known indicators: {choices}. Nothing was saved."
    )


def post_confirmation(
    services: Services,
    client: WebClient,
    command: dict[str, Any],
    commitment: Commitment,
    indicator: str | None,
) -> dict[str, Any] | None:
    """Post in the channel for public accountability; if the bot can't post there, answer via
    the command's response URL, which works in any conversation."""
    now = services.clock()
    message_blocks = blocks.build_commitment_message(commitment, now=now, indicator=indicator)
    fallback = blocks.message_fallback(commitment)
    try:
        posted = client.chat_postMessage(
            channel=command["channel_id"], text=fallback, blocks=message_blocks
        )
    except SlackApiError as error:
        logger.info(
            "could not post to %s (%s); answering in place",
            command.get("channel_id"),
            error.response.get("error"),
        )
        return {"response_type": "in_channel", "text": fallback, "blocks": message_blocks}
    with services.sessions.begin() as session:
        stored = repo.get_commitment(session, commitment.team_id, commitment.id)
        if stored is not None:
            stored.message_ts = posted["ts"]
    return None


# --- listing --------------------------------------------------------------------------------


def list_commitments(
    services: Services, client: WebClient, command: dict[str, Any], target: str | None
) -> dict[str, Any]:
    now = services.clock()
    team_id, user_id = command["team_id"], command["user_id"]
    with services.sessions.begin() as session:
        repo.ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
        owner: str | None = user_id
        overdue_at: datetime | None = None
        title = "Your open commitments"
        if target:
            mention = MENTION.match(target)
            if mention:
                owner = mention.group(1)
                title = f"Open commitments of <@{owner}>"
            elif target.lower() == "all":
                owner, title = None, "All open commitments"
            elif target.lower() == "overdue":
                owner, overdue_at, title = None, now, "Overdue commitments"
        hint = "ask for a narrower list: `/commit list @someone` or `/commit list overdue`."
        items = repo.open_commitments(
            session, team_id, owner=owner, overdue_at=overdue_at, limit=blocks.MAX_LIST_ITEMS
        )
        total = repo.count_open(session, team_id, owner=owner, overdue_at=overdue_at)
        message = blocks.build_commitment_list(
            items, title=title, total=total, now=now, more_hint=hint
        )
    return {"text": f"{title} ({total})", "blocks": message}


# --- changes --------------------------------------------------------------------------------


def change(
    services: Services,
    client: WebClient,
    command: dict[str, Any],
    verb: str,
    commitment_id: int,
    rest: str,
) -> dict[str, Any]:
    now = services.clock()
    with services.sessions.begin() as session:
        actor = actor_for(services, client, session, command["team_id"], command["user_id"])
        answer, commitment = apply_change(session, actor, verb, commitment_id, rest, now=now)
    refresh_message(services, client, commitment)
    return {"text": answer}


def apply_change(
    session: Session, actor: Actor, verb: str, commitment_id: int, rest: str, *, now: datetime
) -> tuple[str, Commitment]:
    """One change by one person, with its answer; shared by commands, buttons and forms."""
    commitment = commitments.load_for_change(session, actor, commitment_id)
    if verb == "done":
        note = commitments.complete(session, commitment, actor=actor, now=now, note=rest)
        with_note = f", with the note “{note}”" if note else ""
        return f"✅ #{commitment.id} is done{with_note}. Thank you!", commitment
    if verb == "drop":
        reason = commitments.drop(session, commitment, actor=actor, now=now, reason=rest)
        return f"✖️ #{commitment.id} was dropped: “{reason}”.", commitment
    if verb == "move":
        if not rest.strip():
            raise CommitError(f"To when? e.g. `/commit move {commitment.id} next Friday`.")
        due = parse_due(rest, now=now, tz=commitment.time_zone)
        commitments.move(session, commitment, actor=actor, now=now, due=due)
        return (
            f"📅 #{commitment.id} is now due {format_due(due.at, has_time=due.has_time)}.",
            commitment,
        )
    if verb == "note":
        note = commitments.add_note(session, commitment, actor=actor, now=now, text=rest)
        return f"📝 Note added to #{commitment.id}: “{note}”.", commitment
    if verb == "snooze":
        days = int(rest) if rest.strip().isdigit() else 3
        until = commitments.snooze(session, commitment, actor=actor, now=now, days=days)
        local = until.astimezone(ZoneInfo(commitment.time_zone))
        return (
            f"💤 Reminders for #{commitment.id} are paused until {format_due(local)}.",
            commitment,
        )
    raise CommitError(f"I don't know how to `{verb}` a commitment.")


def refresh_message(services: Services, client: WebClient, commitment: Commitment) -> None:
    """Keep the channel's confirmation message in step with the commitment (best effort)."""
    if not (commitment.channel_id and commitment.message_ts):
        return
    indicator = None
    if commitment.indicator_id:
        with services.sessions() as session:
            found = session.get(Indicator, commitment.indicator_id)
            indicator = found.slug if found else None
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


# --- the form -------------------------------------------------------------------------------


def open_new_commitment_form(
    services: Services, client: WebClient, command: dict[str, Any]
) -> None:
    with services.sessions() as session:
        options = [(i.slug, i.name) for i in repo.indicators(session, command["team_id"])]
    view = blocks.build_new_commitment_modal(
        user_id=command["user_id"], channel_id=command.get("channel_id"), indicator_options=options
    )
    client.views_open(trigger_id=command["trigger_id"], view=view)
