"""/indicator's core: read the question, find the indicator, and work out the answer.

Matching is forgiving on purpose (leaders type "overdoes" or "deaths overdose" in a meeting);
numbers are worked out per geography from the stored values, and a missing value is always
reported as missing, never as zero.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import charts, periods
from bot.core.dates import format_due
from bot.core.periods import Period, PeriodError
from bot.core.text import format_number, shown, zone
from storage.models import (
    Commitment,
    CommitmentStatus,
    Direction,
    Indicator,
    IndicatorValue,
    Team,
)

logger = logging.getLogger(__name__)

MATCH_AT = 70.0  # below this score a name is not that indicator
ALSO_WITHIN = 4.0  # others this close to the best are mentioned as "also"
MAX_NAME_WORDS = 20  # a 4,000-character paste is not a name; compare its first words only
DEFAULT_YEARS = 15  # chart history without `since`/`last`: the whole curve, to see it turn
MAX_SUMMARY_GEOGRAPHIES = 10
MAX_CHART_SERIES = 24  # bot.core.charts draws small multiples beyond six lines, up to 24 panels
SUPPRESSED = frozenset({"*", "§", "¶", "na", "n/a", "suppressed", "<10", "missing", "blank"})
_STOPWORDS = frozenset({"of", "the", "a", "an", "and"})
# Words that say how something is counted, not what: "overdose deaths" is exactly
# "Number of Drug Overdose Deaths", and closer to it than to "opioid overdose deaths".
_FILLER = frozenset({"number", "count", "total", "drug", "all"})
_KEYWORDS = frozenset({"since", "last", "in", "by", "for"})
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


def format_value(value: float, unit: str | None) -> str:
    number = format_number(value)
    if not unit:
        return number
    if unit.strip() == "%":
        return f"{number}%"
    return f"{number} {unit}"


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
            while end < len(words) and words[end].lower() not in _KEYWORDS:
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
            f"Ask for one place (`in {shown(geography, 30)}`) or all of them (`by {shown(by, 20)}`), not both."
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
        f"I can't read `since {shown(' '.join(words[:2]), 30)}` as a date. "
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
        f"I can't read `last {shown(' '.join(words[:2]), 30)}`. "
        "Say how long, e.g. `last 12 months` or `last 3 years`."
    )


# --- finding the indicator -----------------------------------------------------------------------


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


def names_of(indicator: Indicator) -> list[str]:
    return [indicator.name, indicator.slug.replace("-", " "), *(indicator.aliases or [])]


def score(indicator: Indicator, name: str) -> float:
    query = tokens(name)[:MAX_NAME_WORDS]
    return max(_score(query, tokens(candidate)) for candidate in names_of(indicator))


@dataclass(frozen=True)
class Found:
    indicator: Indicator
    also: tuple[Indicator, ...] = ()


def is_visible(indicator: Indicator, channel_id: str | None) -> bool:
    """A restricted indicator exists only in the channels it is restricted to."""
    return not indicator.restricted_to or (channel_id or "") in indicator.restricted_to


def find(candidates: Sequence[Indicator], name: str) -> Found:
    """The indicator meant by `name`, among those the asker may see; IndicatorError otherwise."""
    if not candidates:
        raise IndicatorError("No indicators yet — load some with `commstat import`.")
    ranked = sorted(((score(i, name), i) for i in candidates), key=lambda p: (-p[0], p[1].name))
    best_score, best = ranked[0]
    if best_score < MATCH_AT:
        closest = ", ".join(i.name for _, i in ranked[:3])
        raise IndicatorError(
            f"I don't know an indicator called “{shown(name)}”. Closest: {closest}. "
            "`/indicator list` shows them all."
        )
    # An exact name or alias settles it; otherwise close runners-up are worth a mention.
    floor = 100.0 if best_score >= 100.0 else max(MATCH_AT, best_score - ALSO_WITHIN)
    also = tuple(i for s, i in ranked[1:4] if s >= floor)
    return Found(best, also)


def visible_indicators(session: Session, team_id: str, channel_id: str | None) -> list[Indicator]:
    """The team's indicators that exist in this channel, by name: the one visibility rule for
    `/indicator`, `/commit #tag`, the new-commitment form and the digest."""
    found = session.scalars(
        select(Indicator).where(Indicator.team_id == team_id).order_by(Indicator.name)
    ).all()
    return [i for i in found if is_visible(i, channel_id)]


# --- numbers for one geography -------------------------------------------------------------------


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


def verdict(delta: float, direction: Direction | str) -> str:
    if delta == 0:
        return "no change"
    lower_is_better = Direction(direction) == Direction.LOWER_IS_BETTER
    return "better" if (delta < 0) == lower_is_better else "worse"


def compare(
    value: float, earlier: Period, by_period: dict[date, float | None], direction: Direction | str
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
    direction: Direction | str,
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


# --- the whole answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One geography's history in the chart window, with every period present (None = gap)."""

    geography: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class DoneMarker:
    when: date
    label: str


