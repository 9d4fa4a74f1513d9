"""`/commstat settings …`: reading a change the way admins type it, and saying it back in words.

Pure parsing (`parse_change`) is separate from applying (`apply_change`, which edits the Team row
and people) so refusals happen before anything is touched: nothing is stored on error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rapidfuzz import process

from bot.core.dates import format_due
from storage.models import Person, Team

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>")

EXAMPLES = (
    "`/commstat settings nudge every 3 days` — overdue reminders every 3 working days",
    "`/commstat settings nudge hour 8` — reminders at 8:00 AM in each person's time zone",
    "`/commstat settings quiet hours 19-7` · `quiet hours off`",
    "`/commstat settings working days mon-fri` · `working days sun-thu`",
    "`/commstat settings time zone America/Chicago`",
    "`/commstat settings holidays add 2026-12-25` · `holidays remove 2026-12-25`",
    "`/commstat settings admin add @lee` · `admin remove @lee`",
    "`/commstat settings default geography MD` · `default geography off`",
)


class SettingsError(ValueError):
    """A settings change we will not make; `str(error)` is safe to show to the user."""


@dataclass(frozen=True)
class Change:
    """One parsed change. `affects_schedule`: nudge and digest times must be worked out again."""

    name: str  # nudge_every | nudge_hour | quiet | working_days | time_zone | holidays_add | ...
    value: Any
    affects_schedule: bool = True


def _help(detail: str) -> SettingsError:
    return SettingsError(
        f"{detail}\nSettings I can change:\n" + "\n".join(f"• {e}" for e in EXAMPLES)
    )


def hour_text(hour: int) -> str:
    return f"{hour % 12 or 12}:00 {'AM' if hour < 12 else 'PM'}"


def _hour(text: str) -> int:
    """`8`, `8am`, `19`, `7pm`, `19:00` → hour of day."""
    m = re.fullmatch(r"(\d{1,2})(?::00)?\s*([ap]\.?m\.?)?", text.strip().lower())
    if not m:
        raise ValueError(text)
    hour, half = int(m[1]), m[2]
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(text)
        return hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23:
        raise ValueError(text)
    return hour


def _days(text: str) -> list[str]:
    """`mon-fri`, `sun-thu`, `mon,tue,thu`, `monday to friday` → day codes in week order."""
    words = re.sub(r"\s*(?:-|–|to|through|thru)\s*", "-", text.strip().lower())
    chosen: list[str] = []
    for part in re.split(r"[\s,/&]+|\band\b", words):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) > 2 or not all(e[:3] in DAYS for e in ends):
            raise ValueError(part)
        first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        span = (last - first) % 7
        chosen += [DAYS[(first + i) % 7] for i in range(span + 1)]
    if not chosen:
        raise ValueError(text)
    return sorted(set(chosen), key=DAYS.index)


def days_text(days: list[str]) -> str:
    """`Mon–Fri`, `Sun–Thu`, or `Mon, Wed, Fri`."""
    if not days:
        return "none"
    idx = [DAYS.index(d) for d in days]
    for start in idx:  # a run that may wrap around the week (Sun–Thu)
        run = [(start + i) % 7 for i in range(len(idx))]
        if sorted(run) == sorted(idx) and len(idx) > 2:
            return f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}"
    return ", ".join(DAY_NAMES[i] for i in sorted(idx))


_US_ZONES = {
    **dict.fromkeys(["est", "edt", "et", "eastern"], "America/New_York"),
    **dict.fromkeys(["cst", "cdt", "ct", "central"], "America/Chicago"),
    **dict.fromkeys(["mst", "mdt", "mt", "mountain"], "America/Denver"),
    **dict.fromkeys(["pst", "pdt", "pt", "pacific"], "America/Los_Angeles"),
    **dict.fromkeys(["akst", "akdt", "alaska"], "America/Anchorage"),
    **dict.fromkeys(["hst", "hawaii"], "Pacific/Honolulu"),
}


def _zone(text: str) -> str:
    name = text.strip()
    # "EST" is a fixed offset with no daylight saving: a New York coalition would be an hour off
    # all summer. People who say EST or Eastern mean New York's clock.
    if (city := _US_ZONES.get(name.lower().removesuffix(" time"))) is not None:
        return city
    try:
        ZoneInfo(name)
        if "/" in name or name == "UTC":
            return name
    except (ZoneInfoNotFoundError, ValueError):
        pass
    known = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    lowered = {z.lower(): z for z in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = [z for z, _, _ in process.extract(name, known, limit=3)]
    raise SettingsError(
        f"I don't know the time zone `{name[:60]}`. Use a name like `America/Chicago` or "
        f"`Europe/London`. Closest: {', '.join(close)}."
    )


def _dates(text: str) -> list[str]:
    found: list[str] = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        try:
            found.append(date.fromisoformat(part).isoformat())
        except ValueError:
            raise SettingsError(
                f"`{part[:30]}` is not a date I can read. Write holidays as YYYY-MM-DD, e.g. "
                "`/commstat settings holidays add 2026-12-25 2027-01-01`."
            ) from None
    if not found:
        raise SettingsError("Which dates? e.g. `/commstat settings holidays add 2026-12-25`.")
    return found


def parse_change(text: str) -> Change:
    """Read the words after `/commstat settings`."""
    t = " ".join(text.strip().split())
    low = t.lower()
    if m := re.fullmatch(r"nudge(?:s)? (?:every|cadence) (\d+)(?: (?:working )?days?)?", low):
        days = int(m[1])
        if not 1 <= days <= 5:
            raise SettingsError(
                "Overdue reminders can repeat every 1 to 5 working days (at least weekly), "
                "e.g. `/commstat settings nudge every 3 days`."
            )
        return Change("nudge_every", days)
    if m := re.fullmatch(r"nudge(?:s)? (?:hour|time|at) (.+)", low):
        try:
            return Change("nudge_hour", _hour(m[1]))
        except ValueError:
            raise SettingsError(
                f"`{m[1][:20]}` is not an hour. e.g. `/commstat settings nudge hour 8` "
                "(8:00 AM) or `nudge hour 14`."
            ) from None
    if m := re.fullmatch(r"quiet(?: hours)? (.+)", low):
        if m[1] in ("off", "none", "no"):
            return Change("quiet", None)
        parts = re.split(r"\s*(?:-|–|to)\s*", m[1])
        try:
            start, end = (_hour(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            start = end = None
        if start is None or end is None or start == end:
            raise SettingsError(
                f"I couldn't read `{m[1][:30]}` as quiet hours. Give a start and end hour, e.g. "
                "`/commstat settings quiet hours 19-7` (7 PM to 7 AM), or `quiet hours off`."
            )
        return Change("quiet", (start, end))
    if m := re.fullmatch(r"(?:working|work) ?days? (.+)", low):
        try:
            chosen = _days(m[1])
        except ValueError:
            raise SettingsError(
                f"I couldn't read `{m[1][:30]}` as days of the week. e.g. "
                "`/commstat settings working days mon-fri` or `working days sun-thu`."
            ) from None
        return Change("working_days", chosen)
    if m := re.fullmatch(r"(?:time ?zone|tz) (.+)", low):
        return Change(
            "time_zone", _zone(t.split(None, 2 if low.startswith("time zone") else 1)[-1])
        )
    if m := re.fullmatch(r"holidays? (add|remove|delete) (.+)", low):
        return Change("holidays_" + ("add" if m[1] == "add" else "remove"), _dates(m[2]))
    if m := re.fullmatch(r"admins? (add|remove|delete) (.+)", t, flags=re.IGNORECASE):
        users = MENTION.findall(m[2])
        if not users:
            raise SettingsError(unescaped_mention(m[2]))
        kind = "admin_add" if m[1].lower() == "add" else "admin_remove"
        return Change(kind, users, affects_schedule=False)
    if m := re.fullmatch(r"default (?:geography|place|geo) (.+)", t, flags=re.IGNORECASE):
        value = None if m[1].lower() in ("off", "none") else m[1].strip()[:100]
        return Change("default_geography", value, affects_schedule=False)
    raise _help(f"I don't know the setting `{t[:60]}`.")


def unescaped_mention(text: str) -> str:
    """What to say when no user id came with a name (Slack sends ids only for escaped mentions)."""
    if "@" in text:
        return (
            f"I couldn't tell who `{text.strip()[:40]}` is: Slack sent the name without the "
            "person's id. Pick them from the @-mention list as you type, and if that still "
            "fails, ask whoever manages the app to turn on “Escape channels, users, and links” "
            "for /commstat. Nothing was changed."
        )
    return "Who? Mention them, e.g. `/commstat settings admin add @lee`."


def apply_change(team: Team, change: Change, people: dict[str, Person]) -> str:
    """Make the change on the team (and people); return what changed, in words."""
    if change.name == "nudge_every":
        team.overdue_every_days = change.value
        return f"Overdue commitments are now nudged every {change.value} working day{'s' if change.value != 1 else ''}."
    if change.name == "nudge_hour":
        hour = change.value
        if _in_quiet(team, hour):
            raise SettingsError(
                f"{hour_text(hour)} is inside quiet hours ({quiet_text(team)}); pick another hour "
                "or change quiet hours first."
            )
        team.nudge_hour = hour
        return f"Nudges now go out at {hour_text(hour)} in each person's own time zone."
    if change.name == "quiet":
        if change.value is None:
            team.quiet_start = team.quiet_end = None
            return "Quiet hours are off."
        start, end = change.value
        probe = Team(quiet_start=start, quiet_end=end)
        if _in_quiet(probe, team.nudge_hour):
            raise SettingsError(
                f"Those quiet hours would cover the nudge hour ({hour_text(team.nudge_hour)}); "
                "change the nudge hour first, e.g. `/commstat settings nudge hour 9`."
            )
        team.quiet_start, team.quiet_end = start, end
        return f"Quiet hours are now {quiet_text(team)}: no nudges then, in anyone's time zone."
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
        current = set(team.holidays or [])
        if change.name == "holidays_add":
            current |= set(change.value)
        else:
            missing = [d for d in change.value if d not in current]
            if missing:
                raise SettingsError(
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the "
                    f"holidays ({holidays_text(team) or 'none'})."
                )
            current -= set(change.value)
        team.holidays = sorted(current)
        verb = "Added" if change.name == "holidays_add" else "Removed"
        listed = ", ".join(_day(d) for d in change.value)
        return (
            f"{verb} {listed}. Holidays: {holidays_text(team) or 'none'} (no nudges on holidays)."
        )
    if change.name in ("admin_add", "admin_remove"):
        adding = change.name == "admin_add"
        for user_id in change.value:
            people[user_id].is_admin = adding
        who = ", ".join(f"<@{u}>" for u in change.value)
        if adding:
            return f"{who} can now change CommStat settings."
        # A Slack workspace admin or owner keeps the right whatever the coalition's list says.
        still = [u for u in change.value if people[u].is_slack_admin]
        text = f"{who} {'is' if len(change.value) == 1 else 'are'} no longer on the coalition's admin list."
        if still:
            kept = ", ".join(f"<@{u}>" for u in still)
            return text + f" {kept} can still change settings as a Slack workspace admin."
        return text + " They can no longer change CommStat settings."
    if change.name == "default_geography":
        team.default_geography = change.value
        if change.value is None:
            return "No default place: indicators with several places show all of them."
        return f"Indicators with several places now show {change.value} unless asked otherwise."
    raise AssertionError(change.name)


def _in_quiet(team: Team, hour: int) -> bool:
    start, end = team.quiet_start, team.quiet_end
    if start is None or end is None:
        return False
    return start <= hour < end if start < end else hour >= start or hour < end


def quiet_text(team: Team) -> str:
    if team.quiet_start is None or team.quiet_end is None:
        return "off"
    return f"{hour_text(team.quiet_start)} to {hour_text(team.quiet_end)}"


def _day(iso: str) -> str:
    return format_due(datetime.combine(date.fromisoformat(iso), time()))


def holidays_text(team: Team) -> str:
    return ", ".join(_day(d) for d in sorted(team.holidays or []))
