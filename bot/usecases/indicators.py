"""What people can do with indicators, over a session: ask `/indicator` a question (read the
stored values, find the indicator, assemble the answer and its chart), list the catalog, and
enter a value as a steward or an admin.

The question and the value are read by `bot.core.indicator_parser`; matching names, comparing
numbers and choosing places are `bot.core.indicator_rules`. Here: which indicators a channel
sees, and what the database holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.core import asked_period, charts, periods, places
from bot.core.dates import format_due
from bot.core.indicator_parser import (
    KEYWORDS,
    IndicatorError,
    Query,
    SetRequest,
    parse_query,
    parse_set,
    period_problem,
)
from bot.core.indicator_rules import (
    Point,
    Summary,
    can_enter_data,
    checked_value,
    choose_geographies,
    fill_gaps,
    find,
    format_value,
    geographies_text,
    is_visible,
    match_geography,
    place_key,
    score,
    summarise,
    target_for,
    window_start,
)
from bot.core.periods import Period, PeriodError
from bot.core.text import format_number, mention, safe, zone
from bot.usecases.places import coalition_places
from storage.models import (
    Commitment,
    CommitmentIndicator,
    CommitmentStatus,
    Direction,
    Indicator,
    IndicatorValue,
    Team,
)

logger = logging.getLogger(__name__)

MAX_SUMMARY_GEOGRAPHIES = 10
# Every place goes to the chart: it draws the coalition's first, then the highest (up to
# charts.MAX_PANELS panels) and says how many it left out. This only bounds absurd files.
MAX_CHART_SERIES = 1000


# --- which indicators a channel sees -------------------------------------------------------------


def visible_indicators(session: Session, team_id: str, channel_id: str | None) -> list[Indicator]:
    """The team's indicators that exist in this channel, by name: the one visibility rule for
    `/indicator`, `/commit #tag`, the new-commitment form and the digest."""
    found = session.scalars(
        select(Indicator).where(Indicator.team_id == team_id).order_by(Indicator.name)
    ).all()
    return [i for i in found if is_visible(i, channel_id)]


def newest_periods(session: Session, ids: Sequence[int]) -> dict[int, tuple[date, str]]:
    """Each indicator's newest stored period, (start, as written), in one query: any place, and
    a suppressed value counts (the publisher did publish that period). Whether data is late
    (the steward's morning message) and when a source is due are both read from it."""
    if not ids:
        return {}
    newest = (
        select(
            IndicatorValue.indicator_id.label("indicator_id"),
            func.max(IndicatorValue.period_start).label("start"),
        )
        .where(IndicatorValue.indicator_id.in_(ids))
        .group_by(IndicatorValue.indicator_id)
        .subquery()
    )
    rows = session.execute(
        select(IndicatorValue.indicator_id, IndicatorValue.period_start, IndicatorValue.period)
        .join(
            newest,
            (IndicatorValue.indicator_id == newest.c.indicator_id)
            & (IndicatorValue.period_start == newest.c.start),
        )
        .order_by(IndicatorValue.period)  # one answer in every database when two texts tie
    )
    found: dict[int, tuple[date, str]] = {}
    for indicator_id, start, period in rows:
        found.setdefault(indicator_id, (start, period))
    return found


# --- the whole answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One geography's history in the chart window, with every period present (None = gap)."""

    geography: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class AskedAnswer:
    """What a question about one period (`for Dec 2023`, `in 2023`) adds to the answer."""

    asked: Period  # as asked: Dec 2023, 2023, Q1 2024
    period: Period  # the stored period that answers it (the summaries are for it)
    note: str | None  # how the two relate when they differ ("… are the calendar year 2023")
    within: tuple[Point, ...] = ()  # one place's values inside the asked period (a year's months)
    # For a place with no value for it: its nearest reported values before and after.
    nearest: Mapping[str, tuple[Point | None, Point | None]] = field(default_factory=dict)


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
    markers: tuple[charts.Marker, ...]
    window: str  # "May 2020 – Apr 2025"
    geography_note: str | None = None  # e.g. "Showing MD, the coalition's default"
    by: str | None = None
    late: str | None = None  # "12 months ending May 2025 was expected by Tue, Sep 30, 2025"
    target: float | None = None  # the target, when it applies to what the chart shows
    target_place: str | None = None  # the one place the target is for, when there is one
    asked: AskedAnswer | None = None  # `for Dec 2023`: the summaries are for that period
    # Totals listed apart from the places side by side (the US is not a state); never charted.
    totals: tuple[str, ...] = ()
    places: tuple[str, ...] = ()  # the coalition's places among those charted (usecases.places)

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


def done_markers(
    session: Session, indicator: Indicator, start: date, end: date
) -> tuple[charts.Marker, ...]:
    """Linked commitments completed in the window: where the coalition acted."""
    closed = session.execute(
        select(Commitment.id, Commitment.closed_at)
        .where(
            Commitment.team_id == indicator.team_id,
            # linked by any of its #tags (commitment_indicators), or by the first one only
            # (a commitment stored before every tag linked)
            or_(
                Commitment.indicator_id == indicator.id,
                Commitment.id.in_(
                    select(CommitmentIndicator.commitment_id).where(
                        CommitmentIndicator.indicator_id == indicator.id
                    )
                ),
            ),
            Commitment.status == CommitmentStatus.DONE,
            Commitment.closed_at.is_not(None),
        )
        .order_by(Commitment.closed_at)
    ).all()
    return tuple(
        charts.Marker(at.date(), f"#{cid} done")
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
            query.name.split()[0].lower() in KEYWORDS
        ):  # `/indicator since 2022`: the name is missing, not unknown
            raise IndicatorError(
                f"Which indicator? Put its name first, e.g. `/indicator overdose deaths {safe(text, 40)}`."
            ) from None
        raise
    indicator = found.indicator
    by_geo = load_points(session, indicator)
    if not by_geo:
        raise IndicatorError(
            f"{safe(indicator.name)} has no values yet. A data steward can add one with "
            f"`/indicator set {indicator.slug} <value> for <period>`, or load a file with `commstat import`."
        )
    team = session.get(Team, team_id)
    home = team.default_geography if team else None
    known = sorted(by_geo, key=lambda g: (g == "", g.lower()))
    query, place_note = _place_without_data(query, known, home, indicator.name)
    chosen, detailed, note = choose_geographies(query, known, home, indicator.name)
    note = place_note or note
    kind = indicator.period_kind
    totals: tuple[str, ...] = ()
    if not detailed and len(chosen) > 1:
        # Side by side, a total (the US, an unnamed total) is not one of the places: listed apart.
        places = [g for g in chosen if not _is_total(g)]
        if places:
            totals = tuple(g for g in chosen if _is_total(g))
            chosen = places + list(totals)
    asked = _asked(query, indicator, chosen, by_geo, team, now)
    summaries = [
        s
        for g in chosen
        if (
            s := (
                _summary_at(g, by_geo[g], asked.period, indicator, home)
                if asked is not None
                else summarise(
                    g,
                    by_geo[g],
                    kind=kind,
                    direction=indicator.direction,
                    target=target_for(indicator, g, home),
                )
            )
        )
        is not None
    ]
    if asked is not None:
        asked = _with_details(asked, chosen, by_geo, detailed)
    newest = max((p.period for g in chosen for p in by_geo[g]), key=lambda p: p.start)
    start = window_start(query, newest, kind)
    if asked is not None:
        start = min(start, asked.period.start)  # the chart always shows the period asked about
    end = newest.start
    chart_geos = [g for g in chosen if g not in totals][:MAX_CHART_SERIES]
    series = tuple(
        Series(g, points) for g in chart_geos if (points := fill_gaps(by_geo[g], kind, start, end))
    )
    if not series:
        raise IndicatorError(
            f"{safe(indicator.name)} has no values since {periods.label(query.since, None) if query.since else 'then'}; "
            f"the latest is {periods.label(newest, kind)}."
        )
    first = min(s.points[0].period for s in series)
    updated = session.scalar(
        select(func.max(IndicatorValue.updated_at)).where(
            IndicatorValue.indicator_id == indicator.id
        )
    )
    shown_totals = [s for s in summaries if s.geography in totals]
    shown_places = [s for s in summaries if s.geography not in totals]
    shown_summaries = shown_places[:MAX_SUMMARY_GEOGRAPHIES] + shown_totals
    return Answer(
        indicator=indicator,
        summaries=tuple(shown_summaries),
        more=len(shown_places) - len(shown_places[:MAX_SUMMARY_GEOGRAPHIES]),
        detailed=detailed and len(shown_summaries) == 1,
        also=tuple(i.name for i in found.also),
        data_through=periods.label(newest, None),
        updated=updated,
        explanation=periods.explain(kind) if _known_kind(kind) else None,
        series=series,
        chart_more=len(chosen) - len(totals) - min(len(series), charts.MAX_PANELS),
        markers=done_markers(session, indicator, start, end + relativedelta(months=1)),
        window=f"{periods.label(first, None)} – {periods.label(newest, None)}",
        geography_note=note,
        by=query.by,
        # About a past period, the next one being late is beside the point.
        late=_late(indicator, newest, team, now) if asked is None else None,
        # The chart's target line only where it applies to every line drawn.
        target=(
            indicator.target
            if all(target_for(indicator, s.geography, home) is not None for s in series)
            else None
        ),
        target_place=(
            match_geography(home, by_geo) if home and indicator.target is not None else None
        ),
        asked=asked,
        totals=tuple(s.geography for s in shown_totals),
        places=(
            coalition_places(session, team, indicator, [s.geography for s in series])
            if len(series) > 1
            else ()
        ),
    )


def _is_total(geography: str) -> bool:
    return geography == "" or places.is_nation(geography)


def _place_name(geography: str) -> str:
    """A shown place in a sentence, made safe: "the US", "MD"."""
    return "the US" if places.is_nation(geography) else safe(geography, 40)


def _place_without_data(
    query: Query, known: list[str], home: str | None, name: str
) -> tuple[Query, str | None]:
    """Say so when the place asked about, or the coalition's own, has no data and another one
    is shown (`/indicator fentanyl` in Maryland shows the US: it is the only place with data)."""
    places = [g for g in known if g]
    if query.geography is not None:
        if match_geography(query.geography, known) is not None:
            return query, None
        problem = period_problem(query.geography)
        if problem is not None:  # `in 13/2024`: a period that can't be read, and no such place
            raise IndicatorError(problem)
        if len(places) == 1 and len(known) == 1:
            return replace(query, geography=None), (
                f"No {safe(query.geography, 40)} data for {safe(name)}; showing "
                f"{_place_name(places[0])}, the only place it has."
            )
        return query, None  # choose_geographies lists the places with data
    if query.by is not None or not home or not places:
        return query, None
    if match_geography(home, known) is not None:
        return query, None
    shown = _place_name(places[0]) if len(known) == 1 else "every place it has"
    return query, f"No {safe(home, 40)} data for {safe(name)}; showing {shown}."


def _asked(
    query: Query,
    indicator: Indicator,
    chosen: list[str],
    by_geo: dict[str, list[Point]],
    team: Team | None,
    now: datetime | None,
) -> AskedAnswer | None:
    """The stored period that answers `for <period>`; IndicatorError naming the nearest
    periods with data when there is none."""
    if query.at is None:
        return None
    kind = indicator.period_kind if _known_kind(indicator.period_kind) else None
    stored = [p.period for g in chosen for p in by_geo[g]]
    found = asked_period.answering(query.at, stored, kind)
    if found is None:
        reported = [p.period for g in chosen for p in by_geo[g] if p.value is not None]
        before, after = asked_period.nearest(query.at, reported)
        today = now.astimezone(zone(team.time_zone if team else None)).date() if now else None
        raise IndicatorError(
            asked_period.no_data_text(
                safe(indicator.name),
                query.at,
                before,
                after,
                kind,
                future=today is not None and query.at.start > today,
            )
        )
    return AskedAnswer(
        found.asked, found.period, found.note, tuple(Point(p, None) for p in found.within)
    )


def _summary_at(
    geography: str, points: list[Point], period: Period, indicator: Indicator, home: str | None
) -> Summary | None:
    """The summary as if `period` were the latest: its value and its changes."""
    upto = [p for p in points if p.period.start <= period.start]
    at = next((p for p in reversed(upto) if p.period.start == period.start), None)
    if at is None or at.value is None:
        return Summary(geography, Point(period, None), None, None, None, None)
    return summarise(
        geography,
        upto,
        kind=indicator.period_kind,
        direction=indicator.direction,
        target=target_for(indicator, geography, home),
    )


def _with_details(
    asked: AskedAnswer, chosen: list[str], by_geo: dict[str, list[Point]], detailed: bool
) -> AskedAnswer:
    """The values inside the asked period (one place only), and for each place without a value
    for it, its nearest reported values on either side."""
    nearest: dict[str, tuple[Point | None, Point | None]] = {}
    for g in chosen:
        values = {p.period.start: p for p in by_geo[g]}
        at = values.get(asked.period.start)
        if at is not None and at.value is not None:
            continue
        reported = [p.period for p in by_geo[g] if p.value is not None]
        before, after = asked_period.nearest(asked.period, reported)
        nearest[g] = (
            values[before.start] if before else None,
            values[after.start] if after else None,
        )
    within: tuple[Point, ...] = ()
    if detailed and len(chosen) == 1 and asked.within:
        values = {p.period.start: p for p in by_geo[chosen[0]]}
        within = tuple(values.get(p.period.start, p) for p in asked.within)
    return replace(asked, within=within, nearest=nearest)


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
        markers=answer.markers,
        baseline=True,
        source=indicator.source,
        asked=answer.asked.period.start if answer.asked is not None else None,
        highlight=answer.places,
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
    home = place_key(team.default_geography) if team and team.default_geography else None

    def order(item: tuple[str, Point]) -> tuple[bool, bool, str]:
        """The coalition's own place first, then A to Z, the unnamed total last."""
        return (place_key(item[0]) != home, item[0] == "", item[0].lower())

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
class SetResult:
    indicator: Indicator
    period: Period
    geography: str
    before: float | None
    existed: bool
    after: float | None

    def message(self) -> str:
        where = f"{safe(self.geography)}, " if self.geography else ""
        after = (
            format_value(self.after, self.indicator.unit)
            if self.after is not None
            else "not reported (suppressed)"
        )
        if self.existed and self.before == self.after:
            return f"✅ {safe(self.indicator.name)} — {where}{self._label()}: already {after}, nothing changed."
        if not self.existed:
            before = "new"
        elif self.before is None:
            before = "not reported"
        else:
            before = format_number(self.before)
        return f"✅ {safe(self.indicator.name)} — {where}{self._label()}: {before} → {after}"

    def _label(self) -> str:
        kind = self.indicator.period_kind
        return periods.label(self.period, kind if _known_kind(kind) else None)


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
        names = ", ".join(f"`{safe(n)}`" for n in [indicator.name, *(indicator.aliases or [])][:4])
        raise IndicatorError(
            f"To enter data I need an indicator's exact name or alias, and “{safe(request.name, 60)}” "
            f"is not one. Did you mean {safe(indicator.name)}? Write it as one of {names}. "
            "Nothing was saved."
        )
    if not can_enter_data(indicator, user_id, is_admin):
        who = (
            f"its data steward {mention(indicator.steward_id)} or a coalition admin"
            if indicator.steward_id
            else "a coalition admin (it has no data steward yet)"
        )
        raise IndicatorError(
            f"Only {who} can enter values for {safe(indicator.name)}. Nothing was saved."
        )
    value = checked_value(
        request.raw_value,
        indicator,
        minimum=indicator.plausible_min,
        maximum=indicator.plausible_max,
    )
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
            f"{safe(indicator.name)} has periods written like {safe(example)}; write this one the same way. "
            "Nothing was saved."
        )
    if not periods.has_begun(period, now):
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
            places = geographies_text(known) or "none (it is not broken down by place)"
            raise IndicatorError(
                f"{safe(indicator.name)} has no place called “{safe(request.geography, 40)}”. "
                f"Places: {safe(places)}. Nothing was saved."
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
        f"For which place? Add `in <place>`, e.g. `in {safe(known[0])}`. Places: {safe(geographies_text(known))}. "
        "Nothing was saved."
    )


__all__ = [
    "Answer",
    "AskedAnswer",
    "CatalogEntry",
    "IndicatorError",
    "Series",
    "SetResult",
    "answer",
    "catalog",
    "chart_spec",
    "load_points",
    "newest_periods",
    "set_value",
    "visible_indicators",
]
