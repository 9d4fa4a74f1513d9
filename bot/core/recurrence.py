"""Meeting times as people say them, turned into RFC 5545 recurrence rules and back into words.

`every Thursday at 10am`, `every other Tuesday at 9:30`, `first Monday of the month at 2pm`,
`every weekday at 9`, `last Friday of the month at 3pm`, `every 2 weeks on Monday at 10`.

A rule is stored as its RRULE text (no DTSTART) plus an anchor (`dtstart`, the first meeting) and
the zone it was set in. It is always evaluated on *naive local wall-clock time* in that zone and
the zone attached afterwards, so a 10:00 meeting stays at 10:00 across daylight-saving changes.

Pure: the current instant is the `now` argument, never a clock read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot.core.text import safe, valid_zone

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_ABBR = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "last": -1,
}  # fmt: skip
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_INTERVAL_WORDS = {"other": 2, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4}

_WEEKDAY = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:r(?:s(?:day)?)?)?"
    r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?)s?"
)
_DAY_LIST = rf"{_WEEKDAY}(?:\s*(?:,|and|&|\+)\s*{_WEEKDAY})*"
_TIME = r"(?:at\s+|@\s*)?(?P<time>noon|midday|\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?)"
_MONTH_TAIL = r"(?:of\s+)?(?:the|each|every|a)?\s*month(?:ly)?"

EXAMPLES = (
    "every Thursday at 10am",
    "every other Tuesday at 9:30",
    "first Monday of the month at 2pm",
    "every weekday at 9",
    "last Friday of the month at 3pm",
    "every 2 weeks on Monday at 10",
)


class RecurrenceError(ValueError):
    """A meeting phrase we cannot read; `str(error)` is safe to show to the user."""


@dataclass(frozen=True)
class Recurrence:
    """A parsed recurrence: RRULE text, its first occurrence (aware, local) and its zone."""

    rule: str
    dtstart: datetime
    time_zone: str

    def describe(self) -> str:
        return describe(self.rule, self.dtstart)


# --------------------------------------------------------------------------------------------
# Parsing


def _help(phrase: str, detail: str) -> RecurrenceError:
    examples = "\n".join(f"• `/commstat meeting {e}`" for e in EXAMPLES)
    return RecurrenceError(
        f"I couldn't read `{safe(phrase, 60)}` as a meeting time: {detail}\n"
        f"Say it like one of these:\n{examples}"
    )


def _day_code(word: str) -> str:
    return _DAYS[[d.lower() for d in _DAY_ABBR].index(word[:3].lower())]


def _days_in(text: str) -> list[str]:
    found = [_day_code(m) for m in re.findall(_WEEKDAY, text)]
    return sorted(set(found), key=_DAYS.index)


def parse_time(text: str) -> time:
    """`10am`, `9:30`, `2 pm`, `noon`, `14:00`. A bare hour reads as business hours:
    `at 9` is 09:00 and `at 2` is 14:00 (nobody meets at 2 in the night); `09:00` is literal."""
    text = text.strip().lower().replace(".", "")
    if text in ("noon", "midday"):
        return time(12, 0)
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*([ap]m)?", text)
    if not m:
        raise ValueError(text)
    hour, minute, half = int(m[1]), int(m[2] or 0), m[3]
    if minute > 59:
        raise ValueError(text)
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(text)
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif hour > 23:
        raise ValueError(text)
    elif 1 <= hour <= 6 and not m[1].startswith("0"):
        hour += 12
    return time(hour, minute)


def _zone(tz: str) -> ZoneInfo:
    """The zone a rule was set in; an unknown one is a bug, never a silent fallback."""
    if valid_zone(tz) is None:
        raise ValueError(f"unknown time zone {tz!r}")
    return ZoneInfo(tz)


def _normalise(phrase: str) -> str:
    text = phrase.strip().lower()
    text = re.sub(r"[\u2018\u2019']", "", text)
    text = re.sub(r"\s+", " ", text)
    return text.rstrip(" .!")


def parse_meeting(phrase: str, *, now: datetime, tz: str) -> Recurrence:
    """Read a meeting phrase in the zone `tz`; the first occurrence is the first one after `now`."""
    zone = _zone(tz)
    text = _normalise(phrase)
    if not text:
        raise _help(phrase, "it's empty.")
    if re.search(
        r"\b(?:tomorrow|today|tonight)\b|\bnext\b(?! (?:week|month))|\b\d{1,2}/\d{1,2}\b", text
    ):
        raise _help(
            phrase,
            "a CommStat meeting repeats, so say how often rather than one date. "
            "(For a one-off, post the digest yourself with `/commstat digest now`.)",
        )
    time_match = re.search(rf"(?:^|\s){_TIME}$", text)
    if not time_match:
        raise _help(phrase, "I need a time of day, e.g. `at 10am` at the end.")
    try:
        at = parse_time(time_match["time"])
    except ValueError:
        raise _help(phrase, f"`{safe(time_match['time'], 60)}` is not a time of day.") from None
    body = text[: time_match.start()].strip()
    body = re.sub(r"\b(?:on|at)$", "", body).strip()
    body = re.sub(r"^(?:on )?(?:the )?", "", body)
    parts = _rule_parts(body, phrase)
    parts += [f"BYHOUR={at.hour}", f"BYMINUTE={at.minute}", "BYSECOND=0"]
    rule = ";".join(parts)
    return Recurrence(rule=rule, dtstart=_anchor(rule, now, zone), time_zone=tz)


def parse_weekly(phrase: str, *, now: datetime, tz: str) -> Recurrence:
    """`Monday 9am` (also `every Monday at 9am`, `Mondays at 9`): once a week, one day."""
    text = _normalise(phrase)
    if text and not text.startswith(("every", "each", "weekly", "on ")):
        text = "every " + text
    try:
        found = parse_meeting(text, now=now, tz=tz)
    except RecurrenceError:
        raise RecurrenceError(
            f"I couldn't read `{safe(phrase, 60)}` as a day and time. Say it like "
            "`/commstat weekly digest Monday 9am` or `/commstat weekly digest Friday at 2pm`."
        ) from None
    fields = _fields(found.rule)
    if (
        fields.get("FREQ") != "WEEKLY"
        or fields.get("INTERVAL", "1") != "1"
        or ("," in fields.get("BYDAY", ","))
    ):
        raise RecurrenceError(
            "A weekly digest goes out once a week: name one day and a time, e.g. "
            "`/commstat weekly digest Monday 9am`."
        )
    return found


def _rule_parts(body: str, phrase: str) -> list[str]:
    """The FREQ/INTERVAL/BY* parts of the rule for the text before the time."""
    body = re.sub(r"^(?:every|each)\s+", "every ", body)
    # every day / daily
    if re.fullmatch(r"(?:every day|daily|each day|everyday)", body):
        return ["FREQ=DAILY"]
    # every weekday / weekdays / every working day
    if re.fullmatch(r"(?:every )?(?:week ?days?|working days?|business days?)", body):
        return ["FREQ=WEEKLY", "BYDAY=MO,TU,WE,TH,FR"]
    # first Monday of the month / last Friday of every month / monthly on the second Tuesday
    m = re.fullmatch(
        rf"(?:monthly on (?:the )?|every month on (?:the )?|every (?:the )?)?(?P<nth>\w+) "
        rf"(?P<day>{_WEEKDAY})"
        rf"(?: {_MONTH_TAIL})?",
        body,
    )
    if (
        m
        and m["nth"] in _ORDINALS
        and ("month" in body or body.startswith(("monthly", "every month")))
    ):
        return ["FREQ=MONTHLY", f"BYDAY={_ORDINALS[m['nth']]:+d}{_day_code(m['day'])}"]
    # the 15th of the month / monthly on the 15th / last day of the month
    m = re.fullmatch(
        rf"(?:monthly on (?:the )?|every month on (?:the )?)?(?P<n>\d{{1,2}})(?:st|nd|rd|th)?"
        rf"(?: day)?(?: {_MONTH_TAIL})?",
        body,
    )
    if m and "month" in body:
        day = int(m["n"])
        if not 1 <= day <= 28:
            raise _help(
                phrase,
                "not every month has that day; pick a day from 1 to 28, or say "
                "`last day of the month`.",
            )
        return ["FREQ=MONTHLY", f"BYMONTHDAY={day}"]
    if re.fullmatch(rf"(?:every month on (?:the )?)?last day {_MONTH_TAIL}", body):
        return ["FREQ=MONTHLY", "BYMONTHDAY=-1"]
    # every other Tuesday / every 2 weeks on Monday / biweekly on Tuesday / every 3rd Friday
    m = re.fullmatch(
        rf"(?:every (?P<word>other|second|2nd|third|3rd|fourth|4th) (?:week on )?"
        rf"|every (?P<n>\d+|two|three|four) weeks? on "
        rf"|(?:bi-?weekly|fortnightly) (?:on )?|every fortnight (?:on )?)(?P<days>{_DAY_LIST})",
        body,
    )
    if m:
        if m["word"]:
            interval = _INTERVAL_WORDS[m["word"]]
        elif m["n"]:
            interval = int(m["n"]) if m["n"].isdigit() else _NUMBER_WORDS[m["n"]]
        else:
            interval = 2
        if not 1 <= interval <= 8:
            raise _help(phrase, "meetings can repeat every 1 to 8 weeks.")
        days = _days_in(m["days"])
        parts = ["FREQ=WEEKLY"]
        if interval > 1:
            parts.append(f"INTERVAL={interval}")
        return [*parts, f"BYDAY={','.join(days)}"]
    # every Thursday / Thursdays / weekly on Monday and Thursday
    m = re.fullmatch(rf"(?:every |weekly on |every week on )?(?P<days>{_DAY_LIST})", body)
    if m and (body.startswith(("every", "weekly")) or re.search(r"s$", m["days"])):
        return ["FREQ=WEEKLY", f"BYDAY={','.join(_days_in(m['days']))}"]
    if m:
        raise _help(phrase, "say how often: `every Thursday`, `every other Thursday`…")
    if re.fullmatch(r"(?:every )?(?:week|weekly|month|monthly)", body):
        raise _help(phrase, "which day? e.g. `every Thursday` or `first Monday of the month`.")
    if re.search(r"\bmonth", body):
        raise _help(
            phrase,
            "for a monthly meeting, say which week and day, e.g. `first Monday of the month` "
            "or `last Friday of the month`.",
        )
    raise _help(phrase, "I don't recognise the days.")


def _fields(rule: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in rule.split(";") if "=" in part)


def _anchor(rule: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The first meeting: the first match strictly after `now` ignoring INTERVAL, so that
    `every other Tuesday` starts on the coming Tuesday and counts fortnights from there."""
    single = ";".join(p for p in rule.split(";") if not p.startswith("INTERVAL="))
    local_now = now.astimezone(zone).replace(tzinfo=None)
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = _rule(single, start).after(local_now)
    assert first is not None  # every rule we build repeats forever
    return first.replace(tzinfo=zone)


