"""Due dates in natural language, read in the owner's time zone.

Partners type deadlines the way they speak ("Friday", "end of month", "the 15th", "before the next
meeting"). dateparser 1.5 misses or misreads many of these, so our own rules run first and
dateparser only reads the few formats they leave (see `_dateparser_shape`), so that
action words ("monitor", "march on", "the plan") never become dates.

The module is pure: the current instant is always the `now` argument, never a clock read, so the
scheduler, the tests and `commstat tick --now` can travel in time.

Rules chosen where people disagree (the confirmation always shows the resolved date):
- `friday`: the coming Friday; said on a Friday it is the Friday a week ahead (likewise any
  weekday: "by Monday" said on a Monday means next Monday, with or without a time).
  `this friday` is the coming Friday, today included; `today` / `tonight` are today.
  `next friday`: the Friday of the next calendar week (weeks start on Monday), so on Monday
  23 Nov 2026 `friday` is 27 Nov and `next friday` is 4 Dec; on a Saturday or Sunday both mean the
  Friday six or five days ahead. `friday next week` means the same as `next friday`.
- `12/4` is month first (Dec 4). One that only reads day first (`31/12`) is refused with the
  date it would be ("did you mean Dec 31?"), not read day first: whoever writes `31/12` also
  writes `4/12` for Dec 4, which would then silently become Apr 12.
- A day without a year (`Dec 4`, `12/4`) is the occurrence nearest to today; if that one is past
  the phrase is refused (add the year to mean next year). A month or quarter without a year
  (`May`, `Q2`, `end of March`) is the next one to end, this one included.
- A bare period means its end: `December` / `next month` / `this quarter` / `2027` are the last
  working day (Mon-Fri) of that period, `next week` is Friday of next week. If the period's last
  working day has already gone (a weekend at month end) its last calendar day is used.
- No time of day: 17:00 local; today after 17:00 becomes 23:59. A bare hour without am/pm reads as
  business hours: `at 5` is 17:00, `at 9` is 09:00, `17:00` and `09:00` are literal.
- `midnight` is 23:59 of that day (a deadline, not the start of the next day); `morning` 09:00,
  `afternoon` 15:00, `evening` 18:00, `tonight` 20:00 (as dateparser reads them).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateparser.date import DateDataParser
from dateutil.relativedelta import relativedelta

from bot.core.text import safe

END_OF_DAY = time(17, 0)
LATE_IN_DAY = time(23, 59)
MAX_YEARS_AHEAD = 5
MAX_PHRASE_CHARS = 100
EXAMPLES = ("Friday", "Dec 4", "in 2 weeks")

DateErrorReason = Literal["empty", "unrecognised", "past", "no_meeting", "too_far"]


@dataclass(frozen=True)
class Due:
    """A resolved due date; `has_time` says whether to show the time (the user named one)."""

    at: datetime
    has_time: bool


class DateError(ValueError):
    """A phrase we will not turn into a due date; `str(exc)` is safe to show to the user."""

    def __init__(self, message: str, *, reason: DateErrorReason) -> None:
        super().__init__(message)
        self.message = message
        self.reason: DateErrorReason = reason


# --------------------------------------------------------------------------------------------
# Public API


def parse_due(phrase: str, *, now: datetime, tz: str, next_meeting: datetime | None = None) -> Due:
    """Read `phrase` as a due date in the zone `tz`, relative to the aware instant `now`.

    User text only ever raises DateError; a naive `now` or an unknown zone is a programming
    error and raises a plain ValueError.
    """
    zone = _zone(tz)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(zone)
    text = _normalise(phrase)

    if _MEETING_RE.fullmatch(text):
        return _meeting_due(next_meeting, local_now, zone)
    if _NOW_RE.fullmatch(text):
        return Due(local_now, has_time=True)
    offset = _hours_offset(text)
    if offset is not None:
        try:
            at = (local_now.astimezone(UTC) + offset).astimezone(zone)
        except OverflowError:
            raise _too_far() from None
        return _checked(Due(at, has_time=True), local_now)

    date_part, tod = _extract_time(text, phrase)
    try:
        day = _parse_day(date_part, local_now, tz, phrase)
    except DateError:
        raise
    except (OverflowError, ValueError):
        raise _too_far() from None  # date arithmetic ran past year 9999
    return _finish(day, tod, local_now, zone)


def format_due(due: Due | datetime, *, has_time: bool = False) -> str:
    """Write a due date unambiguously ("Wed, Dec 2, 2026"), independent of the server locale.

    For a Due its own `has_time` applies (`has_time=True` forces the time to show).
    """
    if isinstance(due, Due):
        at, has_time = due.at, due.has_time or has_time
    else:
        at = due
    text = f"{_DAY_ABBR[at.weekday()]}, {_MONTH_ABBR[at.month - 1]} {at.day}, {at.year}"
    if has_time:
        hour = at.hour % 12 or 12
        text += f" at {hour}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"
    return text


def warm_up() -> None:
    """Load dateparser's language data now, so the first real request is not the slow one."""
    sample_now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    _dateparser("december the 4th", sample_now.replace(tzinfo=None), "UTC")
    parse_due("friday at noon", now=sample_now, tz="UTC")


