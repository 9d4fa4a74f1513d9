"""The /commstat slash command: this channel's meeting and digests, and the coalition's settings.

Meeting and weekly-digest changes are announced in the channel (everyone there is affected);
everything else answers the person who asked, privately. Errors store nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core.recurrence import (
    Recurrence,
    RecurrenceError,
    describe,
    describe_lead,
    format_when,
    parse_lead,
    parse_meeting,
    parse_weekly,
    zone_words,
)
from bot.followup import digest as digests
from bot.slack import errors, ids
from bot.slack.help import help_text, not_understood
from bot.slack.people import UnknownPerson, lookup
from bot.usecases.coalition_settings import (
    MENTION,
    SettingsError,
    apply_change,
    days_text,
    holidays_text,
    hour_text,
    parse_change,
    quiet_text,
    unescaped_mention,
)
from bot.usecases.commitments import Actor
from bot.usecases.meetings import occurrence_after, schedule_for
from handlers import replies
from handlers.commit import actor_for
from storage.models import (
    Commitment,
    CommitmentStatus,
    Indicator,
    OutboxMessage,
    OutboxStatus,
    Person,
    Schedule,
    Team,
)

logger = logging.getLogger(__name__)

MEETING, WEEKLY = "meeting", "weekly_digest"
REPORT_DAYS = 30
DELIVER_SECONDS = 20.0  # `digest now` sends in the request thread; the scheduler does the rest


class CommstatError(Exception):
    """A request we refuse; the message is shown to the person who asked."""


def register(app: App, services: Services) -> None:
    @app.command(ids.COMMSTAT)
    def on_commstat(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = " ".join((command.get("text") or "").split())
        if not text or text.lower() in replies.HELP_WORDS:
            ack(text=help_text(ids.COMMSTAT), response_type="ephemeral")
            return
        ack()
        replies.answer(
            respond,
            lambda: dispatch(services, client, command, text),
            refusals=(CommstatError, RecurrenceError, SettingsError),
            command=ids.COMMSTAT,
        )


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


def _team(
    services: Services, client: WebClient, session: Session, command: dict[str, Any]
) -> tuple[Team, Actor]:
    actor = actor_for(services, client, session, command["team_id"], command["user_id"])
    team = session.get(Team, command["team_id"])
    assert team is not None
    return team, actor


def _announce(client: WebClient, command: dict[str, Any], text: str) -> dict[str, Any] | None:
    """Say it in the channel; where the bot can't post, answer in the conversation instead."""
    try:
        client.chat_postMessage(channel=command["channel_id"], text=text)
    except SlackApiError as error:
        logger.info(
            "could not post to %s (%s); answering in place",
            command.get("channel_id"),
            error.response.get("error"),
        )
        return {"response_type": "in_channel", "text": text}
    return None


def _may_change(schedule: Schedule, actor: Actor) -> None:
    """A channel's meeting or weekly digest is changed by whoever set it or a coalition admin;
    anyone may set the first one."""
    if actor.is_admin or schedule.created_by == actor.user_id:
        return
    what = "CommStat meeting" if schedule.kind == MEETING else "weekly digest"
    raise CommstatError(
        f"Only <@{schedule.created_by}>, who set this channel's {what}, or a coalition admin can "
        "change or stop it. Nothing was changed."
    )


def _channel(command: dict[str, Any]) -> str:
    return f"<#{command['channel_id']}>"


def _meeting_lines(schedule: Schedule, now: datetime) -> tuple[str, datetime | None]:
    """`every Thursday at 10:00 AM New York time. Next: Thu, Dec 3, 2026 at 10:00 AM.`"""
    local_start = schedule.dtstart.astimezone(ZoneInfo(schedule.time_zone))
    words = f"{describe(schedule.rrule, local_start)} {zone_words(schedule.time_zone)}"
    upcoming = occurrence_after(schedule, now)
    if upcoming is not None:
        words += f". Next: {format_when(upcoming)}"
    return words, upcoming


