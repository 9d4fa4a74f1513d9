"""Indicator periods: parsing what publishers write, labelling it for people, and stepping in time.

Pure functions, no I/O. A period is stored as canonical text (`IndicatorValue.period`):

- ``2025-03-03`` a day (daily data, or the first day of a week for weekly data: a Monday for an
                 ISO week, a Sunday for a CDC (MMWR) week; each covers the 7 days from there)
- ``2025-04``    a month (also the month a 12-month-ending value ends in)
- ``2025-Q1``    a quarter
- ``2025``       a year (a fiscal or school year too: ``FY2024``, ``FY2023-24`` and ``2023-24``
                 are stored as ``2024``, the year it ends in, which is how publishers name fiscal
                 years; when it starts is the publisher's)

The *kind* of an indicator (``Indicator.period_kind``) says how to read its periods; it matters
for ``12-month-ending`` data, where "Apr 2025" really means May 2024 to April 2025.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from epiweeks import Week, Year

from bot.core.text import clip

PERIOD_KINDS = ("daily", "weekly", "monthly", "quarterly", "yearly", "12-month-ending")
GRAINS = ("day", "month", "quarter", "year")

# The oldest and newest years we believe are real periods (catches "0", "99", Excel serials).
MIN_YEAR = 1900
MAX_YEAR = 2200


@dataclass(frozen=True, order=True)
class Period:
    """One period. Ordered by start date, so sorted() gives time order."""

    start: date  # first day (for 12-month-ending data: the first day of the month shown)
    text: str  # canonical text as stored: "2025-04", "2025-Q1", "2025", "2025-03-03"
    grain: str  # "day" | "month" | "quarter" | "year"

    def __str__(self) -> str:
        return self.text


class PeriodError(ValueError):
    """A period (or period kind, or update frequency) we cannot read; the message says why."""


_FORMS_HINT = (
    "write it as 2025-04-30 (a day or the first day of a week), 2025-04 (a month), "
    "2025-Q2 (a quarter) or 2025 (a year)"
)

_MONTHS: dict[str, int] = {}
for _number in range(1, 13):
    _MONTHS[calendar.month_name[_number].lower()] = _number
    _MONTHS[calendar.month_abbr[_number].lower()] = _number
_MONTHS["sept"] = 9

_DAY_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_MONTH_RE = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_QUARTER_RE = re.compile(r"^(\d{4})\s*[-/ ]?\s*q(\d)$|^q(\d)\s*[-/ ,]?\s*(\d{4})$", re.IGNORECASE)
_YEAR_RE = re.compile(r"^(\d{4})(?:\.0+)?$")
_NAMED_MONTH_RE = re.compile(r"^([a-z]+)\.?[\s,\-/]+(\d{4})$", re.IGNORECASE)
_MONTH_FIRST_RE = re.compile(r"^(\d{1,2})[-/](\d{4})$")  # 04/2025
_SDMX_MONTH_RE = re.compile(r"^(\d{4})\s*M(\d{1,2})$", re.IGNORECASE)  # 2025M04
_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)  # 2025-W14 (ISO)
# FY2024, FY 2024, FY24, FY2023-24, FY 2023-2024: the fiscal year is named by the year it ends in.
_FISCAL_RE = re.compile(r"^FY\s*[-']?\s*(\d{4}|\d{2})(?:\s*[-/]\s*(\d{4}|\d{2}))?$", re.IGNORECASE)
# 2022-23, 2022/23, 2022-2023: a school or fiscal year (when the second year follows the first).
_SCHOOL_YEAR_RE = re.compile(r"^(\d{4})\s*[-/\u2013]\s*(\d{4}|\d{2})$")


_EXCEL_DAY_ZERO = date(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug included)
_EXCEL_SERIALS = range(20_000, 80_001)  # Oct 1954 to Jan 2119: dates as Excel counts them


def _excel_serial(text: str, number: float) -> None:
    """A period that is a date as Excel stores it (45566: Oct 1, 2024) in a cell not formatted
    as a date: say so, rather than "the year 45566 looks wrong"."""
    if number.is_integer() and int(number) in _EXCEL_SERIALS:
        day = _EXCEL_DAY_ZERO + timedelta(days=int(number))
        raise PeriodError(
            f"'{clip(text, 20)}' is not a period: it looks like a date as Excel counts days "
            f"({day:%b} {day.day}, {day.year}); format the column as dates in Excel and save "
            "the file again"
        )


def _year(text: str, year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"'{text}' is not a period: the year {year} looks wrong; {_FORMS_HINT}")
    return year


def month_period(year: int, month: int) -> Period:
    return Period(date(year, month, 1), f"{year:04d}-{month:02d}", "month")


def quarter_period(year: int, quarter: int) -> Period:
    return Period(date(year, 3 * quarter - 2, 1), f"{year:04d}-Q{quarter}", "quarter")


def year_period(year: int) -> Period:
    return Period(date(year, 1, 1), f"{year:04d}", "year")


def day_period(day: date) -> Period:
    return Period(day, day.isoformat(), "day")


def _period_of(start: date, grain: str) -> Period:
    if grain == "day":
        return day_period(start)
    if grain == "month":
        return month_period(start.year, start.month)
    if grain == "quarter":
        return quarter_period(start.year, (start.month - 1) // 3 + 1)
    return year_period(start.year)


def parse_period(text: object) -> Period:
    """Read a period as publishers write it; refuse anything ambiguous with a PeriodError.

    Accepts ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY-Qn`` and ``YYYY``, and the common variants
    ``2025-4``, ``2025/04``, ``04/2025``, ``Apr 2025``, ``April 2025``, ``2025M04``, ``Q1 2025``,
    ``2025-W14`` (an ISO week: its Monday), ``FY2024`` (a fiscal year: the year 2024), ``2023-24``
    and ``2023-2024`` (a school or fiscal year, read as FY2023-24: the year 2024), ``2025.0`` (a
    year that went through Excel as a number), and date/datetime values (Excel cells, pandas
    Timestamps) at midnight, which are days.
    """
    if isinstance(text, Period):
        return text
    if isinstance(text, datetime):  # also pandas.Timestamp
        if (text.hour, text.minute, text.second, text.microsecond) != (0, 0, 0, 0):
            raise PeriodError(
                f"'{text}' has a time of day; a period is a date, month, quarter or year"
            )
        return day_period(date(text.year, text.month, text.day))
    if isinstance(text, date):
        return day_period(text)
    if isinstance(text, bool):
        raise PeriodError(f"'{text}' is not a period; {_FORMS_HINT}")
    if isinstance(text, int):
        _excel_serial(str(text), float(text))
        return year_period(_year(str(text), text))
    if isinstance(text, float):
        if math.isnan(text):
            raise PeriodError(f"the period is blank; {_FORMS_HINT}")
        if not text.is_integer():
            raise PeriodError(f"'{text}' is not a period; {_FORMS_HINT}")
        _excel_serial(str(text), text)
        return year_period(_year(str(text), int(text)))
    if not isinstance(text, str):
        raise PeriodError(f"'{text}' is not a period; {_FORMS_HINT}")

    raw = text
    text = text.strip()
    if not text:
        raise PeriodError(f"the period is blank; {_FORMS_HINT}")
    if len(text) > 40:
        raise PeriodError(f"'{clip(text, 40)}' is not a period; {_FORMS_HINT}")

    if m := _DAY_RE.match(text):
        year, month, day = _year(raw, int(m[1])), int(m[2]), int(m[3])
        if not 1 <= month <= 12:
            raise PeriodError(f"'{raw}' is not a date: {month} is not a month (01 to 12)")
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise PeriodError(
                f"'{raw}' is not a date: {calendar.month_name[month]} {year} has days 1 to {last}"
            )
        return day_period(date(year, month, day))
    if (m := _SCHOOL_YEAR_RE.match(text)) and _follows(m[1], m[2]) and not _a_month(text):
        # 2022-23 (never a month: there is no month 23) is the school or fiscal year FY2022-23.
        # 2009-10 stays October 2009 here, as stored months are written; a column of them is
        # judged whole by school_years_in_doubt.
        return year_period(_fiscal_year(raw, m[1], m[2]))
    if m and len(m[2]) == 4:
        raise PeriodError(
            f"'{raw}' is not a period: a school or fiscal year spans two years in a row (2023-24)"
        )
    if m := _MONTH_RE.match(text):
        year, month = _year(raw, int(m[1])), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"'{raw}' is not a month: months are 01 to 12")
        return month_period(year, month)
    if m := _QUARTER_RE.match(text):
        year_text, quarter_text = (m[1], m[2]) if m[1] else (m[4], m[3])
        year, quarter = _year(raw, int(year_text)), int(quarter_text)
        if not 1 <= quarter <= 4:
            raise PeriodError(f"'{raw}' is not a quarter: quarters are Q1 to Q4")
        return quarter_period(year, quarter)
    if m := _YEAR_RE.match(text):
        return year_period(_year(raw, int(m[1])))
    if m := _MONTH_FIRST_RE.match(text) or _SDMX_MONTH_RE.match(text):
        first, second = int(m[1]), int(m[2])
        year, month = (second, first) if len(m[2]) == 4 else (first, second)
        if not 1 <= month <= 12:
            raise PeriodError(f"'{raw}' is not a month: months are 01 to 12")
        return month_period(_year(raw, year), month)
    if m := _WEEK_RE.match(text):
        return week_period(_year(raw, int(m[1])), int(m[2]), raw)
    if m := _FISCAL_RE.match(text):
        return year_period(_fiscal_year(raw, m[1], m[2]))
    if m := _NAMED_MONTH_RE.match(text):
        month_number = _MONTHS.get(m[1].lower())
        if month_number is None:
            raise PeriodError(f"'{raw}' is not a month: '{m[1]}' is not a month name")
        return month_period(_year(raw, int(m[2])), month_number)
    if re.fullmatch(r"\d{5}(?:\.0+)?", text):
        _excel_serial(raw, float(text))
    raise PeriodError(f"'{raw}' is not a period; {_FORMS_HINT}")


def _a_month(text: str) -> bool:
    """Whether `text` is a month as months are stored (2009-10), school year or not."""
    m = _MONTH_RE.match(text)
    return m is not None and 1 <= int(m[2]) <= 12


def _reads_as_month(text: str) -> bool:
    try:
        return parse_period(text).grain == "month"
    except PeriodError:
        return False


def _follows(first: str, second: str) -> bool:
    """Whether `second` (two or four digits) is the year after `first` (four digits)."""
    after = int(first) + 1
    return int(second) == (after if len(second) == 4 else after % 100)


def school_years_in_doubt(values: Iterable[object]) -> str | None:
    """Why a column's periods can't be read, when they look like school or fiscal years written
    as months; None when they can.

    ``2009-10`` is October 2009 or the school year 2009-10. One such value among months is a
    month (2009-09, 2009-10, 2009-11), and alone it is too (how months are stored); but a column
    of them (2009-10, 2010-11, 2011-12: one month a year, each the year's last two digits plus
    one), or one beside school years that can only be years (2012-13), is school years written
    the ambiguous way: read as months they would be stored, silently, as Oct 2009, Nov 2010…
    Rather than guess, say how to write them."""
    doubtful: list[str] = []
    others: list[str] = []
    school_years = False
    for value in dict.fromkeys(str(v).strip() for v in values):
        if (m := _SCHOOL_YEAR_RE.match(value)) and _follows(m[1], m[2]):
            if _a_month(value):
                doubtful.append(value)
            else:
                school_years = True
        else:
            others.append(value)
    if not doubtful or (len(doubtful) < 2 and not school_years):
        return None  # (most columns: their other periods are not parsed a second time)
    if not school_years and any(_reads_as_month(value) for value in others):
        return None
    first = doubtful[0]
    start, end = first.replace("/", "-").split("-")
    month = _plain_label(parse_period(first))
    return (
        f"'{first}' could be {month} or the school or fiscal year {first}; write school or "
        f"fiscal years as {start}-{int(start) + 1} (or FY{start}-{end}) and months as {month}"
    )


def _fiscal_year(raw: str, first: str, second: str | None) -> int:
    """The year a fiscal year ends in: FY2024 -> 2024, FY24 -> 2024, FY2023-24 -> 2024."""

    def full(digits: str, century_of: int | None = None) -> int:
        if len(digits) == 4:
            return int(digits)
        if century_of is None:
            return 2000 + int(digits)
        year = century_of // 100 * 100 + int(digits)
        return year + 100 if year < century_of else year  # FY2099-00 ends in 2100

    start = full(first)
    if second is None:
        return _year(raw, start)
    end = full(second, start)
    if end != start + 1:
        raise PeriodError(
            f"'{raw}' is not a fiscal year: a fiscal year spans two years in a row (FY2023-24)"
        )
    return _year(raw, end)


def week_period(year: int, week: int, raw: object = None, *, system: str = "iso") -> Period:
    """Week `week` of `year`, stored as its first day: an ISO week (`system` "iso") runs Monday
    to Sunday, week 1 holding the year's first Thursday; a CDC (MMWR, "epi") week (`system`
    "cdc") runs Sunday to Saturday, week 1 the first one with at least four days in the year
    (so 2026's starts on Sunday Jan 4, and 2025's on Sunday Dec 29, 2024). Either kind of
    year has 52 or 53 weeks."""
    shown = f"'{raw}' is not a week: " if raw is not None else ""
    if system == "cdc":
        try:
            return day_period(Week(year, week, system="cdc").startdate())
        except ValueError:
            weeks = Year(year, system="cdc").totalweeks()
            raise PeriodError(f"{shown}{year} has MMWR weeks 1 to {weeks}, not {week}") from None
    try:
        return day_period(date.fromisocalendar(year, week, 1))
    except ValueError:
        weeks = date(year, 12, 28).isocalendar().week  # Dec 28 is always in the last week
        raise PeriodError(f"{shown}{year} has ISO weeks 1 to {weeks}, not {week}") from None


def week_ending(day: object) -> Period:
    """The week that ends on `day` (a publisher's "Week Ending Date": CDC's weekly tables give
    the Saturday that closes each MMWR week), stored as its first day, six days before."""
    last = parse_period(day)
    if last.grain != "day":
        raise PeriodError(f"'{clip(str(day), 40)}' is not a day, so it ends no week")
    return day_period(last.start - timedelta(days=6))


_END_WORDS = frozenset({"end", "ending", "ended", "ends", "weekend", "weekending", "thru"})
_CDC_WEEK_WORDS = frozenset({"mmwr", "epi", "epiweek", "epiweeks", "epiyear", "cdc"})


def names_an_end(column: str) -> bool:
    """Whether a column's name says its dates are the last day of each period ("Week Ending
    Date", "week_end", "Period End")."""
    return bool(set(re.findall(r"[a-z]+", column.casefold())) & _END_WORDS)