# --------------------------------------------------------------------------------------------
# Vocabulary

_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_ABBR = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_DAY_FULL = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = tuple(m.lower() for m in _MONTH_ABBR)
_DAY_NAMES = tuple(d.lower() for d in _DAY_ABBR)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAY = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:r(?:s(?:day)?)?)?"
    r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
)
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "couple": 2, "couple of": 2, "a couple": 2, "a couple of": 2,
}  # fmt: skip
_NUMBER = r"(?:\d{1,5}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_YEAR = r"(?:\d{4}|'\d{2})"
_ORD = r"(?:st|nd|rd|th)"


def _month_number(name: str) -> int:
    return _MONTH_NAMES.index(name[:3]) + 1


def _weekday_number(name: str) -> int:
    return _DAY_NAMES.index(name[:3])


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _year(text: str) -> int:
    return 2000 + int(text[1:]) if text.startswith("'") else int(text)


# --------------------------------------------------------------------------------------------
# Errors


def _unrecognised(phrase: str, detail: str | None = None) -> DateError:
    shown = safe("".join(ch if ch.isprintable() else " " for ch in phrase), 40)
    examples = ", ".join(f'"{e}"' for e in EXAMPLES[:-1]) + f' or "{EXAMPLES[-1]}"'
    lead = f'I couldn\'t read "{shown}" as a date' + (f": {detail}" if detail else "")
    return DateError(f"{lead}. Try {examples}.", reason="unrecognised")


def _day_first(phrase: str, *, day: int, month: int, year: str | None) -> DateError:
    """`31/12`: numbers go month first here; name the date it would be, day first."""
    if day > calendar.monthrange(2024, month)[1]:
        return _unrecognised(phrase)
    shown = safe("".join(ch if ch.isprintable() else " " for ch in phrase), 40)
    year = f"20{year}" if year is not None and len(year) == 2 else year
    named = f"{_MONTH_ABBR[month - 1]} {day}" + (f", {year}" if year else "")
    numbers = f"{month}/{day}" + (f"/{year}" if year else "")
    return DateError(
        f'I couldn\'t read "{shown}" as a date: dates in numbers go month first here. '
        f'Did you mean {named}? Write "{named}" or "{numbers}".',
        reason="unrecognised",
    )


def _past(at: datetime, *, has_time: bool, no_year: bool = False) -> DateError:
    hint = " — add the year if you mean next year" if no_year else ""
    shown = format_due(at, has_time=has_time)
    return DateError(f"that date is in the past ({shown}){hint}", reason="past")


def _too_far() -> DateError:
    return DateError(
        f"that date is more than {MAX_YEARS_AHEAD} years away — pick a nearer one",
        reason="too_far",
    )


# --------------------------------------------------------------------------------------------
# Normalising the phrase

_ALLOWED = re.compile(r"[a-z0-9 ,./:'@-]*")
_INVISIBLE_SPACE = re.compile(r"[\t\n\r\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_LEADING_SEPARATOR = re.compile(
    r"(?:by|due(?: by| on)?|no later than|not later than|on or before) (?=\S)"
)


def _normalise(phrase: str) -> str:
    """Lower-case, one space between words, and refuse anything that cannot be a date phrase."""
    if not isinstance(phrase, str):
        raise _unrecognised(repr(phrase))
    text = _INVISIBLE_SPACE.sub(" ", unicodedata.normalize("NFKC", phrase)).strip()
    if not text:
        raise DateError("give a due date, for example Friday, Dec 4 or in 2 weeks", reason="empty")
    if len(text) > MAX_PHRASE_CHARS:
        raise _unrecognised(phrase)
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    if not _ALLOWED.fullmatch(text):  # control characters, emoji, SQL, other scripts
        raise _unrecognised(phrase)
    text = re.sub(r"\b([ap])\.m\b\.?", r"\1m", text)  # a.m. / p.m.
    text = re.sub(r"(?<=[a-z])\.", " ", text)  # "dec. 4"
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # "end-of-month"
    text = re.sub(r"(?<=\d)t(?=\d)", " ", text)  # ISO 2026-12-04T09:00
    text = text.replace(",", " ").replace("@", " at ")
    text = " ".join(text.split()).strip(" .")
    text = _LEADING_SEPARATOR.sub("", text, count=1)
    if text.startswith("before ") and not _MEETING_RE.fullmatch(text):
        text = text[len("before ") :]
    if not text:
        raise _unrecognised(phrase)
    return text


# --------------------------------------------------------------------------------------------
# Special phrases that do not go through the day parser

_MEETING_RE = re.compile(
    r"(?:(?:before|by|at|for|until) )?(?:the )?(?:next |upcoming )?(?:commstat )?"
    r"(?:meeting|commstat)"
)
_NOW_RE = re.compile(r"(?:right )?now")
_HOURS_RE = re.compile(
    rf"(?:(?:in|within) )?(?P<n>{_NUMBER}) (?P<unit>hours?|hrs?|minutes?|mins?)"
    r"(?: from now)?"
)


def _meeting_due(next_meeting: datetime | None, local_now: datetime, zone: ZoneInfo) -> Due:
    """The next meeting is the deadline itself, so its exact time is kept."""
    if next_meeting is None:
        raise DateError(
            "there is no upcoming CommStat meeting to be due by — set one with "
            "`/commstat meeting every Thursday at 10am`, or give a date like Friday",
            reason="no_meeting",
        )
    if next_meeting.tzinfo is None or next_meeting.utcoffset() is None:
        raise ValueError("next_meeting must be timezone-aware")
    at = next_meeting.astimezone(zone)
    if at < local_now:
        raise DateError(
            "the meeting on record has already happened — set the next one with "
            "`/commstat meeting every Thursday at 10am`, or give a date like Friday",
            reason="no_meeting",
        )
    return _checked(Due(at, has_time=True), local_now)


def _hours_offset(text: str) -> timedelta | None:
    """`in 2 hours` / `in 30 minutes`: an exact instant, counted in real (UTC) time across DST."""
    match = _HOURS_RE.fullmatch(text)
    if not match or (not text.startswith(("in ", "within ")) and "from now" not in text):
        return None
    n = _number(match["n"])
    if match["unit"].startswith("h"):
        return timedelta(hours=n)
    return timedelta(minutes=n)


# --------------------------------------------------------------------------------------------
# Time of day

_AT = r"(?:\bat )?"
_TIME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_AT + r"\b(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))? ?(?P<ampm>am|pm)\b"), "12h"),
    (re.compile(_AT + r"\b(?P<h>\d{1,2}):(?P<m>\d{2})\b"), "clock"),
    (re.compile(_AT + r"\b(?P<h>\d{1,2}) o'?clock\b"), "clock"),
    (re.compile(r"\bat (?P<h>\d{1,2})\b(?![/.:'-]?\d)"), "clock"),
    (re.compile(_AT + r"\b(?:12 )?(?P<word>noon|midday|midnight)\b"), "word"),
    (re.compile(r"(?:\b(?:this|in the) )?\b(?P<word>morning|afternoon|evening|tonight)\b"), "part"),
)
_WORD_TIMES = {
    "noon": time(12, 0),
    "midday": time(12, 0),
    "midnight": LATE_IN_DAY,
    "morning": time(9, 0),
    "afternoon": time(15, 0),
    "evening": time(18, 0),
    "tonight": time(20, 0),
}
_EOD_RE = re.compile(
    r"\b(?:eod|cob|eob|end of (?:the )?(?:business )?day|close of (?:business|play)"
    r"|end of business)\b"
)