def _digest_sentence(schedule: Schedule, upcoming: datetime | None, now: datetime) -> str:
    lead = schedule.digest_lead_minutes
    sentence = f"The digest will be posted here {describe_lead(lead)} before"
    if upcoming is None:
        return sentence + " each meeting."
    digest_at = upcoming - timedelta(minutes=lead)
    if digest_at <= now:
        return sentence + " each meeting; for the next one, within a few minutes."
    return sentence + f" ({format_when(digest_at, year=False)})."


# --- meetings -------------------------------------------------------------------------------


def set_meeting(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any] | None:
    now = services.clock()
    with services.sessions.begin() as session:
        team, actor = _team(services, client, session, command)
        recurrence = parse_meeting(phrase, now=now, tz=team.time_zone)
        schedule, replaced = _save_schedule(
            session, command, actor, MEETING, recurrence, phrase, now=now, lead_minutes=24 * 60
        )
        words, upcoming = _meeting_lines(schedule, now)
        text = f"CommStat meeting for {_channel(command)}: {words}. " + _digest_sentence(
            schedule, upcoming, now
        )
    if replaced:
        text += f"\n(This replaces the previous meeting: {replaced}.)"
    text += f"\nSet by <@{command['user_id']}>."
    return _announce(client, command, text)


def _save_schedule(
    session: Session,
    command: dict[str, Any],
    actor: Actor,
    kind: str,
    recurrence: Recurrence,
    phrase: str,
    *,
    now: datetime,
    lead_minutes: int,
) -> tuple[Schedule, str | None]:
    """This channel's meeting or weekly digest, created or replaced (by whoever may change it);
    returns it and, when replaced, the old one in words. A new meeting's digest lead is
    `lead_minutes`; a replaced meeting keeps the lead it was given."""
    schedule = schedule_for(session, command["team_id"], command["channel_id"], kind)
    replaced = None
    if schedule is None:
        schedule = Schedule(
            team_id=command["team_id"],
            channel_id=command["channel_id"],
            kind=kind,
            digest_lead_minutes=lead_minutes,
            created_at=now,
        )
        session.add(schedule)
    else:
        _may_change(schedule, actor)
        replaced = _meeting_lines(schedule, now)[0].split(". Next:")[0]
    schedule.rrule = recurrence.rule
    schedule.dtstart = recurrence.dtstart
    schedule.time_zone = recurrence.time_zone
    schedule.description = phrase[:200]
    schedule.created_by = actor.user_id
    schedule.next_run_at = None  # the next pass works out when to post
    return schedule, replaced


def show_meeting(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any]:
    now = services.clock()
    with services.sessions.begin() as session:
        _team(services, client, session, command)
        schedule = schedule_for(session, command["team_id"], command["channel_id"], MEETING)
        if schedule is None:
            return {
                "text": f"{_channel(command)} has no CommStat meeting yet. Set one with "
                "`/commstat meeting every Thursday at 10am`."
            }
        words, upcoming = _meeting_lines(schedule, now)
        return {
            "text": f"CommStat meeting for {_channel(command)}: {words}. "
            + _digest_sentence(schedule, upcoming, now)
            + "\nChange it with `/commstat meeting …`, `/commstat digest 2 hours before`, "
            "or stop it with `/commstat meeting off`."
        }


def remove_schedule(
    services: Services, client: WebClient, command: dict[str, Any], kind: str
) -> dict[str, Any] | None:
    now = services.clock()
    with services.sessions.begin() as session:
        _, actor = _team(services, client, session, command)
        schedule = schedule_for(session, command["team_id"], command["channel_id"], kind)
        if schedule is None:
            what = "CommStat meeting" if kind == MEETING else "weekly digest"
            raise CommstatError(f"{_channel(command)} has no {what}, so there is nothing to stop.")
        _may_change(schedule, actor)
        words = _meeting_lines(schedule, now)[0].split(". Next:")[0]
        session.delete(schedule)
    if kind == MEETING:
        text = (
            f"The CommStat meeting for {_channel(command)} ({words}) is removed: no more "
            "pre-meeting digests here."
        )
    else:
        text = f"The weekly CommStat digest for {_channel(command)} ({words}) is stopped."
    return _announce(client, command, text + f" Removed by <@{command['user_id']}>.")


