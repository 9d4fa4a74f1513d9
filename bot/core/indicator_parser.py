"""Reading what people type after `/indicator`: the question (`<name> [since P] [last N units]
[in PLACE] [by WORD] [for PERIOD | in PERIOD]`), a value a steward enters (`set <name> <value> [for P] [in PLACE]`), a
number as people write it, and the words of a name as they are compared.

Pure: a refusal is an IndicatorError whose text is shown to the person as is, before anything
is read or stored. Finding the indicator and working out the answer is `bot.usecases.indicators`.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from bot.core import periods
from bot.core.periods import Period, PeriodError
from bot.core.text import safe

SUPPRESSED = frozenset({"*", "§", "¶", "na", "n/a", "suppressed", "<10", "missing", "blank"})
# The words that start a modifier after the name; a question that starts with one has no name.
KEYWORDS = frozenset({"since", "last", "in", "by", "for"})
_STOPWORDS = frozenset({"of", "the", "a", "an", "and"})
_UNITS = {
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
    "quarter": "quarters",
    "quarters": "quarters",
    "year": "years",
    "years": "years",
}
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\.\d+%?$")


class IndicatorError(Exception):
    """A refusal or an explanation for the person who asked, shown as is (ephemeral)."""


# --- the question --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """`/indicator <name> [since P] [last N units] [in GEO] [by WORD] [for P | in P]`."""

    name: str
    since: Period | None = None
    last: tuple[int, str] | None = None  # (12, "months")
    geography: str | None = None
    by: str | None = None  # "state", "ward", ...: every geography side by side
    at: Period | None = None  # the one period asked about: `for Dec 2023`, `in 2023`


def parse_query(text: str) -> Query:
    """Split the name from the modifiers, which may come in any order after it."""
    words = text.split()
    if not words:
        raise IndicatorError("Which indicator? e.g. `/indicator overdose deaths`.")
    name_words: list[str] = []
    since: Period | None = None
    last: tuple[int, str] | None = None
    geography: str | None = None
    by: str | None = None
    at: Period | None = None
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        rest = len(words) - i - 1
        if i > 0 and low == "since" and rest >= 1:
            since, used = _read_since(words[i + 1 : i + 3])
            i += 1 + used
            continue
        if i > 0 and low == "last" and rest >= 1:
            last, used = _read_last(words[i + 1 : i + 3])
            i += 1 + used
            continue
        if i > 0 and low in ("in", "for") and rest >= 1:
            end = i + 1
            while end < len(words) and words[end].lower() not in KEYWORDS:
                end += 1
            phrase = " ".join(words[i + 1 : end])
            if low == "for" and not phrase:  # "overdoses for last 12 months"
                i = end
                continue
            if low == "for" and not looks_like_period(phrase):
                name_words.append(word)  # part of a name: "calls for service"
                i += 1
                continue
            if low == "in" and not phrase:
                raise IndicatorError("In which place? e.g. `/indicator overdose deaths in MD`.")
            period = read_period(phrase) if low == "for" else _period_or_none(phrase)
            if period is None and low == "in" and at is None:  # "in MD Dec 2023"
                place_words = phrase.split()
                trailing = _trailing_period(place_words)
                if trailing is not None:
                    at, phrase = trailing, " ".join(place_words)
            if period is not None:
                if at is not None:
                    raise IndicatorError(_ONE_PERIOD)
                at = period
            elif geography is not None:
                raise IndicatorError(
                    f"One place at a time: `in {safe(geography, 30)}` or `in {safe(phrase, 30)}`, "
                    "not both (or `by state` to compare them all)."
                )
            else:
                geography = phrase
            i = end
            continue
        if i > 0 and low == "by" and rest >= 1:
            by = words[i + 1].lower()
            i += 2
            continue
        name_words.append(word)
        i += 1
    trailing = _trailing_period(name_words)  # "overdoses Dec 2023": said without `for`
    if trailing is not None and at is not None:
        raise IndicatorError(_ONE_PERIOD)
    at = at or trailing
    if not name_words:
        raise IndicatorError("Which indicator? e.g. `/indicator overdose deaths since 2022`.")
    if geography is not None and by is not None:
        raise IndicatorError(
            f"Ask for one place (`in {safe(geography, 30)}`) or all of them (`by {safe(by, 20)}`), not both."
        )
    return Query(" ".join(name_words), since=since, last=last, geography=geography, by=by, at=at)


_TRAILING_FORMS = re.compile(r"^(\d{4}-\d{2}|\d{1,2}/\d{4}|q[1-4][ -]\d{4})$", re.IGNORECASE)


def _trailing_period(name_words: list[str]) -> Period | None:
    """A month or quarter with its year at the end of the name (`overdoses Dec 2023`,
    `overdoses Q1 2024`, `overdoses 2023-12`) is the period asked for, as with `for`; the words
    are taken off the name. A bare year is left alone: "Healthy People 2030" is a name."""
    for used in (2, 1):
        if len(name_words) <= used:
            continue
        phrase = " ".join(name_words[-used:])
        first = name_words[-used].lower().rstrip(".,")
        if used == 2 and not (first in _MONTH_WORDS or _QUARTER_WORD.match(first)):
            continue
        if used == 2 and not re.fullmatch(r"\d{4}", name_words[-1]):
            continue
        if used == 1 and not _TRAILING_FORMS.match(phrase):
            continue
        try:
            period = read_period(phrase)
        except IndicatorError:
            continue
        del name_words[-used:]
        return period
    return None


def _read_since(words: Sequence[str]) -> tuple[Period, int]:
    for used in (2, 1):
        if len(words) >= used:
            try:
                return periods.parse_period(" ".join(words[:used])), used
            except PeriodError:
                continue
    raise IndicatorError(
        f"I can't read `since {safe(' '.join(words[:2]), 30)}` as a date. "
        "Use a year (`since 2022`) or a month (`since Mar 2023`)."
    )


def _read_last(words: Sequence[str]) -> tuple[tuple[int, str], int]:
    if len(words) >= 2 and words[0].isdigit() and words[1].lower() in _UNITS:
        number = int(words[0])
        if 1 <= number <= 1000:
            return (number, _UNITS[words[1].lower()]), 2
    if words and words[0].lower() in _UNITS:  # "last year", "last month"
        return (1, _UNITS[words[0].lower()]), 1
    raise IndicatorError(
        f"I can't read `last {safe(' '.join(words[:2]), 30)}`. "
        "Say how long, e.g. `last 12 months` or `last 3 years`."
    )


# --- one period asked about ----------------------------------------------------------------------

_ONE_PERIOD = (
    "One period at a time, e.g. `/indicator overdose deaths for Dec 2023` or `in 2023` "
    "(for a stretch of time: `since 2022` or `last 12 months`)."
)
_PERIOD_EXAMPLES = "e.g. `for Dec 2023`, `for 2023-12`, `for Q1 2024` or `in 2023`"
# "for the 12 months ending Dec 2023", "for the year 2023": the period is what follows.
_LEAD_IN = re.compile(
    r"^(?:the\s+)?(?:(?:(?:12|twelve)[\s-]*months?(?:\s+period)?\s+)?ending\s+|"
    r"(?:calendar\s+)?year\s+|month\s+of\s+)",
    re.IGNORECASE,
)
_MONTH_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{4})$")  # 12/2023, 12-2023
_YEAR_IN = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_DATE_NUMBERS = re.compile(r"(?<!\d)\d{4}(?!\d)|\d[/.-]\d")
_QUARTER_WORD = re.compile(r"^q\d+$", re.IGNORECASE)
_MONTH_WORDS = frozenset(
    name.lower() for name in (*calendar.month_name[1:], *calendar.month_abbr[1:], "sept")
)


def looks_like_period(text: str) -> bool:
    """Whether a phrase is meant as a period (it has a year-like number or a date's digits, or
    starts with a month or a quarter): `for service` stays part of a name, `in Ward 3` is a
    place, and `for 13/2024` is explained."""
    words = _LEAD_IN.sub("", text.strip()).split()
    if not words:
        return False
    first = words[0].lower().rstrip(".,")
    return (
        bool(_DATE_NUMBERS.search(text))
        or first in _MONTH_WORDS
        or bool(_QUARTER_WORD.match(first))
    )


def read_period(text: str) -> Period:
    """The period in a question (`Dec 2023`, `December 2023`, `2023-12`, `12/2023`, `Q1 2024`,
    `2023`, `the 12 months ending Dec 2023`); an IndicatorError says what is wrong with it.

    Any four-digit year (1000 to 9999) is read, so that `in 1800` is answered with the years
    that have data rather than refused as unreadable; `Jan 0001` is refused ("the year 1 looks
    wrong"): its answer would read "Jan 1"."""
    cleaned = _LEAD_IN.sub("", text.strip()).strip()
    if cleaned.lower().rstrip(".") in _MONTH_WORDS or _QUARTER_WORD.match(cleaned):
        raise IndicatorError(
            f"Which year? Ask e.g. `for {safe(cleaned.title(), 12)} 2024` (a month or quarter needs its year)."
        )
    try:
        return _read_period(cleaned)
    except PeriodError as error:
        # "'Q5 2024' is not a quarter: quarters are Q1 to Q4; write it as ..." -> the middle
        reason = re.sub(r"^'.*?' ", "", str(error)).split("; write it as")[0]
        raise IndicatorError(
            f"`{safe(text, 40)}` {safe(reason, 120)}. "
            f"Ask for one month, quarter or year, {_PERIOD_EXAMPLES}."
        ) from None


def _period_or_none(text: str) -> Period | None:
    """`in 2023` is a period and `in VT` a place; `in 13/2024` is explained by the answer when no
    place is called that (see `period_problem`)."""
    if not looks_like_period(text):
        return None
    try:
        return _read_period(_LEAD_IN.sub("", text.strip()).strip())
    except PeriodError:
        return None


def period_problem(text: str) -> str | None:
    """Why a phrase that looks like a period can't be read as one (None when it can, or when it
    doesn't look like one): said when `in <phrase>` names no place either."""
    if not looks_like_period(text):
        return None
    try:
        read_period(text)
    except IndicatorError as error:
        return str(error)
    return None


def _read_period(text: str) -> Period:
    if m := _MONTH_FIRST.match(text):
        month, year = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"'{text}' is not a month: {month} is not one of 1 to 12")
        return _any_year(f"{year:04d}-{month:02d}")
    return _any_year(text)


