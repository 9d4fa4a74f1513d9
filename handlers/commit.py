"""The /commit slash command: make, list and follow up commitments."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core.commit_parser import (
    CommitTextError,
    parse_commit,
    split_commit,
    unknown_mention_message,
)
from bot.core.dates import DateError, format_due, parse_due
from bot.slack import ids
from bot.slack.blocks import commitments as blocks
from bot.slack.help import help_text
from bot.slack.people import UnknownPerson, lookup
from bot.usecases import commitments
from bot.usecases.commitments import Actor, CommitError
from bot.usecases.meetings import next_meeting
from handlers import replies
from storage import repositories as repo
from storage.models import Commitment, Indicator, Team

logger = logging.getLogger(__name__)

MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$")
# a name typed without picking it from Slack's list: plain text, not <@U...>
PLAIN_MENTION = re.compile(r"^@\w")
ID_TOKEN = re.compile(r"^#?\d+$")
SUBCOMMANDS = ("list", "done", "drop", "move", "note", "snooze")
SNOOZE_DEFAULT_DAYS = 3
_SNOOZE_RE = re.compile(
    r"(?:for )?(?P<n>\d{1,4}|an?|one)(?: ?(?P<unit>d|days?|w|wks?|weeks?))?", re.IGNORECASE
)


def register(app: App, services: Services) -> None:
    @app.command(ids.COMMIT)
    def on_commit(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = command.get("text") or ""
        words = text.split()
        if not words:
            ack()
            open_new_commitment_form(services, client, command)
            return
        if words[0].lower() in replies.HELP_WORDS and len(words) == 1:
            ack(text=help_text(ids.COMMIT), response_type="ephemeral")
            return
        ack()
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, words),
            refusals=(CommitError, CommitTextError, DateError),
            command=ids.COMMIT,
        )


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
            return list_commitments(services, client, command, wanted)
        if _has_date(command):
            return create(services, client, command)
        raise CommitError(_list_usage(words[1:]))
    if head in SUBCOMMANDS[1:]:
        if len(words) >= 2 and ID_TOKEN.match(words[1]):
            return change(
                services, client, command, head, commitments.parse_id(words[1]), " ".join(words[2:])
            )
        if len(words) == 1 or _looks_like_an_id(words[1]) or not _has_date(command):
            raise CommitError(_which_commitment(head, new_hint=len(words) > 2))
    return create(services, client, command)


def _has_date(command: dict[str, Any]) -> bool:
    """Whether the text reads as a commitment with a date phrase (a new commitment)."""
    return split_commit(command.get("text") or "")[0].when is not None


def _looks_like_an_id(word: str) -> bool:
    """`#`, `##3`, `#1;`: meant as a commitment number, never the start of an action."""
    return word.startswith("#") and not any(ch.isalpha() for ch in word)


def _which_commitment(verb: str, *, new_hint: bool) -> str:
    example = {"move": "12 next Friday", "drop": "12 <reason>", "note": "12 <text>"}.get(verb, "12")
    message = (
        f"Which commitment? Give its number, e.g. `/commit {verb} {example}` "
        "(numbers are in the confirmation and in `/commit list`)."
    )
    if new_hint:
        message += " To make a new commitment, say when it's due, e.g. `/commit <what> by Friday`."
    return message


@dataclass(frozen=True)
class ListFilter:
    """What `/commit list ...` asks for; no person and not `everyone` means my own."""

    person: str | None = None
    everyone: bool = False
    overdue: bool = False


_LIST_WORDS = {
    "all": "everyone", "everyone": "everyone", "everybody": "everyone",
    "mine": "mine", "me": "mine", "my": "mine",
    "overdue": "overdue", "late": "overdue",
}  # fmt: skip


def read_list_filter(words: list[str]) -> ListFilter | None:
    """The filter words after `list`, or None when some word is not one (then it may be a new
    commitment, "List the shelters by Friday"). A person typed as plain `@name` is refused."""
    person: str | None = None
    everyone = mine = overdue = False
    for word in words:
        mention = MENTION.match(word)
        kind = _LIST_WORDS.get(word.lower())
        if mention:
            if person is not None and person != mention.group(1):
                raise CommitError(
                    "I can list one person's commitments at a time, e.g. `/commit list @lee`."
                )
            person = mention.group(1)
        elif PLAIN_MENTION.match(word):
            raise CommitError(unknown_mention_message(word.rstrip(".,;:!?")))
        elif kind == "everyone":
            everyone = True
        elif kind == "mine":
            mine = True
        elif kind == "overdue":
            overdue = True
        else:
            return None
    if person is None and mine:
        everyone = False
    elif person is None and overdue:
        everyone = True  # `/commit list overdue` is everyone's overdue commitments
    return ListFilter(person=person, everyone=everyone and person is None, overdue=overdue)


def _list_usage(words: list[str]) -> str:
    for word in words:
        if PLAIN_MENTION.match(word):
            return unknown_mention_message(word.rstrip(".,;:!?"))
    unknown = next(
        (w for w in words if not MENTION.match(w) and w.lower() not in _LIST_WORDS), words[0]
    )
    shown = unknown if len(unknown) <= 30 else unknown[:29] + "…"
    return (
        f"I don't know how to list `{shown}`. Try `/commit list` (yours), "
        "`/commit list @someone`, `/commit list all` or `/commit list overdue`. "
        "To make a new commitment, say when it's due, e.g. `/commit <what> by Friday`."
    )


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
    services: Services, client: WebClient, command: dict[str, Any], wanted: ListFilter
) -> dict[str, Any]:
    now = services.clock()
    team_id, user_id = command["team_id"], command["user_id"]
    with services.sessions.begin() as session:
        repo.ensure_team(session, team_id, time_zone=services.settings.timezone, now=now)
        owner: str | None = user_id
        overdue_at: datetime | None = now if wanted.overdue else None
        kind = "overdue" if wanted.overdue else "open"
        if wanted.person:
            owner = wanted.person
            title = f"{kind.capitalize()} commitments of <@{owner}>"
        elif wanted.everyone:
            owner = None
            title = "Overdue commitments" if wanted.overdue else "All open commitments"
        else:
            title = f"Your {kind} commitments"
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
        days = snooze_days(rest, commitment.id)
        until = commitments.snooze(session, commitment, actor=actor, now=now, days=days)
        local = until.astimezone(ZoneInfo(commitment.time_zone))
        return (
            f"💤 Reminders for #{commitment.id} are paused until {format_due(local)}.",
            commitment,
        )
    raise CommitError(f"I don't know how to `{verb}` a commitment.")


def snooze_days(rest: str, commitment_id: int) -> int:
    """`5`, `5 days`, `1 week`, `for 2 weeks` (nothing: the default); anything else is refused
    rather than silently snoozed for the default. The 1-30 day range is checked by the core."""
    text = " ".join(rest.split())
    if not text:
        return SNOOZE_DEFAULT_DAYS
    match = _SNOOZE_RE.fullmatch(text)
    if match is None or (not match["n"].isdigit() and not match["unit"]):
        shown = text if len(text) <= 30 else text[:29] + "…"
        raise CommitError(
            f"I can't read “{shown}” as how long to snooze. Give days or weeks, 1 to 30 days, "
            f"e.g. `/commit snooze {commitment_id} 3 days` or `/commit snooze {commitment_id} "
            "1 week`."
        )
    count = int(match["n"]) if match["n"].isdigit() else 1
    weeks = (match["unit"] or "d").lower().startswith("w")
    return count * 7 if weeks else count


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