def set_lead(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any]:
    now = services.clock()
    minutes = parse_lead(phrase)
    with services.sessions.begin() as session:
        _, actor = _team(services, client, session, command)
        schedule = schedule_for(session, command["team_id"], command["channel_id"], MEETING)
        if schedule is None:
            raise CommstatError(
                f"{_channel(command)} has no CommStat meeting yet, so there is no digest to move. "
                "Set the meeting first: `/commstat meeting every Thursday at 10am`."
            )
        _may_change(schedule, actor)
        schedule.digest_lead_minutes = minutes
        schedule.next_run_at = None
        _, upcoming = _meeting_lines(schedule, now)
        if upcoming is not None and _digest_posted(session, schedule, upcoming):
            # That meeting's digest is out (once per meeting): the new lead starts with the next.
            posted_for = upcoming
            upcoming = occurrence_after(schedule, upcoming)
        else:
            posted_for = None
        text = (
            f"The pre-meeting digest for {_channel(command)} will now be posted "
            f"{describe_lead(minutes)} before each meeting."
        )
        if upcoming is not None:
            digest_at = upcoming - timedelta(minutes=minutes)
            when = (
                "within a few minutes" if digest_at <= now else format_when(digest_at, year=False)
            )
            text += (
                f" Next: {when}, for the meeting on {format_when(upcoming)}"
                f" {zone_words(schedule.time_zone)}."
            )
        if posted_for is not None:
            text += (
                f" (The digest for the meeting on {format_when(posted_for, year=False)} was "
                "already posted; it is not sent again.)"
            )
    return {"text": text}


def _digest_posted(session: Session, schedule: Schedule, meeting: datetime) -> bool:
    key = digests.digest_key(schedule.id, meeting, "1-message")
    return (
        session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
        is not None
    )


def set_weekly(
    services: Services, client: WebClient, command: dict[str, Any], phrase: str
) -> dict[str, Any] | None:
    now = services.clock()
    with services.sessions.begin() as session:
        team, actor = _team(services, client, session, command)
        recurrence = parse_weekly(phrase, now=now, tz=team.time_zone)
        schedule, replaced = _save_schedule(
            session, command, actor, WEEKLY, recurrence, phrase, now=now, lead_minutes=0
        )
        words, _ = _meeting_lines(schedule, now)
    text = f"Weekly CommStat digest for {_channel(command)}: {words}."
    if replaced:
        text += f"\n(This replaces the previous weekly digest: {replaced}.)"
    return _announce(client, command, text + f"\nSet by <@{command['user_id']}>.")


# --- digest now -----------------------------------------------------------------------------


