"""The coalition's settings: who may change them, making a change, and each person's organisation.

Changes are read by `bot.core.coalition_settings_parser` before anything is touched; here they are applied
to the Team row inside the caller's transaction, so a refusal leaves everything as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.coalition_settings_parser import (
    Change,
    Organisation,
    SettingsError,
    day_text,
    days_text,
    hour_text,
    in_quiet,
    quiet_text,
    upcoming_text,
)
from bot.core.nudge_rules import team_holidays
from bot.core.public_holidays import (
    OFF,
    calendar_country,
    canonical,
    public_holidays,
    supported,
)
from bot.core.text import mention, safe
from bot.usecases.commitments import Actor
from bot.usecases.meetings import ScheduleTimes, schedule_times
from storage.models import Commitment, CommitmentStatus, Indicator, Person, Schedule, Team
from storage.repositories import get_person


@dataclass(frozen=True)
class SettingsView:
    """Everything `/commstat settings` shows, read in one session."""

    team: Team
    admins: list[str]
    schedules: list[ScheduleTimes]
    today: date  # in the coalition's time zone


def admins(session: Session, team_id: str) -> list[str]:
    """The coalition's own admins (Slack workspace admins have the right without being listed)."""
    return list(
        session.scalars(
            select(Person.user_id)
            .where(Person.team_id == team_id, Person.is_admin.is_(True))
            .order_by(Person.user_id)
        ).all()
    )


def require_admin(session: Session, actor: Actor) -> None:
    """Settings and organisations change what everyone gets: only admins change them."""
    if actor.is_admin:
        return
    who = ", ".join(mention(a) for a in admins(session, actor.team_id))
    if who:
        raise SettingsError(
            f"Only coalition admins ({who}) and Slack workspace admins can change CommStat "
            "settings. Ask one of them. Nothing was changed."
        )
    raise SettingsError(
        "Only coalition admins and Slack workspace admins can change CommStat settings, and "
        "there are no coalition admins yet: a Slack workspace admin can add one with "
        "`/commstat settings admin add @someone`. Nothing was changed."
    )


def view(session: Session, team_id: str, *, now: datetime) -> SettingsView:
    team = session.get(Team, team_id)
    assert team is not None  # the caller looked up the person asking, which creates the team
    rows = session.scalars(
        select(Schedule).where(Schedule.team_id == team_id).order_by(Schedule.channel_id)
    ).all()
    today = now.astimezone(ZoneInfo(team.time_zone)).date()
    return SettingsView(
        team, admins(session, team_id), [schedule_times(s, now) for s in rows], today
    )


def change_settings(session: Session, actor: Actor, change: Change, *, now: datetime) -> str:
    """Make the change (people named in it must already be stored); return it in words."""
    require_admin(session, actor)
    team = session.get(Team, actor.team_id)
    assert team is not None
    people: dict[str, Person] = {}
    if change.name in ("admin_add", "admin_remove"):
        for user_id in change.value:
            person = get_person(session, actor.team_id, user_id)
            if person is None:
                raise SettingsError(
                    f"I can't find {mention(user_id)} in this workspace. Nothing was changed."
                )
            people[user_id] = person
    today = now.astimezone(ZoneInfo(team.time_zone)).date()
    said = apply_change(team, change, people, today=today)
    if change.affects_schedule:
        _reschedule(session, team.id, now)
    return said


def _next_occurrence(text: str, today: date) -> str:
    """`--12-31` is the next Dec 31 (today counts); an ISO date stays as it is."""
    if not text.startswith("--"):
        return text
    month, day = int(text[2:4]), int(text[5:7])
    for year in range(today.year, today.year + 9):  # Feb 29: the next leap year
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found.isoformat()
    raise SettingsError(f"{safe(text)} is not a day of the year.")


def _upcoming(team: Team, today: date) -> str:
    return "Next: " + (upcoming_text(team_holidays(team), today) or "none") + "."


def _change_holidays(team: Team, days: list[str], *, adding: bool, today: date) -> str:
    """Add days off, or take them away: a public holiday is turned off (or on again), a day an
    admin added is removed."""
    country = calendar_country(team.holiday_country, team.time_zone)
    public = {day.isoformat() for day in (public_holidays(country) if country else {})}
    added = set(team.holidays or [])
    off = set(team.holidays_off or [])
    days = list(dict.fromkeys(days))  # "Dec 24, Dec 24" is one day
    for day in days:
        if adding and date.fromisoformat(day) < today:
            raise SettingsError(
                f"{day_text(day)} is in the past: holidays matter for the days ahead. "
                "Nothing was changed."
            )
        if adding:
            if day in off:
                off.discard(day)  # a public holiday turned back on
            elif day not in public:
                added.add(day)
        elif day in added:
            added.discard(day)
        elif day in public and day not in off:
            off.add(day)
        else:
            raise SettingsError(
                f"{day_text(day)} is not a holiday here, so nothing was changed. "
                f"{_upcoming(team, today)}"
            )
    team.holidays = sorted(added)
    team.holidays_off = sorted(off)
    listed = ", ".join(day_text(d) for d in days)
    verb = "Now a holiday" if adding else "No longer a holiday"
    return f"{verb}: {listed} (no nudges on holidays). {_upcoming(team, today)}"


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