@dataclass(frozen=True)
class Answer:
    indicator: Indicator
    summaries: tuple[Summary, ...]  # one: the detailed answer; several: side by side
    more: int  # geographies left out of the text
    detailed: bool
    also: tuple[str, ...]
    data_through: str  # "Apr 2025"
    updated: datetime | None
    explanation: str | None
    series: tuple[Series, ...]  # for the chart
    chart_more: int  # geographies left out of the chart
    markers: tuple[DoneMarker, ...]
    window: str  # "May 2020 – Apr 2025"
    geography_note: str | None = None  # e.g. "Showing MD, the coalition's default"
    by: str | None = None
    late: str | None = None  # "12 months ending May 2025 was expected by Tue, Sep 30, 2025"
    target: float | None = None  # the target, when it applies to what the chart shows
    target_place: str | None = None  # the one place the target is for, when there is one

    def label(self, period: Period) -> str:
        return periods.label(period, self.indicator.period_kind)


@lru_cache(maxsize=8192)
def _parse_stored(text: str, start: date) -> Period:
    """Stored periods repeat across geographies and requests: read each once."""
    try:
        return periods.parse_period(text)
    except PeriodError:
        return periods.day_period(start)


def load_points(session: Session, indicator: Indicator) -> dict[str, list[Point]]:
    """Every stored value of one indicator, by geography, oldest first."""
    rows = session.execute(
        select(
            IndicatorValue.geography,
            IndicatorValue.period,
            IndicatorValue.period_start,
            IndicatorValue.value,
        )
        .where(IndicatorValue.indicator_id == indicator.id)
        .order_by(IndicatorValue.geography, IndicatorValue.period_start)
    ).all()
    by_geo: dict[str, list[Point]] = {}
    for geography, period, start, value in rows:
        by_geo.setdefault(geography, []).append(Point(_parse_stored(period, start), value))
    return by_geo


# People write places out in full ("in Maryland"); publishers often store the postal code ("MD").
_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "PR": "Puerto Rico", "GU": "Guam", "VI": "Virgin Islands",
}  # fmt: skip
_PLACE_CODES = {name.lower(): code.lower() for code, name in _STATES.items()} | {
    "washington dc": "dc",
    "washington d c": "dc",
    "united states": "us",
    "united states of america": "us",
    "usa": "us",
    "u s": "us",
    "u s a": "us",
    "national": "us",
    "nationwide": "us",
}


def target_for(indicator: Indicator, geography: str, home: str | None) -> float | None:
    """A catalog target is the coalition's own: with a default place set, it is that place's
    target (Maryland's 1,200 deaths says nothing about Vermont or the US); without one, it applies
    to every place."""
    if indicator.target is None or not home or not geography:
        return indicator.target
    return indicator.target if _place_key(geography) == _place_key(home) else None


def _place_key(text: str) -> str:
    """'the United States' / 'U.S.' / 'us' -> 'us'; 'Maryland' / 'MD' -> 'md'."""
    low = re.sub(r"[\s.,]+", " ", text.strip().lower()).strip()
    low = re.sub(r"^the ", "", low)
    return _PLACE_CODES.get(low, low)


def match_geography(wanted: str, known: Iterable[str]) -> str | None:
    """The stored place the asker means: exact (any case) first, then by state name or code."""
    known = list(known)
    low = wanted.strip().lower()
    for geography in known:
        if geography.lower() == low:
            return geography
    key = _place_key(wanted)
    if not key:
        return None
    for geography in known:
        if geography and _place_key(geography) == key:
            return geography
    return None


