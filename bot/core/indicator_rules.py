"""What `/indicator` works out from plain values: which indicator a name means and who may see
it, what the numbers say (change against the prior period and a year earlier, better or worse,
the gap to a target), which places to show, the chart's window, and whether a typed value can be
stored.

Pure: it reads the stored indicator's attributes (`IndicatorLike`) and values, never a session;
`bot.usecases.indicators` loads them and assembles the answer. Matching is forgiving on purpose
(leaders type "overdoes" or "deaths overdose" in a meeting), and a missing value is always
reported as missing, never as zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, Protocol, TypeVar

from dateutil.relativedelta import relativedelta
from rapidfuzz import fuzz

from bot.core import periods, places
from bot.core.indicator_parser import IndicatorError, Query, parse_value, tokens
from bot.core.periods import Period
from bot.core.text import format_number, safe

MATCH_AT = 70.0  # below this score a name is not that indicator
ALSO_WITHIN = 4.0  # others this close to the best are mentioned as "also"
MAX_NAME_WORDS = 20  # a 4,000-character paste is not a name; compare its first words only
DEFAULT_YEARS = 15  # chart history without `since`/`last`: the whole curve, to see it turn
LARGEST_VALUE = 1e12  # no indicator counts a trillion of anything: a larger number is a slip
LOWER_IS_BETTER = "lower"  # an indicator's stored direction
HIGHER_IS_BETTER = "higher"
# Words that say how something is counted, not what: "overdose deaths" is exactly
# "Number of Drug Overdose Deaths", and closer to it than to "opioid overdose deaths".
_FILLER = frozenset({"number", "count", "total", "drug", "all"})


class IndicatorLike(Protocol):
    """An indicator as stored (the indicator row has these attributes)."""

    @property
    def name(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def aliases(self) -> Sequence[str] | None: ...
    @property
    def restricted_to(self) -> Sequence[str] | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def target(self) -> float | None: ...
    @property
    def steward_id(self) -> str | None: ...


T = TypeVar("T", bound=IndicatorLike)


def format_value(value: float, unit: str | None) -> str:
    """`1,600 deaths`, `12.5%`: a value as Slack shows it, its unit (from a file) made safe."""
    number = format_number(value)
    if not unit:
        return number
    if unit.strip() == "%":
        return f"{number}%"
    return f"{number} {safe(unit)}"


# --- which indicator a name means ----------------------------------------------------------------


def _score(query: Sequence[str], candidate: Sequence[str]) -> float:
    """How well a name matches: every typed word should be found (allowing typos, any order);
    extra words in the indicator's name cost a little, so the shorter, closer name wins ties.
    100 means the same words, apart from counting words like "number of"."""
    if not query or not candidate:
        return 0.0
    core_query = [w for w in query if w not in _FILLER] or list(query)
    core = [w for w in candidate if w not in _FILLER] or list(candidate)
    if sorted(core_query) == sorted(core):
        return 100.0
    coverage = sum(max(fuzz.ratio(q, c) for c in candidate) for q in query) / len(query)
    closeness = fuzz.token_sort_ratio(" ".join(core_query), " ".join(core))
    return 0.85 * coverage + 0.14 * closeness


def names_of(indicator: IndicatorLike) -> list[str]:
    return [indicator.name, indicator.slug.replace("-", " "), *(indicator.aliases or [])]


def score(indicator: IndicatorLike, name: str) -> float:
    query = tokens(name)[:MAX_NAME_WORDS]
    return max(_score(query, tokens(candidate)) for candidate in names_of(indicator))


@dataclass(frozen=True)
class Found(Generic[T]):
    indicator: T
    also: tuple[T, ...] = ()


def is_visible(indicator: IndicatorLike, channel_id: str | None) -> bool:
    """A restricted indicator exists only in the channels it is restricted to."""
    return not indicator.restricted_to or (channel_id or "") in indicator.restricted_to


def find(candidates: Sequence[T], name: str) -> Found[T]:
    """The indicator meant by `name`, among those the asker may see; IndicatorError otherwise."""
    if not candidates:
        raise IndicatorError("No indicators yet — load some with `commstat import`.")
    ranked = sorted(((score(i, name), i) for i in candidates), key=lambda p: (-p[0], p[1].name))
    best_score, best = ranked[0]
    if best_score < MATCH_AT:
        closest = ", ".join(safe(i.name) for _, i in ranked[:3])
        raise IndicatorError(
            f"I don't know an indicator called “{safe(name, 60)}”. Closest: {closest}. "
            "`/indicator list` shows them all."
        )
    # An exact name or alias settles it; otherwise close runners-up are worth a mention.
    floor = 100.0 if best_score >= 100.0 else max(MATCH_AT, best_score - ALSO_WITHIN)
    also = tuple(i for s, i in ranked[1:4] if s >= floor)
    return Found(best, also)


# --- what the numbers say ------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    period: Period
    value: float | None  # None: missing or suppressed


@dataclass(frozen=True)
class Comparison:
    """The latest reported value against an earlier period."""

    period: Period
    value: float | None  # None: that period was not reported
    delta: float | None = None
    pct: float | None = None  # None also when the earlier value is 0
    verdict: str = "not reported"  # "better", "worse", "no change", "not reported"


@dataclass(frozen=True)
class Summary:
    """What one geography's series says, for the text answer."""

    geography: str
    latest: Point  # the newest period in the data (its value may be missing)
    reported: Point | None  # the newest period with a value
    prior: Comparison | None
    year_ago: Comparison | None
    target_gap: float | None  # reported value - target