def names_cdc_weeks(column: str) -> bool:
    """Whether a column's name says it counts CDC's (MMWR, epidemiological) weeks rather than
    ISO weeks: "MMWR Week", "MMWR Year", "epiweek", "Epi week", "CDC Week"."""
    return bool(set(re.findall(r"[a-z]+", column.casefold())) & _CDC_WEEK_WORDS)


# A period written over several columns (year + month, quarter or week): how each part is read.
# "mmwr week" is a CDC (MMWR) week, Sunday to Saturday; "week" an ISO week.
CDC_WEEK = "mmwr week"
_PART_RANGES = {"month": (1, 12), "quarter": (1, 4), "week": (1, 53), CDC_WEEK: (1, 53)}
# How `mmwr week=COLUMN` may be written (the part's own name, spaces for `_` and `-`).
CDC_WEEK_PARTS = frozenset({CDC_WEEK, "mmwr", "epi week", "epiweek", "cdc week"})
# Words of a column's name that say which part of a period it holds ("MMWR Week", "Report
# Month"); epi… words are CDC weeks too (`names_cdc_weeks`). Read by the importer's options and
# by the upload's guess alike.
PART_WORDS: dict[str, frozenset[str]] = {
    "year": frozenset({"year", "yr", "yyyy", "years", "epiyear"}),
    "month": frozenset({"month", "mon", "mo", "mm", "months"}),
    "quarter": frozenset({"quarter", "qtr", "quarters"}),
    "week": frozenset({"week", "wk", "weeks", "epiweek", "epiweeks"}),
}
_PART_WORD = {CDC_WEEK: "MMWR week"}