# --------------------------------------------------------------------------------------------
# Occurrences


def _rule(rule: str, local_start: datetime) -> rrule:
    parsed = rrulestr(rule, dtstart=local_start)
    assert isinstance(parsed, rrule)
    return parsed


def _naive(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def next_after(
    rule: str, dtstart: datetime, tz: str, after: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The first occurrence after the instant `after` (at it too if `inclusive`), aware local."""
    zone = _zone(tz)
    found = _rule(rule, _naive(dtstart, zone)).after(_naive(after, zone), inc=inclusive)
    return None if found is None else found.replace(tzinfo=zone)


def previous_before(
    rule: str, dtstart: datetime, tz: str, before: datetime, *, inclusive: bool = False
) -> datetime | None:
    """The last occurrence before the instant `before` (at it too if `inclusive`), aware local."""
    zone = _zone(tz)
    found = _rule(rule, _naive(dtstart, zone)).before(_naive(before, zone), inc=inclusive)
    return None if found is None else found.replace(tzinfo=zone)


# --------------------------------------------------------------------------------------------
# Words


def format_time(at: time | datetime) -> str:
    hour = at.hour % 12 or 12
    return f"{hour}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"


def format_when(at: datetime, *, year: bool = True) -> str:
    """`Thu, Dec 3, 2026 at 10:00 AM` (or without the year)."""
    day = f"{_DAY_ABBR[at.weekday()]}, {_MONTH_ABBR[at.month - 1]} {at.day}"
    return f"{day}{f', {at.year}' if year else ''} at {format_time(at)}"


def zone_words(tz: str) -> str:
    """How people say a time zone: `America/New_York` -> `New York time`; `UTC` stays `UTC`."""
    city = tz.rsplit("/", 1)[-1].replace("_", " ")
    return city if city.isupper() else f"{city} time"  # UTC, GMT, EST5EDT stay as they are


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe(rule: str, dtstart: datetime) -> str:
    """The rule in words: `every other Tuesday at 9:30 AM`, `the first Monday of every month at
    2:00 PM`. Reads only the rules `parse_meeting` writes."""
    fields = _fields(rule)
    at = time(int(fields.get("BYHOUR", dtstart.hour)), int(fields.get("BYMINUTE", dtstart.minute)))
    when = f"at {format_time(at)}"
    freq = fields.get("FREQ")
    interval = int(fields.get("INTERVAL", "1"))
    if freq == "DAILY":
        return f"every day {when}"
    if freq == "WEEKLY":
        days = fields.get("BYDAY", _DAYS[dtstart.weekday()]).split(",")
        if days == ["MO", "TU", "WE", "TH", "FR"] and interval == 1:
            return f"every weekday (Monday to Friday) {when}"
        names = _join([_DAY_NAMES[_DAYS.index(d)] for d in days])
        if interval == 1:
            return f"every {names} {when}"
        if interval == 2:
            return f"every other {names} {when}"
        return f"every {interval} weeks on {names} {when}"
    if freq == "MONTHLY":
        if "BYDAY" in fields:
            m = re.fullmatch(r"([+-]?\d)([A-Z]{2})", fields["BYDAY"])
            assert m
            day = _DAY_NAMES[_DAYS.index(m[2])]
            return f"the {_ORDINAL_WORDS[int(m[1])]} {day} of every month {when}"
        monthday = int(fields.get("BYMONTHDAY", dtstart.day))
        if monthday == -1:
            return f"the last day of every month {when}"
        return f"the {_ordinal(monthday)} of every month {when}"
    return f"{rule} {when}"  # not written by us; still say something true


def describe_lead(minutes: int) -> str:
    """`24 hours`, `2 hours`, `30 minutes`, `1 day and 6 hours`."""
    if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:
        days = minutes // (24 * 60)
        return f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} h {minutes % 60} min"


MIN_LEAD = timedelta(minutes=10)
MAX_LEAD = timedelta(days=7)

_UNITS = {
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60,
    "d": 1440, "day": 1440, "days": 1440, "week": 10080, "weeks": 10080,
}  # fmt: skip


def parse_lead(phrase: str) -> int:
    """`2 hours before`, `30 minutes before`, `1 day before`, `an hour` → minutes (10 min..7 days)."""
    text = _normalise(phrase)
    text = re.sub(r"\s*(?:before|ahead|early|earlier|prior)(?: the meeting)?$", "", text)
    m = re.fullmatch(r"(?P<n>\d+(?:\.\d+)?|an?|one|two|three|half an?) ?(?P<unit>[a-z]+)", text)
    if not m or m["unit"] not in _UNITS:
        raise RecurrenceError(
            f"I couldn't read `{safe(phrase, 60)}` as a time before the meeting. Say it like "
            "`/commstat digest 2 hours before`, `/commstat digest 30 minutes before` or "
            "`/commstat digest 1 day before`."
        )
    words = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0}
    n = m["n"]
    amount = 0.5 if n.startswith("half") else words.get(n) or float(n)
    minutes = round(amount * _UNITS[m["unit"]])
    if not MIN_LEAD <= timedelta(minutes=minutes) <= MAX_LEAD:
        raise RecurrenceError(
            "The digest can be posted between 10 minutes and 7 days before the meeting; "
            f"`{safe(phrase, 60)}` is outside that. e.g. `/commstat digest 2 hours before`."
        )
    return minutes