def _extract_time(text: str, phrase: str) -> tuple[str, time | None]:
    """Split off the time of day, so the day rules only ever see the date words."""
    text = re.sub(r"\bend of today\b", "today", text)
    text = re.sub(r"\btonight\b", "today tonight", text)
    text = " ".join(_EOD_RE.sub(" ", text).split())  # end of day is the default time anyway
    found: time | None = None
    for pattern, kind in _TIME_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        if pattern.search(text, match.end()) or (found is not None and kind != "part"):
            raise _unrecognised(phrase, "it has two times of day")
        if found is None:
            found = _read_time(match, kind, phrase)
        elif match["word"] != "morning" and found.hour < 12:
            found = found.replace(hour=found.hour + 12)  # "friday evening at 7" is 19:00
        text = " ".join((text[: match.start()] + " " + text[match.end() :]).split())
    return text, found


def _read_time(match: re.Match[str], kind: str, phrase: str) -> time:
    if kind in ("word", "part"):
        return _WORD_TIMES[match["word"]]
    hour_text = match["h"]
    hour, minute = int(hour_text), int(match.groupdict().get("m") or 0)
    if kind == "12h":
        if not 1 <= hour <= 12:
            raise _unrecognised(phrase)
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    elif not hour_text.startswith("0") and 1 <= hour <= 6:
        hour += 12  # "at 5" in a working coalition means 5 pm
    if hour > 23 or minute > 59:
        raise _unrecognised(phrase)
    return time(hour, minute)