def verdict(delta: float, direction: str) -> str:
    """`direction` as stored: "lower" (is better) or "higher"."""
    if delta == 0:
        return "no change"
    if direction not in (LOWER_IS_BETTER, HIGHER_IS_BETTER):
        raise ValueError(f"{direction!r} is not a direction")
    lower_is_better = direction == LOWER_IS_BETTER
    return "better" if (delta < 0) == lower_is_better else "worse"


def compare(
    value: float, earlier: Period, by_period: dict[date, float | None], direction: str
) -> Comparison:
    before = by_period.get(earlier.start)
    if before is None:
        return Comparison(earlier, None)
    delta = value - before
    pct = delta / abs(before) * 100 if before else None
    return Comparison(earlier, before, delta, pct, verdict(delta, direction))


def summarise(
    geography: str,
    points: Sequence[Point],
    *,
    kind: str | None,
    direction: str,
    target: float | None,
) -> Summary | None:
    """Latest value and its changes; None when the series is empty."""
    if not points:
        return None
    ordered = sorted(points, key=lambda p: p.period.start)
    latest = ordered[-1]
    reported = next((p for p in reversed(ordered) if p.value is not None), None)
    if reported is None or reported.value is None:
        return Summary(geography, latest, None, None, None, None)
    by_period = {p.period.start: p.value for p in ordered}
    value = reported.value
    before = periods.shift(reported.period, kind, -1)
    prior = compare(value, before, by_period, direction)
    year_before = periods.year_earlier(reported.period, kind)
    # For yearly data the prior period is the year before: saying it twice reads like a mistake.
    year = (
        None
        if year_before.start == before.start
        else compare(value, year_before, by_period, direction)
    )
    gap = value - target if target is not None else None
    return Summary(geography, latest, reported, prior, year, gap)


# --- places --------------------------------------------------------------------------------------


def target_for(indicator: IndicatorLike, geography: str, home: str | None) -> float | None:
    """A catalog target is the coalition's own: with a default place set, it is that place's
    target (Maryland's 1,200 deaths says nothing about Vermont or the US); without one, it applies
    to every place."""
    if indicator.target is None or not home or not geography:
        return indicator.target
    return indicator.target if place_key(geography) == place_key(home) else None


def place_key(text: str) -> str:
    """'the United States' / 'U.S.' / 'us' -> 'us'; 'Maryland' / 'MD' -> 'md' (people write
    places out in full, publishers often store the postal code: bot.core.places knows both)."""
    low = re.sub(r"[\s.,]+", " ", text.strip().lower()).strip()
    low = re.sub(r"^the ", "", low)
    code = places.state_code(low)
    return code.lower() if code else low


def match_geography(wanted: str, known: Iterable[str]) -> str | None:
    """The stored place the asker means: exact (any case) first, then by state name or code."""
    known = list(known)
    low = wanted.strip().lower()
    for geography in known:
        if geography.lower() == low:
            return geography
    key = place_key(wanted)
    if not key:
        return None
    for geography in known:
        if geography and place_key(geography) == key:
            return geography
    return None


def geographies_text(known: Sequence[str]) -> str:
    names = [g for g in known if g]
    if len(names) > 20:
        return ", ".join(names[:20]) + f" and {len(names) - 20} more"
    return ", ".join(names)


def choose_geographies(
    query: Query, known: Sequence[str], default: str | None, indicator_name: str
) -> tuple[list[str], bool, str | None]:
    """(geographies to show, detailed?, note). `in X` one; `by X` all; else the default or all."""
    if query.geography is not None:
        found = match_geography(query.geography, known)
        if found is None:
            places = geographies_text(known)
            if places:
                raise IndicatorError(
                    f"{safe(indicator_name)} has no data for “{safe(query.geography, 40)}”. "
                    f"Places with data: {safe(places)}."
                )
            raise IndicatorError(
                f"{safe(indicator_name)} is not broken down by place, so `in {safe(query.geography, 40)}` "
                "doesn't apply. Ask without it."
            )
        return [found], True, None
    if query.by is not None or len(known) <= 1:
        return list(known), len(known) <= 1, None
    if default:
        found = match_geography(default, known)
        if found is not None:
            return (
                [found],
                True,
                f"Showing {safe(found)}, the coalition's default place. Add `by place` to compare all.",
            )
    return list(known), False, None