def set_organisation(session: Session, actor: Actor, choice: Organisation) -> Person:
    """The organisation a person reports under (the person must already be stored)."""
    require_admin(session, actor)
    person = get_person(session, actor.team_id, choice.user_id)
    if person is None:
        raise SettingsError(
            f"I can't find {mention(choice.user_id)} in this workspace. Nothing was changed."
        )
    person.organisation = choice.name
    return person


def apply_change(team: Team, change: Change, people: dict[str, Person], *, today: date) -> str:
    """Make the change on the team (and people); return what changed, in words. `today` (in the
    coalition's zone, from the caller's clock) says which Dec 31 is the next one."""
    if change.name == "nudge_every":
        team.overdue_every_days = change.value
        return f"Overdue commitments are now nudged every {change.value} working day{'s' if change.value != 1 else ''}."
    if change.name == "nudge_hour":
        hour = change.value
        if in_quiet(team.quiet_start, team.quiet_end, hour):
            raise SettingsError(
                f"{hour_text(hour)} is inside quiet hours "
                f"({quiet_text(team.quiet_start, team.quiet_end)}); pick another hour "
                "or change quiet hours first."
            )
        team.nudge_hour = hour
        return f"Nudges now go out at {hour_text(hour)} in each person's own time zone."
    if change.name == "quiet":
        if change.value is None:
            team.quiet_start = team.quiet_end = None
            return "Quiet hours are off."
        start, end = change.value
        if in_quiet(start, end, team.nudge_hour):
            raise SettingsError(
                f"Those quiet hours would cover the nudge hour ({hour_text(team.nudge_hour)}); "
                "change the nudge hour first, e.g. `/commstat settings nudge hour 9`."
            )
        team.quiet_start, team.quiet_end = start, end
        return (
            f"Quiet hours are now {quiet_text(start, end)}: no nudges then, in anyone's time zone."
        )
    if change.name == "working_days":
        team.working_days = list(change.value)
        return f"Working days are now {days_text(team.working_days)}: nudges only go out on those days."
    if change.name == "time_zone":
        team.time_zone = change.value
        return (
            f"The coalition's time zone is now {change.value}. People's own Slack time zones "
            "still set when they get nudges; meetings keep the zone they were set in "
            "(set a meeting again to move it)."
        )
    if change.name in ("holidays_add", "holidays_remove"):
        days = [_next_occurrence(d, today) for d in change.value]
        return _change_holidays(team, days, adding=change.name == "holidays_add", today=today)
    if change.name == "holiday_country":
        code = change.value
        if code != OFF and not supported(code):
            raise SettingsError(
                f"I don't know the public holidays of `{safe(code, 10)}`. Use a two-letter "
                "country code such as US, CA or GB, or `none`. Nothing was changed."
            )
        code = code if code == OFF else canonical(code)  # "USA" is "US"
        before = calendar_country(team.holiday_country, team.time_zone)
        team.holiday_country = code
        if code != OFF and code == before and team.holidays_off:
            # the same calendar: the public holidays an admin turned off stay off, as said
            kept = ", ".join(day_text(d) for d in sorted(team.holidays_off))
            return (
                f"Public holidays are {code}'s already; these stay working days, as set: {kept} "
                f"(`holidays on <day>` makes one a holiday again). {_upcoming(team, today)}"
            )
        team.holidays_off = []
        if code == OFF:
            return "Public holidays are off: only the days you add are holidays."
        return f"Public holidays are now {code}'s. {_upcoming(team, today)}"
    if change.name in ("admin_add", "admin_remove"):
        adding = change.name == "admin_add"
        for user_id in change.value:
            people[user_id].is_admin = adding
        who = ", ".join(mention(u) for u in change.value)
        if adding:
            return f"{who} can now change CommStat settings."
        # A Slack workspace admin or owner keeps the right whatever the coalition's list says.
        still = [u for u in change.value if people[u].is_slack_admin]
        text = f"{who} {'is' if len(change.value) == 1 else 'are'} no longer on the coalition's admin list."
        if still:
            kept = ", ".join(mention(u) for u in still)
            return text + f" {kept} can still change settings as a Slack workspace admin."
        return text + " They can no longer change CommStat settings."
    if change.name == "default_geography":
        team.default_geography = change.value
        if change.value is None:
            return "No default place: indicators with several places show all of them."
        return (
            f"Indicators with several places now show {safe(change.value)} unless asked otherwise."
        )
    raise AssertionError(change.name)