# --------------------------------------------------------------------------------------------
# Day rules


def _parse_day(text: str, local_now: datetime, tz: str, phrase: str) -> date:
    """Resolve the date words (the time of day is already taken out)."""
    day = _rule_day(text, local_now.date(), phrase)
    if day is not None:
        return day
    return _fallback_day(text, local_now, tz, phrase)


_TODAY_RE = re.compile(r"(?:(?:by |on )?today|tdy)")
_TOMORROW_RE = re.compile(r"(?:on )?(?:the )?(?:day after )?(?:tomorrow|tmrw?|tomorow|tmw)")
_YESTERDAY_RE = re.compile(r"(?:the )?(?:day before )?yesterday")
_PERIOD_END_RE = re.compile(
    r"(?:(?:by )?the )?(?:end|close) of (?:the |this |(?P<next>next|the next|the following) )?"
    r"(?P<period>week|month|quarter|year)|(?P<abbr>eo[wmqy])|(?:the |this )?(?P<weekend>weekend)"
)
_LAST_DAY_RE = re.compile(
    r"(?:the )?last (?P<working>(?:working|business|work) )?day of (?:the |this )?"
    r"(?P<next>next )?month"
)
_NEXT_WORKING_DAY_RE = re.compile(r"(?:the )?next (?:working|business|work) ?day")
_BARE_PERIOD_RE = re.compile(r"(?P<which>this|next) (?P<period>week|month|quarter|year)")
_PERIOD_START_RE = re.compile(
    r"(?:the )?(?:first|1st|start|beginning) of (?:the )?(?:(?P<next>next) )?"
    r"(?P<period>week|month|quarter|year)"
)
_END_OF_MONTH_NAME_RE = re.compile(rf"(?:the )?end of (?P<month>{_MONTH})(?: (?P<year>{_YEAR}))?")
_QUARTER_RE = re.compile(rf"(?:(?:the )?end of )?q(?P<q>[1-4])(?: (?P<year>{_YEAR}))?")
_ORDINAL_RE = re.compile(
    rf"(?:on )?(?:(?:the )?(?P<d>\d{{1,2}}){_ORD}|the (?P<d2>\d{{1,2}}))"
    r"(?: of (?:(?P<next>next)|the|this) month)?"
)
_DURATION_RE = re.compile(
    rf"(?:(?:in|within) )?(?P<n>{_NUMBER}) (?P<kind>(?:working |business |work )?)"
    r"(?P<unit>days?|weeks?|wks?|months?|years?|fortnights?|weekdays?|workdays?)"
    r"(?:'?s?'? time)?(?: (?:from|after) (?P<base>.+))?"
)
_WEEKDAY_RE = re.compile(
    rf"(?:on )?(?:(?P<mod>this coming|this|next|coming|last|past|previous) )?(?P<wd>{_WEEKDAY})"
    r"(?: (?P<week>this|next|last) week)?"
)
_WEEKDAY_PREFIX_RE = re.compile(rf"(?:on )?(?P<wd>{_WEEKDAY}) (?:the )?(?P<rest>.+)")
_MONTH_DAY_RE = re.compile(
    rf"(?:on )?(?:the )?(?P<month>{_MONTH}) (?:the )?(?P<d>\d{{1,2}}){_ORD}?(?: (?P<year>{_YEAR}))?"
)
_DAY_MONTH_RE = re.compile(
    rf"(?:on )?(?:the )?(?P<d>\d{{1,2}}){_ORD}? (?:of )?(?P<month>{_MONTH})(?: (?P<year>{_YEAR}))?"
)
_NUMERIC_RE = re.compile(
    r"(?:on )?(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<year>\d{2}|\d{4}))?"
    r"|(?P<m2>\d{1,2})-(?P<d2>\d{1,2})-(?P<year2>\d{4})"
)
_ISO_RE = re.compile(r"(?P<year>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})")
_MONTH_ALONE_RE = re.compile(rf"(?:(?:in|by|during) )?(?P<month>{_MONTH})(?: (?P<year>{_YEAR}))?")
_YEAR_ALONE_RE = re.compile(r"(?:(?:in|by|the end of|end of) )?(?P<year>\d{4})")