# --- the chart's window --------------------------------------------------------------------------


def window_start(query: Query, latest: Period, kind: str | None) -> date:
    """First period start the chart shows."""
    if query.since is not None:
        return query.since.start
    if query.last is not None:
        number, unit = query.last
        step = {
            "days": relativedelta(days=number),
            "weeks": relativedelta(weeks=number),
            "months": relativedelta(months=number),
            "quarters": relativedelta(months=3 * number),
            "years": relativedelta(years=number),
        }[unit]
        return latest.start - step + relativedelta(days=1)
    return latest.start - relativedelta(years=DEFAULT_YEARS) + relativedelta(days=1)


def fill_gaps(
    points: Sequence[Point], kind: str | None, start: date, end: date
) -> tuple[Point, ...]:
    """Points from `start` to `end` with absent periods added as missing, so a chart shows a gap
    rather than a line drawn across months nobody reported."""
    inside = [p for p in points if start <= p.period.start <= end]
    if not inside:
        return ()
    by_start = {p.period.start: p for p in inside}
    filled: list[Point] = []
    current = inside[0].period
    guard = 0
    while current.start <= end and guard < 5000:
        filled.append(by_start.get(current.start, Point(current, None)))
        following = periods.shift(current, kind, 1)
        if following.start <= current.start:
            break
        current, guard = following, guard + 1
    # Periods that do not fall on the stepping grid (irregular data) are kept as they are.
    seen = {p.period.start for p in filled}
    filled.extend(p for p in inside if p.period.start not in seen)
    return tuple(sorted(filled, key=lambda p: p.period.start))


# --- data entry ----------------------------------------------------------------------------------


def value_range(minimum: float | None, maximum: float | None) -> tuple[float, float]:
    """The values an indicator can take, both ends included: from its catalog `min` (else zero)
    to its catalog `max` (else just under LARGEST_VALUE), never beyond ±LARGEST_VALUE.

    The one rule for every value stored, typed (`/indicator set`) or imported (`commstat import`);
    `value_problem` says in words why a value falls outside it."""
    largest = math.nextafter(LARGEST_VALUE, 0.0)
    low = 0.0 if minimum is None else max(minimum, -largest)
    high = largest if maximum is None else min(maximum, largest)
    return low, high


def value_problem(
    value: float,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    written: str | None = None,
) -> str | None:
    """Why `value` can't be a value of the indicator called `name` (None when it can), as a
    sentence without its full stop. `written` is the value as the person or the file wrote it;
    `name` and `written` are put in as given (escape them first for Slack)."""
    text = written if written is not None else _number_text(value)
    if not math.isfinite(value):
        return f"{text} is not a number an indicator can have"
    if abs(value) >= LARGEST_VALUE:
        side = "large" if value > 0 else "large a negative number"
        return f"{text} is far too {side} for an indicator value"
    low, high = value_range(minimum, maximum)
    if value < low:
        if minimum is None:
            return (
                f"{text} is below zero; {name} can't be negative (if it can, give it a `min` "
                "in the catalog)"
            )
        return (
            f"{text} is below {name}'s lowest plausible value, {_number_text(low)} (`min` in "
            "the catalog)"
        )
    if value > high:
        return (
            f"{text} is above {name}'s highest plausible value, {_number_text(high)} (`max` in "
            "the catalog)"
        )
    return None


def _number_text(value: float) -> str:
    return format_number(value) if abs(value) < 1e15 else f"{value:.3g}"


def checked_value(
    raw: str,
    indicator: IndicatorLike,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    """The typed value, refused when it can't be a measure of this indicator (`minimum` and
    `maximum`: its plausible range from the catalog, if any)."""
    value = parse_value(raw)
    if value is None:
        return None
    unit = indicator.unit or ""
    if raw.strip().endswith("%") and not ("%" in unit or "percent" in unit.lower()):
        raise IndicatorError(
            f"{safe(indicator.name)} is counted in {safe(unit) or 'plain numbers'}, not percent; write the "
            "number without `%`. Nothing was saved."
        )
    problem = value_problem(
        value,
        safe(indicator.name),
        minimum=minimum,
        maximum=maximum,
        written=safe(raw.strip(), 30),
    )
    if problem is not None:
        raise IndicatorError(f"{problem}. Nothing was saved.")
    return value


def can_enter_data(indicator: IndicatorLike, user_id: str, is_admin: bool) -> bool:
    return is_admin or (indicator.steward_id is not None and indicator.steward_id == user_id)
