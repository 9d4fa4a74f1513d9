"""What `/commstat` says about meetings, digests and the coalition's settings.

Plain mrkdwn text: these answers are a few lines, read in the channel or privately, and Slack
shows text the same on every client (and in notifications).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.coalition_settings_parser import (
    Organisation,
    days_text,
    holidays_text,
    hour_text,
    quiet_text,
    upcoming_text,
)
from bot.core.nudge_rules import team_holidays
from bot.core.public_holidays import calendar_country
from bot.core.recurrence import Recurrence, describe, describe_lead, format_when, zone_words
from bot.core.text import mention, safe, zone
from bot.usecases.coalition_settings import SettingsView
from bot.usecases.meetings import MEETING, LeadMoved, Saved, ScheduleTimes
from storage.models import OutboxMessage


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def schedule_words(recurrence: Recurrence) -> str:
    """`every Thursday at 10:00 AM New York time`."""
    local_start = recurrence.dtstart.astimezone(ZoneInfo(recurrence.time_zone))
    return f"{describe(recurrence.rule, local_start)} {zone_words(recurrence.time_zone)}"


def _with_next(times: ScheduleTimes) -> str:
    """`every Thursday at 10:00 AM New York time. Next: Thu, Dec 3, 2026 at 10:00 AM`."""
    words = schedule_words(times.recurrence)
    if times.upcoming is not None:
        words += f". Next: {format_when(times.upcoming)}"
    return words


def _digest_sentence(times: ScheduleTimes, now: datetime) -> str:
    sentence = f"The digest will be posted here {describe_lead(times.lead_minutes)} before"
    if times.upcoming is None:
        return sentence + " each meeting."
    digest_at = times.upcoming - timedelta(minutes=times.lead_minutes)
    if digest_at <= now:
        return sentence + " each meeting; for the next one, within a few minutes."
    return sentence + f" ({format_when(digest_at, year=False)})."


def meeting_set(saved: Saved, user_id: str, now: datetime) -> str:
    times = saved.schedule
    text = (
        f"CommStat meeting for {channel(times.channel_id)}: {_with_next(times)}. "
        + _digest_sentence(times, now)
    )
    if saved.replaced is not None:
        text += f"\n(This replaces the previous meeting: {schedule_words(saved.replaced)}.)"
    return text + f"\nSet by {mention(user_id)}."


def weekly_digest_set(saved: Saved, user_id: str) -> str:
    times = saved.schedule
    text = f"Weekly CommStat digest for {channel(times.channel_id)}: {_with_next(times)}."
    if saved.replaced is not None:
        text += f"\n(This replaces the previous weekly digest: {schedule_words(saved.replaced)}.)"
    return text + f"\nSet by {mention(user_id)}."


def meeting_shown(times: ScheduleTimes | None, channel_id: str, now: datetime) -> str:
    if times is None:
        return (
            f"{channel(channel_id)} has no CommStat meeting yet. Set one with "
            "`/commstat meeting every Thursday at 10am`."
        )
    return (
        f"CommStat meeting for {channel(channel_id)}: {_with_next(times)}. "
        + _digest_sentence(times, now)
        + "\nChange it with `/commstat meeting …`, `/commstat digest 2 hours before`, "
        "or stop it with `/commstat meeting off`."
    )


def stopped(times: ScheduleTimes, user_id: str) -> str:
    words = schedule_words(times.recurrence)
    if times.kind == MEETING:
        text = (
            f"The CommStat meeting for {channel(times.channel_id)} ({words}) is removed: no more "
            "pre-meeting digests here."
        )
    else:
        text = f"The weekly CommStat digest for {channel(times.channel_id)} ({words}) is stopped."
    return text + f" Removed by {mention(user_id)}."


def lead_moved(moved: LeadMoved, now: datetime) -> str:
    times = moved.meeting
    text = (
        f"The pre-meeting digest for {channel(times.channel_id)} will now be posted "
        f"{describe_lead(times.lead_minutes)} before each meeting."
    )
    if times.upcoming is not None:
        digest_at = times.upcoming - timedelta(minutes=times.lead_minutes)
        when = "within a few minutes" if digest_at <= now else format_when(digest_at, year=False)
        text += (
            f" Next: {when}, for the meeting on {format_when(times.upcoming)}"
            f" {zone_words(times.recurrence.time_zone)}."
        )
    if moved.posted_for is not None:
        text += (
            f" (The digest for the meeting on {format_when(moved.posted_for, year=False)} was "
            "already posted; it is not sent again.)"
        )
    return text


def settings_changed(said: str, user_id: str) -> str:
    return f"{said}\nChanged by {mention(user_id)}."


def organisation_set(choice: Organisation) -> str:
    who = mention(choice.user_id)
    if choice.name is None:
        return f"{who} has no organisation now (reports list them apart)."
    return f"{who} is now with *{safe(choice.name)}* in on-time reports."


def holidays_line(team: Any, today: date) -> str:
    """Whose public holidays apply, what was turned off or added, and the next few."""
    country = calendar_country(team.holiday_country, team.time_zone)
    line = (
        f"• Holidays: *{country} public holidays*" if country else "• Holidays: no public holidays"
    )
    if team.holidays_off:
        line += f", except {holidays_text(team.holidays_off)}"
    if team.holidays:
        line += f"; also {holidays_text(team.holidays)}"
    upcoming = upcoming_text(team_holidays(team), today)
    line += f" — next: {upcoming}" if upcoming else " — none coming"
    return line + " (`holidays add Dec 31` · `holidays off Nov 26` · `holidays country none`)"


def settings_text(view: SettingsView, problems: Sequence[OutboxMessage]) -> str:
    """`/commstat settings`: every setting, each channel's schedule and what could not be sent."""
    team = view.team
    every = team.overdue_every_days
    lines = [
        "*CommStat settings*",
        f"• Time zone: *{zone_words(team.time_zone)}* (`{team.time_zone}`)",
        f"• Nudges: at *{hour_text(team.nudge_hour)}* in each person's own time zone, "
        f"on *{days_text(team.working_days)}*; overdue reminders every "
        f"*{every}* working day{'s' if every != 1 else ''}",
        f"• Quiet hours: *{quiet_text(team.quiet_start, team.quiet_end)}*",
        holidays_line(team, view.today),
        f"• Default place for indicators: {safe(team.default_geography or 'none')}",
        "• Coalition admins: "
        + (", ".join(mention(a) for a in view.admins) or "none yet")
        + " (Slack workspace admins can change settings too)",
    ]
    for times in view.schedules:
        where = channel(times.channel_id)
        if times.kind == MEETING:
            lines.append(
                f"• Meeting in {where}: {_with_next(times)}; digest "
                f"{describe_lead(times.lead_minutes)} before"
            )
        else:
            lines.append(f"• Weekly digest in {where}: {_with_next(times)}")
    if problems:
        lines.append(
            "*Delivery problems* (messages I could not send, or held back because they were no longer true)"
        )
        local = zone(team.time_zone)
        for problem in problems:
            to = (
                channel(problem.channel)
                if problem.channel[:1] in "CG"
                else mention(problem.channel)
            )
            lines.append(
                f"• {problem.kind} to {to} on {format_when(problem.created_at.astimezone(local))}: "
                f"{safe(problem.last_error or 'unknown error', 300)}"
            )
    else:
        lines.append("• Delivery problems: none")
    lines.append("Change with e.g. `/commstat settings nudge hour 8` (`/commstat help` lists all).")
    return "\n".join(lines)