def _rule_day(text: str, today: date, phrase: str) -> date | None:
    """Our own reading of the phrases dateparser gets wrong or cannot read."""
    if _TODAY_RE.fullmatch(text) or text == "":
        return today
    if _TOMORROW_RE.fullmatch(text):
        return today + timedelta(days=2 if "after" in text else 1)
    if _YESTERDAY_RE.fullmatch(text):
        return today - timedelta(days=2 if "before" in text else 1)
    for read in (
        _period_end,
        _period_start,
        _ordinal_day,
        _duration_day,
        _weekday_day,
        _explicit_day,
        _month_or_year_day,
    ):
        day = read(text, today, phrase)
        if day is not None:
            return day
    return None


def _last_working_day(start: date, end: date, today: date) -> date:
    """The period's last Mon-Fri; if that has gone (a weekend at period end), its last day."""
    day = end
    while day.weekday() >= 5 and day > start:
        day -= timedelta(days=1)
    return day if day >= today else end


def _period_bounds(period: str, today: date, ahead: int) -> tuple[date, date]:
    """First and last day of this (`ahead`=0) or a later calendar week/month/quarter/year.

    Weeks run Monday to Sunday, the same weeks `next friday` counts in.
    """
    if period == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=ahead)
        return monday, monday + timedelta(days=6)
    if period == "month":
        first = date(today.year, today.month, 1) + relativedelta(months=ahead)
    elif period == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        first += relativedelta(months=3 * ahead)
    else:
        first = date(today.year + ahead, 1, 1)
    size = {"month": 1, "quarter": 3, "year": 12}[period]
    return first, first + relativedelta(months=size, days=-1)


def _period_end(text: str, today: date, phrase: str) -> date | None:
    """`end of month`, `eoq`, `next week`, `last day of the month`: deadlines at a period's end."""
    match = _PERIOD_END_RE.fullmatch(text)
    if match:
        if match["weekend"] or match["abbr"] == "eow":
            period = "week"
        elif match["abbr"]:
            period = {"eom": "month", "eoq": "quarter", "eoy": "year"}[match["abbr"]]
        else:
            period = match["period"]
        ahead = 1 if match["next"] else 0
    elif match := _LAST_DAY_RE.fullmatch(text):
        start, end = _period_bounds("month", today, 1 if match["next"] else 0)
        return _last_working_day(start, end, today) if match["working"] else end
    elif _NEXT_WORKING_DAY_RE.fullmatch(text):
        return _add_working_days(today, 1)
    else:
        match = _BARE_PERIOD_RE.fullmatch(text)
        if not match:
            return _named_period_end(text, today)
        period, ahead = match["period"], 1 if match["which"] == "next" else 0
    start, end = _period_bounds(period, today, ahead)
    if period == "week":
        friday = start + timedelta(days=4)
        # at the weekend "end of week" is the coming Friday; "end of next week" stays calendar
        return friday + timedelta(weeks=1) if ahead == 0 and today.weekday() >= 5 else friday
    return _last_working_day(start, end, today)


def _named_period_end(text: str, today: date) -> date | None:
    """`end of December`, `Q1`, `end of Q2 2027`: the next one to end when no year is given."""
    match = _END_OF_MONTH_NAME_RE.fullmatch(text)
    if match:
        month = _month_number(match["month"])
        return _month_end_day(month, match["year"], today)
    match = _QUARTER_RE.fullmatch(text)
    if match:
        last_month = 3 * int(match["q"])
        return _month_end_day(last_month, match["year"], today, months=3)
    return None