def _geographies_text(known: Sequence[str]) -> str:
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
            places = _geographies_text(known)
            if places:
                raise IndicatorError(
                    f"{indicator_name} has no data for “{shown(query.geography, 40)}”. "
                    f"Places with data: {places}."
                )
            raise IndicatorError(
                f"{indicator_name} is not broken down by place, so `in {shown(query.geography, 40)}` "
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
                f"Showing {found}, the coalition's default place. Add `by place` to compare all.",
            )
    return list(known), False, None


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


def done_markers(
    session: Session, indicator: Indicator, start: date, end: date
) -> tuple[DoneMarker, ...]:
    """Linked commitments completed in the window: where the coalition acted."""
    closed = session.execute(
        select(Commitment.id, Commitment.closed_at)
        .where(
            Commitment.team_id == indicator.team_id,
            Commitment.indicator_id == indicator.id,
            Commitment.status == CommitmentStatus.DONE,
            Commitment.closed_at.is_not(None),
        )
        .order_by(Commitment.closed_at)
    ).all()
    return tuple(
        DoneMarker(at.date(), f"#{cid} done")
        for cid, at in closed
        if at is not None and start <= at.date()
    )


def answer(
    session: Session,
    *,
    team_id: str,
    channel_id: str | None,
    text: str,
    now: datetime | None = None,
) -> Answer:
    """Everything `/indicator <name> ...` says, read in one short transaction.

    With `now`, an answer whose next period is overdue says so: a leader reading a number
    in a meeting must know it is months old."""
    query = parse_query(text)
    try:
        found = find(visible_indicators(session, team_id, channel_id), query.name)
    except IndicatorError:
        if (
            query.name.split()[0].lower() in _KEYWORDS
        ):  # `/indicator since 2022`: the name is missing, not unknown
            raise IndicatorError(
                f"Which indicator? Put its name first, e.g. `/indicator overdose deaths {shown(text, 40)}`."
            ) from None
        raise
    indicator = found.indicator
    by_geo = load_points(session, indicator)
    if not by_geo:
        raise IndicatorError(
            f"{indicator.name} has no values yet. A data steward can add one with "
            f"`/indicator set {indicator.slug} <value> for <period>`, or load a file with `commstat import`."
        )
    team = session.get(Team, team_id)
    known = sorted(by_geo, key=lambda g: (g == "", g.lower()))
    chosen, detailed, note = choose_geographies(
        query, known, team.default_geography if team else None, indicator.name
    )
    kind = indicator.period_kind
    home = team.default_geography if team else None
    summaries = [
        s
        for g in chosen
        if (
            s := summarise(
                g,
                by_geo[g],
                kind=kind,
                direction=indicator.direction,
                target=target_for(indicator, g, home),
            )
        )
        is not None
    ]
    newest = max((p.period for g in chosen for p in by_geo[g]), key=lambda p: p.start)
    start = window_start(query, newest, kind)
    end = newest.start
    chart_geos = chosen[:MAX_CHART_SERIES]
    series = tuple(
        Series(g, points) for g in chart_geos if (points := fill_gaps(by_geo[g], kind, start, end))
    )
    if not series:
        raise IndicatorError(
            f"{indicator.name} has no values since {periods.label(query.since, None) if query.since else 'then'}; "
            f"the latest is {periods.label(newest, kind)}."
        )
    first = min(s.points[0].period for s in series)
    updated = session.scalar(
        select(func.max(IndicatorValue.updated_at)).where(
            IndicatorValue.indicator_id == indicator.id
        )
    )
    shown_summaries = summaries[:MAX_SUMMARY_GEOGRAPHIES]
    return Answer(
        indicator=indicator,
        summaries=tuple(shown_summaries),
        more=len(summaries) - len(shown_summaries),
        detailed=detailed and len(shown_summaries) == 1,
        also=tuple(i.name for i in found.also),
        data_through=periods.label(newest, None),
        updated=updated,
        explanation=periods.explain(kind) if _known_kind(kind) else None,
        series=series,
        chart_more=len(chosen) - len(chart_geos),
        markers=done_markers(session, indicator, start, end + relativedelta(months=1)),
        window=f"{periods.label(first, None)} – {periods.label(newest, None)}",
        geography_note=note,
        by=query.by,
        late=_late(indicator, newest, team, now),
        # The chart's target line only where it applies to every line drawn.
        target=(
            indicator.target
            if all(target_for(indicator, s.geography, home) is not None for s in series)
            else None
        ),
        target_place=(
            match_geography(home, by_geo) if home and indicator.target is not None else None
        ),
    )