def _part_number(part: str, value: object) -> int:
    text = str(value).strip() if value is not None else ""
    if isinstance(value, float) and math.isnan(value):
        text = ""
    word, noun = _PART_WORD.get(part, part), "week" if part == CDC_WEEK else part
    if not text:
        raise PeriodError(f"the {word} is blank")
    if part == "year":
        if not _YEAR_RE.match(text):
            raise PeriodError(f"the year '{clip(text, 20)}' is not a year (write it as 2025)")
        return _year(text, int(float(text)))
    if part == "month" and text.casefold().rstrip(".") in _MONTHS:
        return _MONTHS[text.casefold().rstrip(".")]
    if part == "quarter" and re.fullmatch(r"q\d", text, re.IGNORECASE):
        text = text[1:]
    low, high = _PART_RANGES[part]
    if not re.fullmatch(r"\d{1,2}(?:\.0+)?", text):
        example = {"month": "1 to 12 or Jan", "quarter": "1 to 4 or Q1"}.get(part, "1 to 53")
        raise PeriodError(f"the {word} '{clip(text, 20)}' is not a {noun} (write {example})")
    number = int(float(text))
    if not low <= number <= high:
        raise PeriodError(f"{word} {number} is not a {noun} ({low} to {high})")
    return number


def period_from_parts(year: object, part: str | None = None, value: object = None) -> Period:
    """The period written over columns: a year alone, or a year and its month, quarter, ISO
    week (part "week", stored as the week's Monday) or CDC (MMWR) week (part "mmwr week", with
    the MMWR year: stored as the week's Sunday). Each part may be a number as text, or an Excel
    number (2025.0); a month may be a name ("Apr")."""
    number = _part_number("year", year)
    if part is None:
        return year_period(number)
    if part not in _PART_RANGES:
        raise PeriodError(f"'{part}' is not a part of a period (month, quarter or week)")
    within = _part_number(part, value)
    if part == "month":
        return month_period(number, within)
    if part == "quarter":
        return quarter_period(number, within)
    return week_period(number, within, system="cdc" if part == CDC_WEEK else "iso")


