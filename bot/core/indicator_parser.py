"""Reading what people type after `/indicator`: the question (`<name> [since P] [last N units]
[in PLACE] [by WORD]`), a value a steward enters (`set <name> <value> [for P] [in PLACE]`), a
number as people write it, and the words of a name as they are compared.

Pure: a refusal is an IndicatorError whose text is shown to the person as is, before anything
is read or stored. Finding the indicator and working out the answer is `bot.usecases.indicators`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
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
    """`/indicator <name> [since P] [last N units] [in GEO] [by WORD]`."""

    name: str
    since: Period | None = None
    last: tuple[int, str] | None = None  # (12, "months")
    geography: str | None = None
    by: str | None = None  # "state", "ward", ...: every geography side by side


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
        if i > 0 and low == "in" and rest >= 1:
            end = i + 1
            while end < len(words) and words[end].lower() not in KEYWORDS:
                end += 1
            geography = " ".join(words[i + 1 : end])
            if not geography:
                raise IndicatorError("In which place? e.g. `/indicator overdose deaths in MD`.")
            i = end
            continue
        if i > 0 and low == "by" and rest >= 1:
            by = words[i + 1].lower()
            i += 2
            continue
        name_words.append(word)
        i += 1
    if not name_words:
        raise IndicatorError("Which indicator? e.g. `/indicator overdose deaths since 2022`.")
    if geography is not None and by is not None:
        raise IndicatorError(
            f"Ask for one place (`in {safe(geography, 30)}`) or all of them (`by {safe(by, 20)}`), not both."
        )
    return Query(" ".join(name_words), since=since, last=last, geography=geography, by=by)


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