def _late(
    indicator: Indicator, newest: Period, team: Team | None, now: datetime | None
) -> str | None:
    """The overdue next period, as the steward nudges and the digest's late-data list see it."""
    if now is None:
        return None
    try:
        expected = periods.expected_next(newest, indicator.period_kind, indicator.update_frequency)
        following = periods.shift(newest, indicator.period_kind, 1)
    except PeriodError:
        return None
    today = now.astimezone(zone(team.time_zone if team else None)).date()
    if expected >= today:
        return None
    label = periods.label(
        following, indicator.period_kind if _known_kind(indicator.period_kind) else None
    )
    return f"{label} was expected by {format_due(datetime.combine(expected, time()))}"


def _known_kind(kind: str | None) -> bool:
    return bool(kind) and periods.normalise_kind(kind or "") is not None


_KIND_WORDS = {
    "12-month-ending": "12-month-ending totals, by month",
    "monthly": "by month",
    "quarterly": "by quarter",
    "yearly": "by year",
    "weekly": "by week",
    "daily": "by day",
}


def chart_spec(answer: Answer) -> charts.ChartSpec:
    """What the chart draws: the history in the window, target, baseline, completed commitments."""
    indicator = answer.indicator
    title = indicator.name
    if len(answer.series) == 1 and answer.series[0].geography:
        title = f"{indicator.name} — {answer.series[0].geography}"
    kind = periods.normalise_kind(indicator.period_kind or "")
    return charts.ChartSpec(
        title=title,
        unit=indicator.unit,
        period_label=_KIND_WORDS.get(kind or ""),
        series=[
            charts.Series(
                s.geography if len(answer.series) > 1 else (s.geography or indicator.name),
                [p.period.start for p in s.points],
                [p.value for p in s.points],
            )
            for s in answer.series
        ],
        target=answer.target,
        direction=str(Direction(indicator.direction).value),
        markers=[charts.Marker(m.when, m.label) for m in answer.markers],
        baseline=True,
        source=indicator.source,
    )


# --- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    indicator: Indicator
    latest: dict[str, Point]  # geography -> newest reported value
    newest: Period | None  # newest period in the data, reported or not


def catalog(session: Session, *, team_id: str, channel_id: str | None) -> list[CatalogEntry]:
    """Every indicator the asker may see, with each geography's newest reported value.

    Two queries whatever the catalog's size: the newest reported row per (indicator, geography)
    with a window function, and the newest period per indicator.
    """
    shown_indicators = visible_indicators(session, team_id, channel_id)
    if not shown_indicators:
        return []
    ids = [i.id for i in shown_indicators]
    ranked = (
        select(
            IndicatorValue.indicator_id,
            IndicatorValue.geography,
            IndicatorValue.period,
            IndicatorValue.period_start,
            IndicatorValue.value,
            func.row_number()
            .over(
                partition_by=(IndicatorValue.indicator_id, IndicatorValue.geography),
                order_by=IndicatorValue.period_start.desc(),
            )
            .label("rank"),
        )
        .where(IndicatorValue.team_id == team_id, IndicatorValue.value.is_not(None))
        .where(IndicatorValue.indicator_id.in_(ids))
        .subquery()
    )
    latest: dict[int, dict[str, Point]] = {}
    for indicator_id, geography, period, start, value in session.execute(
        select(
            ranked.c.indicator_id,
            ranked.c.geography,
            ranked.c.period,
            ranked.c.period_start,
            ranked.c.value,
        ).where(ranked.c.rank == 1)
    ):
        latest.setdefault(indicator_id, {})[geography] = Point(_parse_stored(period, start), value)
    newest: dict[int, Period] = {}
    newest_rows = session.execute(
        select(IndicatorValue.indicator_id, func.max(IndicatorValue.period_start))
        .where(IndicatorValue.team_id == team_id, IndicatorValue.indicator_id.in_(ids))
        .group_by(IndicatorValue.indicator_id)
    ).all()
    for indicator_id, start in newest_rows:
        # The label needs the period's grain: take it from a reported value when there is one.
        sample = next(iter(latest.get(indicator_id, {}).values()), None)
        grain = sample.period.grain if sample else "month"
        newest[indicator_id] = _period_at(start, grain)
    team = session.get(Team, team_id)
    home = _place_key(team.default_geography) if team and team.default_geography else None

    def order(item: tuple[str, Point]) -> tuple[bool, bool, str]:
        """The coalition's own place first, then A to Z, the unnamed total last."""
        return (_place_key(item[0]) != home, item[0] == "", item[0].lower())

    return [
        CatalogEntry(i, dict(sorted(latest.get(i.id, {}).items(), key=order)), newest.get(i.id))
        for i in shown_indicators
    ]