def _month_end_day(month: int, year_text: str | None, today: date, months: int = 1) -> date:
    """Last working day of `month` (of the `months`-long period ending with it)."""

    def end_in(year: int) -> date:
        first = date(year, month, 1) - relativedelta(months=months - 1)
        last = date(year, month, calendar.monthrange(year, month)[1])
        return _last_working_day(first, last, today)

    if year_text is not None:
        return end_in(_year(year_text))
    # a month or quarter without a year is the next one to end: nobody means a past "May"
    this_year = end_in(today.year)
    return this_year if this_year >= today else end_in(today.year + 1)


def _nearest(candidates: list[date], today: date) -> date:
    """The candidate closest to today (a tie goes to the future); may be in the past."""
    return min(candidates, key=lambda d: (abs((d - today).days), d < today))


def _period_start(text: str, today: date, phrase: str) -> date | None:
    match = _PERIOD_START_RE.fullmatch(text)
    if not match:
        return None
    period = match["period"]
    if not match["next"]:
        if period != "month":
            return None  # "start of the week" is ambiguous; let it be refused
        # "first of the month": the next 1st (today if today is the 1st)
        return today if today.day == 1 else _period_bounds("month", today, 1)[0]
    start, _ = _period_bounds(period, today, 1)
    return start


def _ordinal_day(text: str, today: date, phrase: str) -> date | None:
    match = _ORDINAL_RE.fullmatch(text)
    if not match:
        return None
    day = int(match["d"] or match["d2"])
    if not 1 <= day <= 31:
        raise _unrecognised(phrase, f"there is no day {day} in a month")
    if match["next"]:
        first = date(today.year, today.month, 1) + relativedelta(months=1)
        if day > calendar.monthrange(first.year, first.month)[1]:
            raise _unrecognised(phrase, f"next month has no day {day}")
        return first.replace(day=day)
    year, month = today.year, today.month
    if day < today.day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while day > calendar.monthrange(year, month)[1]:  # skip months without a 31st
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, day)


def _duration_day(text: str, today: date, phrase: str) -> date | None:
    match = _DURATION_RE.fullmatch(text)
    if not match:
        return None
    base = today
    if match["base"] is not None:
        if match["base"] in ("now", "today"):
            base = today
        else:
            found = _rule_day(match["base"], today, phrase)
            if found is None:
                return None
            base = found
    n = _number(match["n"])
    unit = match["unit"].rstrip("s")
    if match["kind"] or unit in ("weekday", "workday"):
        if unit not in ("day", "weekday", "workday"):
            return None  # "working weeks" is not a thing we can count
        return _add_working_days(base, n)
    if n > 100 * 366:
        raise _too_far()
    if unit == "day":
        return base + timedelta(days=n)
    if unit in ("week", "wk"):
        return base + timedelta(weeks=n)
    if unit == "fortnight":
        return base + timedelta(weeks=2 * n)
    if unit == "month":
        return base + relativedelta(months=n)
    return base + relativedelta(years=n)


def _add_working_days(start: date, n: int) -> date:
    """Count Mon-Fri only; from a weekend, counting starts as if from Friday."""
    if n == 0:
        return start
    if n > 100 * 261:
        raise _too_far()
    day = start
    if day.weekday() >= 5:
        day -= timedelta(days=day.weekday() - 4)
    weeks, rest = divmod(n, 5)
    day += timedelta(weeks=weeks)
    while rest:
        day += timedelta(days=1)
        if day.weekday() < 5:
            rest -= 1
    return day


def _weekday_day(text: str, today: date, phrase: str) -> date | None:
    match = _WEEKDAY_RE.fullmatch(text)
    if not match:
        return None
    weekday = _weekday_number(match["wd"])
    mod, week = match["mod"], match["week"]
    if mod and week:
        raise _unrecognised(phrase)
    monday = today - timedelta(days=today.weekday())
    if mod in ("last", "past", "previous") or week == "last":
        if week == "last":
            return monday - timedelta(days=7) + timedelta(days=weekday)
        back = (today.weekday() - weekday) % 7 or 7
        return today - timedelta(days=back)
    if mod == "next" or week == "next":
        return monday + timedelta(days=7 + weekday)
    if week == "this":
        return monday + timedelta(days=weekday)
    ahead = (weekday - today.weekday()) % 7
    if mod == "this":
        return today + timedelta(days=ahead)  # "this monday" said on a Monday is today
    # a bare weekday is never today: "by Monday" said on a Monday means next Monday
    return today + timedelta(days=ahead or 7)