def digest_now(
    services: Services, client: WebClient, command: dict[str, Any]
) -> dict[str, Any] | None:
    """Through the outbox, keyed by the request: a Slack retry of the command posts nothing twice,
    and the post gets the outbox's retries and rate limiting."""
    from bot.slack import outbox

    now = services.clock()
    team_id, channel_id = command["team_id"], command["channel_id"]
    with services.sessions.begin() as session:
        _team(services, client, session, command)
    with services.sessions() as session:
        since, upcoming, title = digests.digest_window(session, team_id, channel_id, now=now)
        digest = digests.build_digest(
            session,
            team_id=team_id,
            channel_id=channel_id,
            since=since,
            now=now,
            next_meeting=upcoming,
            title=title,
        )
    key = f"digest-now:{team_id}:{channel_id}:{command.get('trigger_id') or now.isoformat()}"
    with services.sessions.begin() as session:
        is_new = outbox.enqueue(
            session,
            team_id=team_id,
            key=f"{key}:1-message",
            kind="digest",
            channel=channel_id,
            payload={"text": digest.text, "blocks": digest.blocks},
            now=now,
            not_before=now,
        )
        if is_new and digest.chart_png is not None:
            outbox.enqueue(
                session,
                team_id=team_id,
                key=f"{key}:2-chart",
                kind="digest_chart",
                channel=channel_id,
                payload=digests.chart_payload(digest),
                now=now,
                not_before=now,
            )
    if not is_new:
        return None  # a retry of a request already being answered
    outbox.deliver(services, now=now, max_seconds=DELIVER_SECONDS)
    with services.sessions() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == f"{key}:1-message")
        ).one()
        status, error = row.status, row.last_error or ""
    if status == OutboxStatus.SENT:
        return None
    if status == OutboxStatus.FAILED:
        reason = next(
            (errors.for_the_channel(code) for code in errors.CANNOT_POST_HERE if code in error),
            None,
        )
        return {"text": "I couldn't post the digest here. " + (reason or f"Slack said: {error}.")}
    return {"text": "Slack is busy right now; the digest will be posted here in a moment."}


# --- settings -------------------------------------------------------------------------------


def _admins(session: Session, team_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Person.user_id)
            .where(Person.team_id == team_id, Person.is_admin.is_(True))
            .order_by(Person.user_id)
        ).all()
    )


def show_settings(services: Services, client: WebClient, command: dict[str, Any]) -> dict[str, Any]:
    from bot.slack import outbox

    now = services.clock()
    with services.sessions.begin() as session:
        team, _ = _team(services, client, session, command)
        admins = _admins(session, team.id)
        schedules = session.scalars(
            select(Schedule).where(Schedule.team_id == team.id).order_by(Schedule.channel_id)
        ).all()
        problems = outbox.problems(session, team.id, limit=5)
        lines = [
            "*CommStat settings*",
            f"• Time zone: *{zone_words(team.time_zone)}* (`{team.time_zone}`)",
            f"• Nudges: at *{hour_text(team.nudge_hour)}* in each person's own time zone, "
            f"on *{days_text(team.working_days)}*; overdue reminders every "
            f"*{team.overdue_every_days}* working day{'s' if team.overdue_every_days != 1 else ''}",
            f"• Quiet hours: *{quiet_text(team)}*",
            f"• Holidays: {holidays_text(team) or 'none'}",
            f"• Default place for indicators: {team.default_geography or 'none'}",
            "• Coalition admins: "
            + (", ".join(f"<@{a}>" for a in admins) or "none yet")
            + " (Slack workspace admins can change settings too)",
        ]
        for schedule in schedules:
            words, _ = _meeting_lines(schedule, now)
            if schedule.kind == MEETING:
                lines.append(
                    f"• Meeting in <#{schedule.channel_id}>: {words}; digest "
                    f"{describe_lead(schedule.digest_lead_minutes)} before"
                )
            else:
                lines.append(f"• Weekly digest in <#{schedule.channel_id}>: {words}")
        if problems:
            lines.append("*Delivery problems* (messages I could not send)")
            for problem in problems:
                where = (
                    f"<#{problem.channel}>"
                    if problem.channel[:1] in "CG"
                    else f"<@{problem.channel}>"
                )
                zone = ZoneInfo(team.time_zone)
                lines.append(
                    f"• {problem.kind} to {where} on {format_when(problem.created_at.astimezone(zone))}: "
                    f"{problem.last_error or 'unknown error'}"
                )
        else:
            lines.append("• Delivery problems: none")
        lines.append(
            "Change with e.g. `/commstat settings nudge hour 8` (`/commstat help` lists all)."
        )
    return {"text": "\n".join(lines)}