def _period_at(start: date, grain: str) -> Period:
    if grain == "day":
        return periods.day_period(start)
    if grain == "quarter":
        return periods.quarter_period(start.year, (start.month - 1) // 3 + 1)
    if grain == "year":
        return periods.year_period(start.year)
    return periods.month_period(start.year, start.month)


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
            f"“{shown(text, 30)}” is not a number. Write the value like `1600`, `1,600` or `12.5` "
            "(or `suppressed` when it is not published). Nothing was saved."
        )
    return float(text.replace(",", "").rstrip("%"))


LARGEST_VALUE = 1e12


def _checked_value(raw: str, indicator: Indicator) -> float | None:
    """The typed value, refused when it can't be a measure of this indicator."""
    value = parse_value(raw)
    if value is None:
        return None
    unit = indicator.unit or ""
    if raw.strip().endswith("%") and not ("%" in unit or "percent" in unit.lower()):
        raise IndicatorError(
            f"{indicator.name} is counted in {unit or 'plain numbers'}, not percent; write the "
            "number without `%`. Nothing was saved."
        )
    if value < 0:
        raise IndicatorError(
            f"{format_number(value)} is below zero; {indicator.name} can't be negative. "
            "Nothing was saved."
        )
    if value >= LARGEST_VALUE:
        raise IndicatorError(
            f"{shown(raw, 30)} is far too large for an indicator value. Nothing was saved."
        )
    return value


@dataclass(frozen=True)
class SetResult:
    indicator: Indicator
    period: Period
    geography: str
    before: float | None
    existed: bool
    after: float | None

    def message(self) -> str:
        where = f"{self.geography}, " if self.geography else ""
        after = (
            format_value(self.after, self.indicator.unit)
            if self.after is not None
            else "not reported (suppressed)"
        )
        if self.existed and self.before == self.after:
            return f"✅ {self.indicator.name} — {where}{self._label()}: already {after}, nothing changed."
        if not self.existed:
            before = "new"
        elif self.before is None:
            before = "not reported"
        else:
            before = format_number(self.before)
        return f"✅ {self.indicator.name} — {where}{self._label()}: {before} → {after}"

    def _label(self) -> str:
        kind = self.indicator.period_kind
        return periods.label(self.period, kind if _known_kind(kind) else None)


def can_enter_data(indicator: Indicator, user_id: str, is_admin: bool) -> bool:
    return is_admin or (indicator.steward_id is not None and indicator.steward_id == user_id)