def _explicit_day(text: str, today: date, phrase: str) -> date | None:
    """Month and day, with or without a year; a leading weekday must agree with the date."""
    prefixed = _WEEKDAY_PREFIX_RE.fullmatch(text)
    if prefixed:
        found = _explicit_day(prefixed["rest"], today, phrase)
        if found is None:
            found = _ordinal_day(prefixed["rest"], today, phrase)
        if found is None:
            return None
        _check_weekday(found, prefixed["wd"], phrase)
        return found
    for pattern in (_MONTH_DAY_RE, _DAY_MONTH_RE, _NUMERIC_RE, _ISO_RE):
        match = pattern.fullmatch(text)
        if not match:
            continue
        groups = match.groupdict()
        month_text = groups.get("month")
        month = _month_number(month_text) if month_text else int(groups.get("m") or groups["m2"])
        day_of_month = int(groups.get("d") or groups["d2"])
        if pattern is _NUMERIC_RE and month > 12 >= day_of_month >= 1:
            raise _day_first(
                phrase,
                day=month,
                month=day_of_month,
                year=groups.get("year") or groups.get("year2"),
            )
        year_text = groups.get("year") or groups.get("year2")
        return _month_day(month, day_of_month, year_text, today, phrase)
    return None


def _check_weekday(day: date, weekday: str, phrase: str) -> None:
    """ "Thursday Dec 4" when Dec 4 is a Friday: ask rather than guess which one was meant."""
    said = _weekday_number(weekday)
    if day.weekday() != said:
        shown = format_due(datetime.combine(day, time()))
        raise _unrecognised(
            phrase, f"{shown} is a {_DAY_FULL[day.weekday()]}, not a {_DAY_FULL[said]}"
        )


def _month_day(month: int, day: int, year_text: str | None, today: date, phrase: str) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise _unrecognised(phrase)
    if year_text is not None:
        year = _year(year_text) if len(year_text) != 2 else 2000 + int(year_text)
        try:
            return date(year, month, day)
        except ValueError:
            raise _unrecognised(phrase, "that day does not exist") from None
    candidates = []
    for year in range(today.year - 4, today.year + 5):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue  # Feb 29 outside leap years
    if not candidates:
        raise _unrecognised(phrase, "that day does not exist")
    chosen = _nearest(candidates, today)
    return _NoYear(chosen.year, chosen.month, chosen.day)


class _NoYear(date):
    """A date whose year we chose; a past one is refused with a hint to add the year."""


def _month_or_year_day(text: str, today: date, phrase: str) -> date | None:
    match = _MONTH_ALONE_RE.fullmatch(text)
    if match:
        return _month_end_day(_month_number(match["month"]), match["year"], today)
    match = _YEAR_ALONE_RE.fullmatch(text)
    if match:
        year = int(match["year"])
        if year == 0:
            raise _unrecognised(phrase)
        return _last_working_day(date(year, 1, 1), date(year, 12, 31), today)
    return None


# --------------------------------------------------------------------------------------------
# dateparser, for what our rules leave

_UNIT = r"(?:days?|weeks?|months?|years?|fortnights?|weekdays?)"
_DP_NUMERIC_RE = re.compile(r"(?:on )?\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")
_DP_PAST_RE = re.compile(
    rf"{_NUMBER} {_UNIT} ago|(?:last|past|previous) (?:week|month|quarter|year)"
)
_DP_DAY_TOKEN = re.compile(rf"\d{{1,2}}{_ORD}?")
_DP_YEAR_TOKEN = re.compile(r"\d{4}|'\d{2}")
_MONTH_TOKEN = re.compile(_MONTH)
_WEEKDAY_TOKEN = re.compile(_WEEKDAY)


@dataclass(frozen=True)
class _Absolute:
    """The parts of a month-name date we check dateparser's reading against."""

    weekday: str | None
    year: int | None