def _any_year(text: str) -> Period:
    """`periods.parse_period`, but with a four-digit year outside the ones data can have (1800,
    2999) read as asked: a question about such a year has an answer ("no data"), a stored value
    does not."""
    try:
        return periods.parse_period(text)
    except PeriodError:
        m = _YEAR_IN.search(text)
        if m is None or periods.MIN_YEAR <= int(m[1]) <= periods.MAX_YEAR or int(m[1]) < 1000:
            raise
        year = int(m[1])
        shape = periods.parse_period(text[: m.start()] + "2000" + text[m.end() :])
        start = shape.start
        if shape.grain == "year":
            return periods.year_period(year)
        if shape.grain == "quarter":
            return periods.quarter_period(year, (start.month - 1) // 3 + 1)
        if shape.grain == "month":
            return periods.month_period(year, start.month)
        try:
            return periods.day_period(date(year, start.month, start.day))
        except ValueError:
            raise PeriodError(
                f"'{text}' is not a date: {calendar.month_name[start.month]} {year} has no day {start.day}"
            ) from None


# --- the words of a name -------------------------------------------------------------------------


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Words for comparing names: lower case, no accents or punctuation, singular."""
    return list(_tokens(text[:1000]))


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.split(r"[^a-z0-9]+", plain)
    return tuple(_singular(w) for w in words if w and w not in _STOPWORDS)


# --- data entry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetRequest:
    name: str
    raw_value: str
    period: str | None
    geography: str | None


def parse_set(text: str) -> SetRequest:
    """`<name> <value> [for <period>] [in <place>]`, modifiers in either order."""
    words = text.split()
    rest: list[str] = []
    period: str | None = None
    geography: str | None = None
    i = 0
    while i < len(words):
        low = words[i].lower()
        if low in ("for", "in") and i > 0 and i + 1 < len(words):
            end = i + 1
            while end < len(words) and words[end].lower() not in ("for", "in"):
                end += 1
            value = " ".join(words[i + 1 : end])
            if (period if low == "for" else geography) is not None:
                raise IndicatorError(
                    "One value at a time: give one period (`for …`) and one place (`in …`), e.g. "
                    "`/indicator set overdose deaths 1,600 for Apr 2025 in MD`. Nothing was saved."
                )
            if low == "for":
                period = value
            else:
                geography = value
            i = end
            continue
        rest.append(words[i])
        i += 1
    if len(rest) < 2:
        raise IndicatorError(
            "Say which indicator and the value, e.g. "
            "`/indicator set overdose deaths 1,600 for Apr 2025 in MD`. Nothing was saved."
        )
    return SetRequest(" ".join(rest[:-1]), rest[-1], period, geography)


def parse_value(raw: str) -> float | None:
    """A number as people type it ("1,600", "12.5", "12.5%"); suppression words mean missing."""
    text = raw.strip()
    if text.lower() in SUPPRESSED:
        return None
    if not _NUMBER.match(text):
        raise IndicatorError(
            f"“{safe(text, 30)}” is not a number. Write the value like `1600`, `1,600` or `12.5` "
            "(or `suppressed` when it is not published). Nothing was saved."
        )
    return float(text.replace(",", "").rstrip("%"))