def set_value(
    session: Session,
    *,
    team_id: str,
    channel_id: str | None,
    user_id: str,
    is_admin: bool,
    text: str,
    now: datetime,
) -> SetResult:
    """Store one value entered by a steward or an admin; nothing is written on any refusal."""
    request = parse_set(text)
    found = find(visible_indicators(session, team_id, channel_id), request.name)
    indicator = found.indicator
    if score(indicator, request.name) < 100.0:
        # Forgiving matching is for reading; a value is written only where it was clearly meant.
        names = ", ".join(f"`{n}`" for n in [indicator.name, *(indicator.aliases or [])][:4])
        raise IndicatorError(
            f"To enter data I need an indicator's exact name or alias, and “{shown(request.name)}” "
            f"is not one. Did you mean {indicator.name}? Write it as one of {names}. "
            "Nothing was saved."
        )
    if not can_enter_data(indicator, user_id, is_admin):
        who = (
            f"its data steward <@{indicator.steward_id}> or a coalition admin"
            if indicator.steward_id
            else "a coalition admin (it has no data steward yet)"
        )
        raise IndicatorError(
            f"Only {who} can enter values for {indicator.name}. Nothing was saved."
        )
    value = _checked_value(request.raw_value, indicator)
    by_geo = load_points(session, indicator)
    geography = _set_geography(request, indicator, by_geo, session, team_id)
    kind = indicator.period_kind
    existing = by_geo.get(geography, [])
    if request.period is not None:
        try:
            period = periods.parse_period(request.period)
        except PeriodError as error:
            raise IndicatorError(f"{error}. Nothing was saved.") from None
    elif existing:
        period = periods.shift(existing[-1].period, kind, 1)
    else:
        raise IndicatorError(
            f"Which period is this value for? Add e.g. `for {now.year}-{now.month:02d}` (a month), "
            f"`for {now.year}-Q{(now.month - 1) // 3 + 1}` or `for {now.year - 1}`. Nothing was saved."
        )
    grains = {p.period.grain for points in by_geo.values() for p in points}
    if grains and period.grain not in grains:
        example = next(p.period.text for points in by_geo.values() for p in points)
        raise IndicatorError(
            f"{indicator.name} has periods written like {example}; write this one the same way. "
            "Nothing was saved."
        )
    if period.start > now.date():
        raise IndicatorError(
            f"{periods.label(period, None)} has not started yet, so it can't have a value. "
            "Nothing was saved."
        )
    row = session.scalars(
        select(IndicatorValue).where(
            IndicatorValue.indicator_id == indicator.id,
            IndicatorValue.period == period.text,
            IndicatorValue.geography == geography,
        )
    ).one_or_none()
    before = row.value if row is not None else None
    if row is None:
        session.add(
            IndicatorValue(
                team_id=team_id,
                indicator_id=indicator.id,
                period=period.text,
                period_start=period.start,
                geography=geography,
                value=value,
                updated_at=now,
            )
        )
    else:
        row.value = value
        row.updated_at = now
    indicator.updated_at = now
    indicator.next_check_at = None  # a new value: the freshness check looks again next pass
    logger.info(
        "indicator value set: team=%s indicator=%s period=%s geography=%r %s -> %s by %s",
        team_id,
        indicator.slug,
        period.text,
        geography,
        before,
        value,
        user_id,
    )
    return SetResult(indicator, period, geography, before, row is not None, value)


def _set_geography(
    request: SetRequest,
    indicator: Indicator,
    by_geo: dict[str, list[Point]],
    session: Session,
    team_id: str,
) -> str:
    known = sorted(g for g in by_geo if g)
    if request.geography is not None:
        if not known and not by_geo:
            return request.geography.strip()[:100]  # the first value: any place
        found = match_geography(request.geography, by_geo)
        if found is None:
            places = _geographies_text(known) or "none (it is not broken down by place)"
            raise IndicatorError(
                f"{indicator.name} has no place called “{shown(request.geography, 40)}”. "
                f"Places: {places}. Nothing was saved."
            )
        return found
    if not known:
        return ""
    if len(known) == 1 and "" not in by_geo:
        return known[0]
    team = session.get(Team, team_id)
    if team is not None and team.default_geography:
        found = match_geography(team.default_geography, known)
        if found is not None:
            return found
    raise IndicatorError(
        f"For which place? Add `in <place>`, e.g. `in {known[0]}`. Places: {_geographies_text(known)}. "
        "Nothing was saved."
    )


__all__ = [
    "Answer",
    "CatalogEntry",
    "Comparison",
    "DoneMarker",
    "Found",
    "IndicatorError",
    "Point",
    "Query",
    "Series",
    "SetResult",
    "Summary",
    "answer",
    "catalog",
    "find",
    "format_value",
    "parse_query",
    "parse_set",
    "parse_value",
    "set_value",
    "summarise",
]
