"""`/commstat settings …` and `/commstat org …` read the way admins type them, and settings said
back in words.

Pure: reading a change touches nothing, so a refusal is given before any transaction opens and
nothing is stored on error. Applying a change belongs to `bot.usecases.coalition_settings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import available_timezones

from rapidfuzz import process

from bot.core.dates import format_due
from bot.core.recurrence import format_time
from bot.core.text import USER_MENTION, mentioned_users, plain, safe, valid_zone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CLEAR_WORDS = ("none", "off", "-")

EXAMPLES = (
    "`/commstat settings nudge every 3 days` — overdue reminders every 3 working days",
    "`/commstat settings nudge hour 8` — reminders at 8:00 AM in each person's time zone",
    "`/commstat settings quiet hours 19-7` · `quiet hours off`",
    "`/commstat settings working days mon-fri` · `working days sun-thu`",
    "`/commstat settings time zone America/Chicago`",
    "`/commstat settings holidays add Dec 31` · `holidays off Nov 26` · `holidays country none`",
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


@dataclass(frozen=True)
class Organisation:
    """`/commstat org @lee Health Department`: whose, and which (None clears it)."""

    user_id: str
    name: str | None


def _help(detail: str) -> SettingsError:
    return SettingsError(
        f"{detail}\nSettings I can change:\n" + "\n".join(f"• {e}" for e in EXAMPLES)
    )


# --- reading ----------------------------------------------------------------------------------


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
    if valid_zone(name) and ("/" in name or name == "UTC"):
        return name
    known = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    lowered = {z.lower(): z for z in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = [z for z, _, _ in process.extract(name, known, limit=3)]
    raise SettingsError(
        f"I don't know the time zone `{safe(name, 60)}`. Use a name like `America/Chicago` or "
        f"`Europe/London`. Closest: {', '.join(close)}."
    )


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# "Dec 31", "December 31st", "31 Dec": a day without a year (its next occurrence); with one,
# "Dec 31, 2026", "31 Dec 2026": that day
_MONTH = "|".join(_MONTHS)
_MONTH_DAY = re.compile(
    rf"(?:(?P<m1>{_MONTH})[a-z]*\.? (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?P<m2>{_MONTH})[a-z]*\.?)"
    r"(?:,? (?P<year>\d{4})(?![-\d]))?"
)


def _dates(text: str) -> list[str]:
    """ISO dates (2026-12-31), or days without a year as ISO 8601's `--12-31` (the use case
    takes the next one)."""
    found: list[str] = []
    rest = text.strip().lower()
    for match in re.finditer(r"\d{4}-\d{2}-\d{2}|" + _MONTH_DAY.pattern + r"|\S+", rest):
        part = match[0].strip(" ,")
        if not part or part == "and":
            continue
        try:
            found.append(_one_date(part))
        except ValueError:
            raise SettingsError(
                f"`{safe(part, 30)}` is not a date I can read, so nothing was changed. Write "
                "holidays like `Dec 31` or 2026-12-31, e.g. "
                "`/commstat settings holidays add Dec 24, Dec 31`."
            ) from None
    if not found:
        raise SettingsError("Which dates? e.g. `/commstat settings holidays add Dec 31`.")
    return found


def _one_date(part: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", part):
        return date.fromisoformat(part).isoformat()
    m = _MONTH_DAY.fullmatch(part)
    if m is None:
        raise ValueError(part)
    month_word, day_text_ = (m["m1"], m["d1"]) if m["m1"] else (m["m2"], m["d2"])
    month = _MONTHS.index(month_word) + 1
    if m["year"]:
        return date(int(m["year"]), month, int(day_text_)).isoformat()
    date(2024, month, int(day_text_))  # a real day (2024: Feb 29 exists)
    return f"--{month:02d}-{int(day_text_):02d}"


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
                f"`{safe(m[1], 20)}` is not an hour. e.g. `/commstat settings nudge hour 8` "
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
                f"I couldn't read `{safe(m[1], 30)}` as quiet hours. Give a start and end hour, "
                "e.g. `/commstat settings quiet hours 19-7` (7 PM to 7 AM), or `quiet hours off`."
            )
        return Change("quiet", (start, end))
    if m := re.fullmatch(r"(?:working|work) ?days? (.+)", low):
        try:
            chosen = _days(m[1])
        except ValueError:
            raise SettingsError(
                f"I couldn't read `{safe(m[1], 30)}` as days of the week. e.g. "
                "`/commstat settings working days mon-fri` or `working days sun-thu`."
            ) from None
        return Change("working_days", chosen)
    if m := re.fullmatch(r"(?:time ?zone|tz) (.+)", low):
        return Change(
            "time_zone", _zone(t.split(None, 2 if low.startswith("time zone") else 1)[-1])
        )
    if m := re.fullmatch(r"holidays? (add|on|remove|delete|off) (.+)", low):
        adding = m[1] in ("add", "on")
        return Change("holidays_" + ("add" if adding else "remove"), _dates(m[2]))
    if m := re.fullmatch(r"holidays? (?:country|calendar) (.+)", low):
        # any word: "USA" or "united states" gets the use case's "use a two-letter code", not
        # the generic "I don't know the setting"
        return Change("holiday_country", "none" if m[1] in ("none", "off") else m[1].upper())
    if m := re.fullmatch(r"admins? (add|remove|delete) (.+)", t, flags=re.IGNORECASE):
        users = mentioned_users(m[2])
        if not users:
            raise SettingsError(unescaped_mention(m[2]))
        kind = "admin_add" if m[1].lower() == "add" else "admin_remove"
        return Change(kind, users, affects_schedule=False)
    if m := re.fullmatch(r"default (?:geography|place|geo) (.+)", t, flags=re.IGNORECASE):
        value = None if m[1].lower() in ("off", "none") else plain(m[1]).strip()[:100]
        return Change("default_geography", value, affects_schedule=False)
    raise _help(f"I don't know the setting `{safe(t, 60)}`.")


def parse_organisation(text: str) -> Organisation:
    """The words after `/commstat org`: a mention, then the organisation (`none` clears it)."""
    m = re.fullmatch(r"\s*(<@[^>]+>)\s+(.+)", text)
    user = USER_MENTION.fullmatch(m[1]) if m else None
    if m is None and "@" in text:
        raise SettingsError(unescaped_mention(text.split()[0]))
    if m is None or user is None:
        raise SettingsError(
            "Say whose organisation, e.g. `/commstat org @lee Health Department` "
            "(or `/commstat org @lee none` to clear it)."
        )
    name = " ".join(plain(m[2]).split())[:200]  # stored as the words people read
    return Organisation(user[1], None if name.lower() in CLEAR_WORDS else name)


def unescaped_mention(text: str) -> str:
    """What to say when no user id came with a name (Slack sends ids only for escaped mentions)."""
    if "@" in text:
        return (
            f"I couldn't tell who `{safe(text, 40)}` is: Slack sent the name without the "
            "person's id. Pick them from the @-mention list as you type, and if that still "
            "fails, ask whoever manages the app to turn on “Escape channels, users, and links” "
            "for /commstat. Nothing was changed."
        )
    return "Who? Mention them, e.g. `/commstat settings admin add @lee`."


# --- rules and words --------------------------------------------------------------------------


def in_quiet(start: int | None, end: int | None, hour: int) -> bool:
    """Whether `hour` falls in quiet hours from `start` to `end` (which may wrap past midnight)."""
    if start is None or end is None:
        return False
    return start <= hour < end if start < end else hour >= start or hour < end


def hour_text(hour: int) -> str:
    return format_time(time(hour))


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


def quiet_text(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return "off"
    return f"{hour_text(start)} to {hour_text(end)}"


def day_text(iso: str) -> str:
    return format_due(datetime.combine(date.fromisoformat(iso), time()))


def upcoming_text(days: dict[date, str], today: date, count: int = 4) -> str:
    """The next few days off, in words: "Thu, Nov 26 (Thanksgiving Day), Fri, Dec 25 (…)"."""
    ahead = sorted(d for d in days if d >= today)[:count]
    return ", ".join(
        f"{format_due(datetime.combine(d, time())).rsplit(',', 1)[0]} ({safe(days[d], 60)})"
        for d in ahead
    )


def holidays_text(holidays: list[str] | None) -> str:
    """The holidays in date order, in words (empty when there are none)."""
    return ", ".join(day_text(d) for d in sorted(holidays or []))
