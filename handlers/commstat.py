"""The /commstat slash command: this channel's meeting and digests, and the coalition's settings.

Meeting and weekly-digest changes are announced in the channel (everyone there is affected);
everything else answers the person who asked, privately. Errors store nothing. People are looked
up in Slack before a transaction opens, so a slow Slack never holds the database's write lock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Services
from bot.core.coalition_settings_parser import SettingsError, parse_change, parse_organisation
from bot.core.recurrence import RecurrenceError, parse_lead
from bot.core.text import mention
from bot.followup import digest as digests
from bot.slack import errors, ids, outbox
from bot.slack.announce import announce
from bot.slack.blocks import coalition_settings as coalition_blocks
from bot.slack.blocks import report as report_blocks
from bot.slack.help import help_text, not_understood
from bot.slack.people import UnknownPerson, actor_for, refresh_people
from bot.usecases import coalition_settings, meetings
from bot.usecases.commitments import Actor
from bot.usecases.meetings import MEETING, WEEKLY, ScheduleRefused
from bot.usecases.report import report_rows
from handlers import replies

REPORT_DAYS = 30
DELIVER_SECONDS = 20.0  # `digest now` tries this long to send its digest; then the scheduler does


class CommstatError(Exception):
    """A request we refuse; the message is shown to the person who asked."""


def register(app: App, services: Services) -> None:
    def ack_commstat(ack: Ack, command: dict[str, Any]) -> None:
        if _wants_help(command):
            ack(text=help_text(ids.COMMSTAT), response_type="ephemeral")
        else:
            ack()

    def on_commstat(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        if _wants_help(command):
            return  # the ack was the answer
        text = " ".join((command.get("text") or "").split())
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, text),
            refusals=(CommstatError, RecurrenceError, SettingsError, ScheduleRefused),
            command=ids.COMMSTAT,
        )

    app.command(ids.COMMSTAT)(ack=ack_commstat, lazy=[on_commstat])


def _wants_help(command: dict[str, Any]) -> bool:
    text = " ".join((command.get("text") or "").split())
    return not text or text.lower() in replies.HELP_WORDS


def dispatch(
    services: Services, client: WebClient, command: dict[str, Any], text: str
) -> dict[str, Any] | None:
    low = text.lower()
    head, _, rest = text.partition(" ")
    head = head.lower()
    if head == "meeting":
        if not rest:
            return show_meeting(services, client, command)
        if rest.lower() in ("off", "none", "cancel", "remove", "delete", "stop"):
            return remove_schedule(services, client, command, MEETING)
        return set_meeting(services, client, command, rest)
    if low in ("digest now", "digest"):
        return (
            digest_now(services, client, command)
            if low == "digest now"
            else show_meeting(services, client, command)
        )
    if head == "digest":
        return set_lead(services, client, command, rest)
    if m := re.fullmatch(r"weekly(?: digest)?(?: (.*))?", text, flags=re.IGNORECASE):
        phrase = (m[1] or "").strip()
        if not phrase:
            raise CommstatError(
                "When? e.g. `/commstat weekly digest Monday 9am`, or `/commstat weekly digest off`."
            )
        if phrase.lower() in ("off", "none", "stop", "cancel", "remove"):
            return remove_schedule(services, client, command, WEEKLY)
        return set_weekly(services, client, command, phrase)
    if head == "settings":
        if not rest:
            return show_settings(services, client, command)
        return change_settings(services, client, command, rest)
    if head in ("org", "organisation", "organization"):
        return set_organisation(services, client, command, rest)
    if head == "report":
        return report(services, client, command, rest)
    return {"text": not_understood(ids.COMMSTAT, text)}


# --- helpers --------------------------------------------------------------------------------


def _actor(services: Services, client: WebClient, command: dict[str, Any]) -> Actor:
    """Who is asking (the team row is created on a workspace's first use)."""
    return actor_for(services, client, command["team_id"], command["user_id"])


def _refresh(services: Services, client: WebClient, team_id: str, user_ids: list[str]) -> None:
    """The people a change names, up to date from Slack before the change's transaction."""
    try:
        refresh_people(services, client, team_id, user_ids)
    except UnknownPerson as unknown:
        raise CommstatError(
            f"I can't find {mention(unknown.user_id)} in this workspace. Nothing was changed."
        ) from None


def _require_admin(services: Services, actor: Actor) -> None:
    """Refuse a non-admin before asking Slack about anyone they named."""
    with services.sessions() as session:
        coalition_settings.require_admin(session, actor)


def _digest_key(schedule_id: int, meeting: datetime) -> str:
    return digests.digest_key(schedule_id, meeting, "1-message")


# --- meetings -------------------------------------------------------------------------------


def set_meeting(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any] | None:
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions.begin() as session:
        saved = meetings.set_meeting(session, actor, command["channel_id"], phrase, now=now)
    return announce(
        client, command["channel_id"], coalition_blocks.meeting_set(saved, actor.user_id, now)
    )


def show_meeting(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any]:
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions() as session:
        times = meetings.meeting_of(session, actor.team_id, command["channel_id"], now=now)
    return {"text": coalition_blocks.meeting_shown(times, command["channel_id"], now)}


def remove_schedule(
    services: Services, client: WebClient, command: dict[str, Any], kind: str
) -> dict[str, Any] | None:
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions.begin() as session:
        stopped = meetings.stop(session, actor, command["channel_id"], kind, now=now)
    return announce(client, command["channel_id"], coalition_blocks.stopped(stopped, actor.user_id))


def set_lead(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any]:
    minutes = parse_lead(phrase)
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions.begin() as session:
        moved = meetings.set_digest_lead(
            session, actor, command["channel_id"], minutes, now=now, digest_key=_digest_key
        )
    return {"text": coalition_blocks.lead_moved(moved, now)}


def set_weekly(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any] | None:
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions.begin() as session:
        saved = meetings.set_weekly_digest(session, actor, command["channel_id"], phrase, now=now)
    return announce(
        client, command["channel_id"], coalition_blocks.weekly_digest_set(saved, actor.user_id)
    )


# --- digest now -----------------------------------------------------------------------------


def digest_now(
    services: Services, client: WebClient, command: dict[str, Any]
) -> dict[str, Any] | None:
    """Through the outbox, keyed by the request: a Slack retry of the command posts nothing twice,
    and the post gets the outbox's retries and rate limiting. Only this digest is delivered here;
    other messages waiting in the outbox are left to the scheduler."""
    now = services.clock()
    _actor(services, client, command)  # the team row, on a workspace's first use
    posted = digests.post_now(
        services,
        team_id=command["team_id"],
        channel_id=command["channel_id"],
        request=command.get("trigger_id") or now.isoformat(),
        now=now,
        max_seconds=DELIVER_SECONDS,
    )
    if not posted.new or posted.status == "sent":
        return None  # posted, or a retry of a request already being answered
    if posted.status == "failed":
        reason = errors.for_the_channel(posted.error_code) or f"Slack said: {posted.error}."
        return {"text": "I couldn't post the digest here. " + reason}
    return {"text": "Slack is busy right now; the digest will be posted here in a moment."}


# --- settings -------------------------------------------------------------------------------


def show_settings(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any]:
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions() as session:
        view = coalition_settings.view(session, actor.team_id, now=now)
        problems = outbox.problems(session, actor.team_id, limit=5)
    return {"text": coalition_blocks.settings_text(view, problems)}


def change_settings(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    change = parse_change(rest)
    actor = _actor(services, client, command)
    _require_admin(services, actor)
    if change.name in ("admin_add", "admin_remove"):
        _refresh(services, client, actor.team_id, list(change.value))
    now = services.clock()
    with services.sessions.begin() as session:
        said = coalition_settings.change_settings(session, actor, change, now=now)
    return {"text": coalition_blocks.settings_changed(said, actor.user_id)}


def set_organisation(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    choice = parse_organisation(rest)
    actor = _actor(services, client, command)
    _require_admin(services, actor)
    _refresh(services, client, actor.team_id, [choice.user_id])
    with services.sessions.begin() as session:
        coalition_settings.set_organisation(session, actor, choice)
    return {"text": coalition_blocks.organisation_set(choice)}


def report(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    days = REPORT_DAYS
    if rest:
        m = re.fullmatch(r"(?:last|past) (\d{1,4}) days?", rest.strip().lower())
        if not m or not 1 <= int(m[1]) <= 3660:
            raise CommstatError(
                "Say which period, e.g. `/commstat report` (last 30 days) or "
                "`/commstat report last 90 days`."
            )
        days = int(m[1])
    actor = _actor(services, client, command)
    now = services.clock()
    with services.sessions() as session:
        found = report_rows(
            session, team_id=actor.team_id, since=now - timedelta(days=days), now=now
        )
    return {
        "text": f"On-time report, last {days} days",
        "blocks": report_blocks.report_blocks(found),
    }