def _check_kind(kind: str | None) -> str | None:
    if kind is None or kind == "":
        return None
    normal = normalise_kind(kind)
    if normal is None:
        raise PeriodError(f"'{kind}' is not a period kind; use one of {', '.join(PERIOD_KINDS)}")
    return normal


def normalise_kind(kind: str) -> str | None:
    """The PERIOD_KINDS spelling of a kind as people write it ("12 month-ending", "annual")."""
    key = re.sub(r"[\s_\-]+", "-", kind.strip().lower())
    aliases = {
        "annual": "yearly",
        "annually": "yearly",
        "year": "yearly",
        "month": "monthly",
        "quarter": "quarterly",
        "week": "weekly",
        "day": "daily",
        "12-month-ending": "12-month-ending",
        "12-months-ending": "12-month-ending",
        "12-month-rolling": "12-month-ending",
        "rolling-12-month": "12-month-ending",
        "rolling-12-months": "12-month-ending",
    }
    if key in PERIOD_KINDS:
        return key
    return aliases.get(key)


def _plain_label(period: Period) -> str:
    start = period.start
    if period.grain == "day":
        return f"{calendar.month_abbr[start.month]} {start.day}, {start.year}"
    if period.grain == "month":
        return f"{calendar.month_abbr[start.month]} {start.year}"
    if period.grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return str(start.year)