def _refusal(session: Session, team_id: str) -> CommstatError:
    admins = _admins(session, team_id)
    who = ", ".join(f"<@{a}>" for a in admins)
    if who:
        return CommstatError(
            f"Only coalition admins ({who}) and Slack workspace admins can change CommStat "
            "settings. Ask one of them. Nothing was changed."
        )
    return CommstatError(
        "Only coalition admins and Slack workspace admins can change CommStat settings, and "
        "there are no coalition admins yet: a Slack workspace admin can add one with "
        "`/commstat settings admin add @someone`. Nothing was changed."
    )


def change_settings(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    now = services.clock()
    change = parse_change(rest)
    with services.sessions.begin() as session:
        team, actor = _team(services, client, session, command)
        if not actor.is_admin:
            raise _refusal(session, team.id)
        people: dict[str, Person] = {}
        if change.name in ("admin_add", "admin_remove"):
            for user_id in change.value:
                try:
                    people[user_id] = lookup(session, client, team.id, user_id, now=now)
                except UnknownPerson:
                    raise CommstatError(
                        f"I can't find <@{user_id}> in this workspace. Nothing was changed."
                    ) from None
        said = apply_change(team, change, people)
        if change.affects_schedule:
            _reschedule(session, team.id, now)
    return {"text": f"{said}\nChanged by <@{command['user_id']}>."}


def _reschedule(session: Session, team_id: str, now: datetime) -> None:
    """Times depend on the settings: have the next pass work every nudge and digest out again."""
    session.execute(update(Schedule).where(Schedule.team_id == team_id).values(next_run_at=None))
    session.execute(
        update(Commitment)
        .where(Commitment.team_id == team_id, Commitment.status == CommitmentStatus.OPEN)
        .values(next_check_at=now)
    )
    session.execute(
        update(Indicator).where(Indicator.team_id == team_id).values(next_check_at=None)
    )


def set_organisation(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    now = services.clock()
    m = re.fullmatch(r"\s*(<@[^>]+>)\s+(.+)", rest)
    user = MENTION.fullmatch(m[1]) if m else None
    if m is None and "@" in rest:
        raise CommstatError(unescaped_mention(rest.split()[0]))
    if m is None or user is None:
        raise CommstatError(
            "Say whose organisation, e.g. `/commstat org @lee Health Department` "
            "(or `/commstat org @lee none` to clear it)."
        )
    organisation = " ".join(m[2].split())[:200]
    with services.sessions.begin() as session:
        team, actor = _team(services, client, session, command)
        if not actor.is_admin:
            raise _refusal(session, team.id)
        try:
            person = lookup(session, client, team.id, user[1], now=now)
        except UnknownPerson:
            raise CommstatError(
                f"I can't find <@{user[1]}> in this workspace. Nothing was changed."
            ) from None
        if organisation.lower() in ("none", "off", "-"):
            person.organisation = None
            return {
                "text": f"<@{person.user_id}> has no organisation now (reports list them apart)."
            }
        person.organisation = organisation
    return {"text": f"<@{user[1]}> is now with *{organisation}* in on-time reports."}


def report(
    services: Services, client: WebClient, command: dict[str, Any], rest: str
) -> dict[str, Any]:
    from bot.usecases.report import build_report

    now = services.clock()
    days = REPORT_DAYS
    if rest:
        m = re.fullmatch(r"(?:last|past) (\d{1,4}) days?", rest.strip().lower())
        if not m or not 1 <= int(m[1]) <= 3660:
            raise CommstatError(
                "Say which period, e.g. `/commstat report` (last 30 days) or "
                "`/commstat report last 90 days`."
            )
        days = int(m[1])
    with services.sessions.begin() as session:
        _team(services, client, session, command)
        blocks = build_report(
            session, team_id=command["team_id"], since=now - timedelta(days=days), now=now
        )
    return {"text": f"On-time report, last {days} days", "blocks": blocks}