def _dateparser_shape(text: str) -> str | _Absolute | None:
    """Which of the formats we let dateparser read `text` is, or None.

    dateparser reads almost any mix of date words ("yesterday tomorrow weeks" -> tomorrow,
    "monday 11" -> November, "march on" -> 23 March, "dec 2 10" -> 2110), so it only ever sees
    three shapes: a numeric date with a year ("4.12.2026"), a past offset ("2 days ago",
    "last week"), and one month name with one day, maybe a year and a weekday, in any order
    ("2026 december 4").
    """
    if _DP_NUMERIC_RE.fullmatch(text):
        return "numeric"
    if _DP_PAST_RE.fullmatch(text):
        return "past"
    tokens = text.split()
    if tokens[-1] in ("the", "of", "on"):
        return None
    months, weekdays, days, years = [], [], [], []
    for token in tokens:
        if _MONTH_TOKEN.fullmatch(token):
            months.append(token)
        elif _WEEKDAY_TOKEN.fullmatch(token):
            weekdays.append(token)
        elif _DP_DAY_TOKEN.fullmatch(token):
            days.append(token)
        elif _DP_YEAR_TOKEN.fullmatch(token):
            years.append(token)
        elif token not in ("the", "of", "on"):
            return None
    if len(days) == 2 and days[1].isdigit() and not years:
        years.append(days.pop())  # "dec 4 26": a second bare number is a two-digit year
    if len(months) != 1 or len(weekdays) > 1 or len(days) != 1 or len(years) > 1:
        return None
    year = years[0] if years else None
    return _Absolute(
        weekday=weekdays[0] if weekdays else None,
        year=None if year is None else int(year) if len(year) == 4 else 2000 + int(year[-2:]),
    )


def _dateparser(text: str, base: datetime, tz: str) -> datetime | None:
    """dateparser with the settings PITFALLS measured: naive local base, TIMEZONE, aware result."""
    settings = {
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": "MDY",
        "RELATIVE_BASE": base,
        "TIMEZONE": tz,
        "RETURN_AS_TIMEZONE_AWARE": True,
        "PARSERS": ["relative-time", "custom-formats", "absolute-time"],  # no unix timestamps
    }
    try:
        found = DateDataParser(languages=["en"], settings=settings).get_date_data(text).date_obj
    except Exception:  # dateparser must never turn user text into a crash
        return None
    return found if isinstance(found, datetime) else None


def _fallback_day(text: str, local_now: datetime, tz: str, phrase: str) -> date:
    shape = _dateparser_shape(text)
    if shape is None:
        raise _unrecognised(phrase)
    found = _dateparser(text, local_now.replace(tzinfo=None), tz)
    if found is None:
        raise _unrecognised(phrase)
    day = (found.astimezone(local_now.tzinfo) if found.tzinfo else found).date()
    if isinstance(shape, _Absolute):
        # our year rules, not dateparser's "prefer the future" guess
        day = _month_day(day.month, day.day, None, local_now.date(), phrase)
        if shape.year is not None:
            day = _month_day(day.month, day.day, str(shape.year), local_now.date(), phrase)
        if shape.weekday is not None:
            _check_weekday(day, shape.weekday, phrase)
    return day


# --------------------------------------------------------------------------------------------
# Putting day and time together


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _local(day: date, tod: time, zone: ZoneInfo) -> datetime:
    """Wall-clock time in `zone`; a time skipped by spring-forward moves to the real instant."""
    local = datetime(day.year, day.month, day.day, tod.hour, tod.minute, tzinfo=zone)
    try:
        return local.astimezone(UTC).astimezone(zone)
    except OverflowError:  # year 1 or 9999: no DST to fix there, and it is refused anyway
        return local


def _finish(day: date, tod: time | None, local_now: datetime, zone: ZoneInfo) -> Due:
    no_year = isinstance(day, _NoYear)
    if day < local_now.date():
        at = _local(day, tod or END_OF_DAY, zone)
        raise _past(at, has_time=tod is not None, no_year=no_year)
    if tod is None:
        at = _local(day, END_OF_DAY, zone)
        if at < local_now:  # today, after 17:00: still today
            at = max(_local(day, LATE_IN_DAY, zone), local_now)
        return _checked(Due(at, has_time=False), local_now)
    at = _local(day, tod, zone)
    if at < local_now:
        raise _past(at, has_time=True)
    return _checked(Due(at, has_time=True), local_now)


def _checked(due: Due, local_now: datetime) -> Due:
    """Refuse dates more than five years ahead, counted in whole days (the day itself is fine)."""
    try:
        limit = local_now.date() + relativedelta(years=MAX_YEARS_AHEAD)
    except (OverflowError, ValueError):
        return due  # `now` itself is within five years of the end of the calendar
    if due.at.date() > limit:
        raise _too_far()
    return due