def has_begun(period: Period, now: datetime) -> bool:
    """Whether a value for `period` can exist at `now` (aware): its first day has come. A day
    of slack past UTC's date, as the coalition's today may already be UTC's tomorrow."""
    return period.start <= now.astimezone(UTC).date() + timedelta(days=1)


def label(period: Period | str, kind: str | None) -> str:
    """The period as people say it: "Apr 2025", "12 months ending Apr 2025", "week of Mar 3, 2025"."""
    if not isinstance(period, Period):
        period = parse_period(period)
    kind = _check_kind(kind)
    text = _plain_label(period)
    if kind == "12-month-ending":
        return f"12 months ending {text}"
    if kind == "weekly" and period.grain == "day":
        return f"week of {text}"
    return text


def explain(kind: str | None) -> str | None:
    """One sentence for people when a kind is not self-evident; None when it is."""
    kind = _check_kind(kind)
    if kind == "12-month-ending":
        return (
            "12-month-ending: each value counts the 12 months up to and including the month shown "
            "(a rolling annual total, published monthly)."
        )
    if kind == "weekly":
        return "weekly: each value covers the 7 days starting on the date shown."
    return None


def _step(period: Period, kind: str | None) -> relativedelta:
    """How far one period of `kind` is, expressed so it keeps the period's grain."""
    grain = period.grain
    if grain == "day":
        return {
            "weekly": relativedelta(days=7),
            "monthly": relativedelta(months=1),
            "12-month-ending": relativedelta(months=1),
            "quarterly": relativedelta(months=3),
            "yearly": relativedelta(years=1),
        }.get(kind or "", relativedelta(days=1))
    if grain == "month":
        return {"quarterly": relativedelta(months=3), "yearly": relativedelta(years=1)}.get(
            kind or "", relativedelta(months=1)
        )
    if grain == "quarter":
        return relativedelta(years=1) if kind == "yearly" else relativedelta(months=3)
    return relativedelta(years=1)


def shift(period: Period, kind: str | None, steps: int) -> Period:
    """The period `steps` periods of `kind` later (negative: earlier), in the same grain."""
    kind = _check_kind(kind)
    start = period.start + _step(period, kind) * steps
    return _period_of(start, period.grain)


def year_earlier(period: Period, kind: str | None) -> Period:
    """The comparable period a year before: 52 weeks for weekly data (same weekday)."""
    kind = _check_kind(kind)
    if period.grain == "day" and kind == "weekly":
        return day_period(period.start - timedelta(weeks=52))
    # relativedelta clamps Feb 29 to Feb 28.
    return _period_of(period.start - relativedelta(years=1), period.grain)


def period_end(period: Period, kind: str | None) -> date:
    """The last day a period covers (a week for weekly data; the month shown for 12-month-ending)."""
    kind = _check_kind(kind)
    start = period.start
    if period.grain == "day":
        if kind != "weekly":
            return start
        # Counted back from date.max, not forward: a question about the week of Dec 31, 9999
        # has an answer ("no data"), not an overflow.
        return start + timedelta(days=min(6, (date.max - start).days))
    last = {"month": start.month, "quarter": start.month + 2, "year": 12}[period.grain]
    return date(start.year, last, calendar.monthrange(start.year, last)[1])


def infer_kind(periods: Sequence[Period]) -> str:
    """Guess the kind from the periods' grain and spacing (most common gap between them)."""
    if not periods:
        raise PeriodError("there are no periods to tell the kind from")
    grains = {p.grain for p in periods}
    if len(grains) > 1:
        names = {"day": "dates", "month": "months", "quarter": "quarters", "year": "years"}
        mixed = " and ".join(names[g] for g in GRAINS if g in grains)
        raise PeriodError(f"the periods mix {mixed}; use one kind of period per indicator")
    grain = grains.pop()
    if grain == "quarter":
        return "quarterly"
    if grain == "year":
        return "yearly"
    starts = sorted({p.start for p in periods})
    if grain == "month":
        gaps = [(b.year - a.year) * 12 + b.month - a.month for a, b in itertools.pairwise(starts)]
        gap = Counter(gaps).most_common(1)[0][0] if gaps else 1
        return {3: "quarterly", 12: "yearly"}.get(gap, "monthly")
    day_gaps = [(b - a).days for a, b in itertools.pairwise(starts)]
    if not day_gaps:
        return "daily"
    gap = Counter(day_gaps).most_common(1)[0][0]
    if gap == 1:
        return "daily"
    if gap % 7 == 0 and gap < 28:
        return "weekly"
    if 28 <= gap <= 31:
        return "monthly"
    if 89 <= gap <= 92:
        return "quarterly"
    if 365 <= gap <= 366:
        return "yearly"
    return "daily"


_FREQUENCY_WORDS = {
    "daily": relativedelta(days=1),
    "weekly": relativedelta(weeks=1),
    "monthly": relativedelta(months=1),
    "quarterly": relativedelta(months=3),
    "yearly": relativedelta(years=1),
    "annually": relativedelta(years=1),
    "annual": relativedelta(years=1),
}
_LAG_RE = re.compile(
    r"(\d+)\s*-?\s*(day|week|month|quarter|year)s?\s*-?\s*lag|lag\s*(?:of\s*)?(\d+)\s*-?\s*(day|week|month|quarter|year)s?",
    re.IGNORECASE,
)
_LAG_UNITS = {
    "day": relativedelta(days=1),
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "quarter": relativedelta(months=3),
    "year": relativedelta(years=1),
}


def parse_update_frequency(text: str) -> tuple[relativedelta | None, relativedelta | None]:
    """Read "monthly", "quarterly", "monthly, 4-month lag": (publication interval, lag).

    Raises PeriodError when the text says something we cannot read (the catalog uses this to
    validate). Either part may be missing.
    """
    interval: relativedelta | None = None
    lag: relativedelta | None = None
    rest = text.strip().lower()
    if not rest:
        return None, None
    if m := _LAG_RE.search(rest):
        number = int(m[1] or m[3])
        lag = _LAG_UNITS[(m[2] or m[4]).lower()] * number
        rest = (rest[: m.start()] + rest[m.end() :]).strip()
    rest = re.sub(r"^[\s,;()]+|[\s,;()]+$", "", rest)
    rest = re.sub(r"[\s,;()]+", " ", rest)
    if rest:
        interval = _FREQUENCY_WORDS.get(rest)
        if interval is None:
            raise PeriodError(
                f"'{text}' is not an update frequency; write e.g. 'monthly', 'quarterly', "
                "'yearly' or 'monthly, 4-month lag'"
            )
    return interval, lag


def expected_next(latest: Period, kind: str | None, update_frequency: str | None) -> date:
    """The day by which the value for the period after `latest` should have arrived.

    Rule: the next period's last day, plus the publication lag. The lag comes from the update
    frequency ("monthly, 4-month lag" → 4 months). Without a stated lag we allow one publication
    interval ("monthly" → a month; no frequency → one period of the indicator's kind), because a
    value can only be published after its period is over. Unreadable frequency text is ignored
    here (the catalog refuses it on load), so the scheduler never fails on old data.
    """
    kind = _check_kind(kind)
    following = shift(latest, kind, 1)
    end = period_end(following, kind)
    interval: relativedelta | None = None
    lag: relativedelta | None = None
    if update_frequency:
        try:
            interval, lag = parse_update_frequency(update_frequency)
        except PeriodError:
            interval, lag = None, None
    if lag is None:
        lag = interval if interval is not None else _step(following, kind)
    return end + lag


__all__ = [
    "CDC_WEEK",
    "PERIOD_KINDS",
    "Period",
    "PeriodError",
    "day_period",
    "expected_next",
    "explain",
    "infer_kind",
    "label",
    "month_period",
    "names_an_end",
    "names_cdc_weeks",
    "normalise_kind",
    "parse_period",
    "parse_update_frequency",
    "period_end",
    "period_from_parts",
    "quarter_period",
    "school_years_in_doubt",
    "shift",
    "week_ending",
    "week_period",
    "year_earlier",
    "year_period",
]
