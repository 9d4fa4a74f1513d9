"""CommStat digests: what the meeting channel reads before each meeting, and weekly.

Three steps, so that no transaction is open while a chart is drawn:
- `draft` reads the database into a plain `Draft` (the lists, the chart specs) inside the
  caller's transaction,
- `render` turns a draft into the message and its chart image, with no transaction open
  (the words come from `bot.core.digest`, the blocks from `bot.slack.blocks.digest`),
- `plan` (the scheduler's pass) and `post_now` (`/commstat digest now`) put the result in the
  outbox in a short transaction, keyed so that it is posted exactly once.

Scope: a CommStat meeting is the coalition's meeting, so the digest covers the commitments of the
whole team (every channel) and says so; lists are ordered by due date (or completion/creation
time), ties by number, so the same data always gives the same digest. What it covers is a
`bot.core.digest.Window` (since when; due before the next meeting; coming up before the one
after), and the headings name that window.

A channel's weekly digest and its pre-meeting digest that fall on the same day are one message,
queued under the meeting digest's key by whichever schedule comes first. A meeting on a holiday
gets a line in its digest and, on the working day before, a short note (unless the digest goes
out that day), planned here with the meeting's schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core import periods, text
from bot.core.charts import ChartSpec, Series, render_digest_chart
from bot.core.charts import describe as describe_chart
from bot.core.dates import format_due
from bot.core.deadlines import days_late, due_text, local_due
from bot.core.digest import (
    ITEMS_PER_SECTION,
    LOOKAHEAD,
    SINCE_INSTANT,
    SINCE_LOOKBACK,
    SINCE_MEETING,
    DigestData,
    Item,
    Listing,
    Move,
    Stale,
    Window,
    dated_title,
    day_end,
    holiday_notice,
    meeting_title,
    merged_title,
    verdict,
    weekly_title,
)
from bot.core.indicator_rules import target_for
from bot.core.nudge_rules import Rules, team_holidays
from bot.slack import outbox
from bot.slack.blocks.digest import build_blocks
from bot.usecases.indicators import visible_indicators
from bot.usecases.meetings import (
    WEEKLY,
    digest_on_day,
    occurrence_after,
    occurrence_before,
    occurrence_on_day,
    schedule_for,
)
from storage import repositories as repo
from storage.models import (
    Commitment,
    CommitmentStatus,
    Direction,
    Indicator,
    IndicatorValue,
    OutboxMessage,
    OutboxStatus,
    Schedule,
    Team,
)

logger = logging.getLogger(__name__)

WEEKLY_GRACE = timedelta(hours=6)  # a weekly digest missed by more than this waits a week
NO_MEETING_LOOKBACK = LOOKAHEAD  # a week back when there is no earlier meeting to go by
MAX_CHART_INDICATORS = 4
CHART_PERIODS = 36  # three years of monthly data: enough to see a trend in a small panel
RETRY_AFTER = timedelta(minutes=15)  # a schedule whose digest could not be made


@dataclass(frozen=True)
class Draft:
    """Everything a digest will say, as plain values read in one transaction."""

    title: str
    window: Window
    zone: ZoneInfo  # the meeting's own zone when there is one, else the team's
    data: DigestData
    charts: list[ChartSpec]
    holiday: str | None = None  # the holiday the next meeting falls on
    merged: bool = False  # the weekly digest and the pre-meeting digest in one

    @property
    def next_meeting(self) -> datetime | None:
        return self.window.next_meeting


@dataclass(frozen=True)
class Digest:
    """What gets posted: fallback text, Block Kit dicts, and the optional chart image."""

    text: str
    blocks: list[dict[str, Any]]
    chart_png: bytes | None = None
    chart_alt: str = ""


# --------------------------------------------------------------------------------------------
# Reading the database (inside the caller's transaction)


def _item(commitment: Commitment, now: datetime) -> Item:
    closed = None
    if commitment.closed_at is not None:
        closed = format_due(commitment.closed_at.astimezone(local_due(commitment).tzinfo))
    return Item(
        id=commitment.id,
        text=commitment.text,
        owners=tuple(commitment.owner_ids),
        due=due_text(commitment),
        days_late=days_late(commitment, now),
        closed=closed,
    )


def _listing(session: Session, query: Any, count: Any, now: datetime) -> Listing:
    rows = session.scalars(query.limit(ITEMS_PER_SECTION)).all()
    return Listing([_item(c, now) for c in rows], int(session.scalar(count) or 0))


def _by(boundary: datetime) -> Any:
    """Due by `boundary`: at or before it, or on its day when the commitment has no time."""
    return or_(
        Commitment.due_at <= boundary,
        and_(Commitment.due_has_time.is_(False), Commitment.due_at <= day_end(boundary)),
    )


def _commitments(session: Session, team_id: str, window: Window) -> dict[str, Listing]:
    """The commitment lists of a window; each commitment is in one of the due lists at most."""
    now = window.now
    team = Commitment.team_id == team_id
    is_open = Commitment.status == CommitmentStatus.OPEN
    count = select(func.count(Commitment.id))
    done_where = (
        team,
        Commitment.status == CommitmentStatus.DONE,
        Commitment.closed_at >= window.since,
        Commitment.closed_at <= now,
    )
    # Due at the meeting's own time ("before the next meeting") is due before it, and a
    # commitment due on the meeting's day without a time (stored as 5 PM) is the meeting's business.
    upcoming_where = (team, is_open, Commitment.due_at >= now, _by(window.due_by))
    coming_where = (team, is_open, not_(_by(window.due_by)), _by(window.coming_by))
    new_where = (
        team,
        Commitment.created_at >= window.since,
        Commitment.created_at <= now,
        Commitment.status != CommitmentStatus.DROPPED,
    )
    by_due = (Commitment.due_at, Commitment.id)
    return {
        "done": _listing(
            session,
            select(Commitment).where(*done_where).order_by(Commitment.closed_at, Commitment.id),
            count.where(*done_where),
            now,
        ),
        "overdue": Listing(
            [
                _item(c, now)
                for c in repo.open_commitments(
                    session, team_id, overdue_at=now, limit=ITEMS_PER_SECTION
                )
            ],
            repo.count_open(session, team_id, overdue_at=now),
        ),
        "upcoming": _listing(
            session,
            select(Commitment).where(*upcoming_where).order_by(*by_due),
            count.where(*upcoming_where),
            now,
        ),
        "coming": _listing(
            session,
            select(Commitment).where(*coming_where).order_by(*by_due),
            count.where(*coming_where),
            now,
        ),
        "new": _listing(
            session,
            select(Commitment).where(*new_where).order_by(Commitment.created_at, Commitment.id),
            count.where(*new_where),
            now,
        ),
    }


def _geography(session: Session, indicator: Indicator, default: str | None) -> str | None:
    places = set(
        session.scalars(
            select(IndicatorValue.geography)
            .where(IndicatorValue.indicator_id == indicator.id)
            .distinct()
        ).all()
    )
    for wanted in (default, "", "US"):
        if wanted is not None and wanted in places:
            return wanted
    return min(places) if places else None


def _label(period: str, kind: str | None) -> str:
    try:
        return periods.label(period, kind)
    except periods.PeriodError:
        return period


def _indicator_news(
    session: Session, indicator: Indicator, geography: str, since: datetime
) -> Move | None:
    rows = session.scalars(
        select(IndicatorValue)
        .where(
            IndicatorValue.indicator_id == indicator.id,
            IndicatorValue.geography == geography,
            IndicatorValue.value.is_not(None),
        )
        .order_by(IndicatorValue.period_start.desc())
        .limit(2)
    ).all()
    if not rows or rows[0].updated_at < since:
        return None
    latest = rows[0]
    assert latest.value is not None
    previous = rows[1] if len(rows) > 1 else None
    change = None if previous is None or previous.value is None else latest.value - previous.value
    return Move(
        name=indicator.name,
        slug=indicator.slug,
        geography=geography,
        period=_label(latest.period, indicator.period_kind),
        value=latest.value,
        unit=indicator.unit,
        previous_period=_label(previous.period, indicator.period_kind) if previous else None,
        change=change,
        verdict=verdict(change, lower_is_better=indicator.direction == Direction.LOWER_IS_BETTER),
    )


def _staleness(session: Session, indicator: Indicator, geography: str, today: date) -> Stale | None:
    latest = session.scalars(
        select(IndicatorValue)
        .where(IndicatorValue.indicator_id == indicator.id, IndicatorValue.geography == geography)
        .order_by(IndicatorValue.period_start.desc())
        .limit(1)
    ).one_or_none()
    if latest is None:
        return None
    try:
        period = periods.parse_period(latest.period)
        expected = periods.expected_next(period, indicator.period_kind, indicator.update_frequency)
    except periods.PeriodError:
        return None
    if expected >= today:
        return None
    return Stale(
        name=indicator.name,
        latest_period=_label(latest.period, indicator.period_kind),
        expected_by=expected,
        steward_id=indicator.steward_id,
    )


def _indicators(
    session: Session, team: Team, channel_id: str, since: datetime, now: datetime
) -> tuple[Listing, Listing]:
    moves: list[Move] = []
    stale: list[Stale] = []
    today = now.astimezone(text.zone(team.time_zone)).date()
    for indicator in visible_indicators(session, team.id, channel_id):
        geography = _geography(session, indicator, team.default_geography)
        if geography is None:
            continue
        move = _indicator_news(session, indicator, geography, since)
        late = _staleness(session, indicator, geography, today)
        if move is not None:
            # news that is already behind is said once, with the news (bot/core/digest.Move)
            moves.append(replace(move, late=late) if late is not None else move)
        elif late is not None:
            stale.append(late)
    stale.sort(key=lambda s: (s.expected_by, s.name))
    return (
        Listing(moves[:ITEMS_PER_SECTION], len(moves)),
        Listing(stale[:ITEMS_PER_SECTION], len(stale)),
    )


def gather(session: Session, *, team_id: str, channel_id: str, window: Window) -> DigestData:
    team = session.get(Team, team_id)
    assert team is not None, f"unknown team {team_id}"
    lists = _commitments(session, team_id, window)
    moves, stale = _indicators(session, team, channel_id, window.since, window.now)
    return DigestData(
        done=lists["done"],
        overdue=lists["overdue"],
        upcoming=lists["upcoming"],
        coming=lists["coming"],
        new=lists["new"],
        moves=moves,
        stale=stale,
    )


def chart_specs(session: Session, moves: Sequence[Move], team: Team) -> list[ChartSpec]:
    """Chart specs for the indicators that moved (at most four), in the geography the text used."""
    specs: list[ChartSpec] = []
    for move in moves[:MAX_CHART_INDICATORS]:
        indicator = repo.find_indicator(session, team.id, move.slug)
        if indicator is None:
            continue
        rows = session.execute(
            select(IndicatorValue.period_start, IndicatorValue.value)
            .where(
                IndicatorValue.indicator_id == indicator.id,
                IndicatorValue.geography == move.geography,
            )
            .order_by(IndicatorValue.period_start.desc())
            .limit(CHART_PERIODS)
        ).all()
        rows = list(reversed(rows))
        specs.append(
            ChartSpec(
                title=f"{indicator.name} — {move.geography}" if move.geography else indicator.name,
                unit=indicator.unit,
                period_label=indicator.period_kind,
                series=[
                    Series(
                        label=move.geography,
                        periods=[r.period_start for r in rows],
                        values=[r.value for r in rows],
                    )
                ],
                target=target_for(indicator, move.geography, team.default_geography),
                direction=str(indicator.direction.value),
                source=indicator.source,
            )
        )
    return specs


def _meeting_zone(at: datetime | None) -> ZoneInfo | None:
    """The meeting's own zone, so the digest speaks of it the way the meeting was set."""
    return at.tzinfo if at is not None and isinstance(at.tzinfo, ZoneInfo) else None


def holiday_of(team: Team, meeting: datetime | None) -> str | None:
    """The name of the holiday (public, or one the admins added) a meeting falls on, if any."""
    if meeting is None:
        return None
    return team_holidays(team).get(meeting.date())


def draft(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    window: Window,
    title: str,
    merged: bool = False,
) -> Draft:
    """Everything a channel's digest says for `window`, read from the database as plain values."""
    team = session.get(Team, team_id)
    assert team is not None, f"unknown team {team_id}"
    data = gather(session, team_id=team_id, channel_id=channel_id, window=window)
    return Draft(
        title=title,
        window=window,
        zone=_meeting_zone(window.next_meeting) or text.zone(team.time_zone),
        data=data,
        charts=chart_specs(session, data.moves.items, team),
        holiday=holiday_of(team, window.next_meeting),
        merged=merged,
    )


# --------------------------------------------------------------------------------------------
# Rendering (no transaction open)


def _chart(specs: Sequence[ChartSpec]) -> tuple[bytes, str] | None:
    """One image of the key indicators that moved; a digest without it is still useful."""
    if not specs:
        return None
    try:
        png = render_digest_chart(specs)
    except Exception:
        logger.exception("digest chart failed; posting the digest without it")
        return None
    return png, " ".join(describe_chart(s) for s in specs)


def render(drafted: Draft) -> Digest:
    """The message and its chart. Draws with matplotlib: call it with no transaction open."""
    chart = _chart(drafted.charts)
    fallback, blocks = build_blocks(
        drafted.data,
        title=drafted.title,
        window=drafted.window,
        zone=drafted.zone,
        chart=chart is not None,
        holiday=drafted.holiday,
        merged=drafted.merged,
    )
    return Digest(
        text=fallback,
        blocks=blocks,
        chart_png=chart[0] if chart else None,
        chart_alt=chart[1] if chart else "",
    )


# --------------------------------------------------------------------------------------------
# The channel's "what would the digest say now"


def digest_window(
    session: Session, team_id: str, channel_id: str, *, now: datetime
) -> tuple[Window, str]:
    """(window, title) of this channel's digest right now (`digest now`)."""
    meeting = schedule_for(session, team_id, channel_id)
    if meeting is None:
        team = session.get(Team, team_id)
        local = now.astimezone(text.zone(team.time_zone if team else None))
        window = Window(since=local - NO_MEETING_LOOKBACK, now=local, since_kind=SINCE_LOOKBACK)
        return window, dated_title(local)
    upcoming = occurrence_after(meeting, now)
    previous = occurrence_before(meeting, now, inclusive=True)
    # Before the first meeting, the same window as that meeting's scheduled digest.
    window = Window(
        since=previous or (upcoming or now) - NO_MEETING_LOOKBACK,
        now=now,
        next_meeting=upcoming,
        following_meeting=occurrence_after(meeting, upcoming) if upcoming else None,
        since_kind=SINCE_MEETING if previous else SINCE_INSTANT,
    )
    return window, meeting_title(upcoming) if upcoming else "CommStat digest"


# --------------------------------------------------------------------------------------------
# The outbox


def digest_key(schedule_id: int, occurrence: datetime, part: str) -> str:
    return f"digest:{schedule_id}:{occurrence.astimezone(UTC).isoformat()}:{part}"


def chart_payload(digest: Digest) -> dict[str, Any]:
    assert digest.chart_png is not None
    return outbox.upload_payload(
        digest.chart_png,
        filename="commstat-key-indicators.png",
        title="Key indicators",
        alt_text=digest.chart_alt or "Chart of the key indicators",
    )


def _enqueue(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    keys: tuple[str, str],
    digest: Digest,
    now: datetime,
    meeting: datetime | None,
    chart_only_with_message: bool = False,
) -> int:
    """The message, then its chart, under `keys` (message key, chart key); returns rows added.

    `chart_only_with_message`: no chart for a message already queued (a retried `digest now`).
    A digest that speaks of a meeting is dropped, chart and all, if that meeting has started
    by the time Slack takes it (it waited behind a 429 or a 5xx)."""
    message_key, chart_key = keys
    holds = outbox.holds_meeting(meeting, channel=channel_id) if meeting is not None else None
    added = 0
    if outbox.enqueue(
        session,
        team_id=team_id,
        key=message_key,
        kind="digest",
        channel=channel_id,
        payload={"text": digest.text, "blocks": digest.blocks},
        now=now,
        not_before=now,
        holds=holds,
    ):
        added += 1
    elif chart_only_with_message:
        return 0
    if digest.chart_png is not None and outbox.enqueue(
        session,
        team_id=team_id,
        key=chart_key,
        kind="digest_chart",
        channel=channel_id,
        payload=chart_payload(digest),
        now=now,
        not_before=now,
        holds=holds,
    ):
        added += 1
    return added


# --------------------------------------------------------------------------------------------
# Planning (the scheduler's pass)


@dataclass(frozen=True)
class _Note:
    """The short note in the meeting channel on the working day before a meeting that falls on a
    holiday: due from `at` (the team's nudge hour) until that day ends or the meeting starts."""

    meeting: datetime
    name: str
    day: date
    at: datetime
    until: datetime


def note_key(schedule_id: int, meeting: datetime) -> str:
    return f"holiday-note:{schedule_id}:{meeting.astimezone(UTC).isoformat()}"


def _holiday_note(team: Team, schedule: Schedule, meeting: datetime) -> _Note | None:
    """The note a meeting on a holiday gets, unless its digest goes out that same day (the digest
    says it then, and one message is enough)."""
    name = holiday_of(team, meeting)
    if name is None:
        return None
    rules = Rules.of(team)
    day = rules.working_day_before(meeting.date())
    if day is None or (meeting - timedelta(minutes=schedule.digest_lead_minutes)).date() == day:
        return None
    zone = meeting.tzinfo
    at = datetime.combine(day, time(rules.nudge_hour), tzinfo=zone)
    until = min(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone), meeting)
    return _Note(meeting, name, day, at, until) if at < until else None


def _enqueue_note(session: Session, schedule: Schedule, note: _Note, now: datetime) -> int:
    return int(
        outbox.enqueue(
            session,
            team_id=schedule.team_id,
            key=note_key(schedule.id, note.meeting),
            kind="holiday_note",
            channel=schedule.channel_id,
            payload={"text": holiday_notice(note.meeting, note.name, today=note.day)},
            now=now,
            not_before=now,
            holds=outbox.holds_meeting(note.meeting, channel=schedule.channel_id),
        )
    )


@dataclass(frozen=True)
class _Due:
    """A schedule's decision at `now`: the occurrence whose digest is due (if any), when to look
    again, which outbox rows the digest goes under (`key`: schedule id and occurrence), what it
    covers, and a holiday note due now."""

    occurrence: datetime | None
    next_run_at: datetime | None
    key: tuple[int, datetime] | None = None
    window: Window | None = None
    title: str = ""
    merged: bool = False
    note: _Note | None = None


def _weekly_since(weekly: Schedule, occurrence: datetime) -> datetime:
    """A weekly digest covers the time since the one before it."""
    return occurrence_before(weekly, occurrence) or occurrence - timedelta(days=7)


def _meeting_digest(
    session: Session, schedule: Schedule, meeting: datetime, now: datetime
) -> tuple[Window, str, bool]:
    """(window, title, merged) of a meeting's digest. When the channel's weekly digest falls on
    the day this digest is posted, the two are one message, covering the longer of their windows.
    """
    previous = occurrence_before(schedule, meeting)
    since, kind = (
        (previous, SINCE_MEETING) if previous else (meeting - NO_MEETING_LOOKBACK, SINCE_INSTANT)
    )
    merged = False
    weekly = schedule_for(session, schedule.team_id, schedule.channel_id, WEEKLY)
    if weekly is not None:
        posted_on = (meeting - timedelta(minutes=schedule.digest_lead_minutes)).date()
        week = occurrence_on_day(weekly, posted_on, ZoneInfo(schedule.time_zone))
        if week is not None:
            merged = True
            if _weekly_since(weekly, week) < since:
                since, kind = _weekly_since(weekly, week), SINCE_INSTANT
    window = Window(
        since=since,
        now=now,
        next_meeting=meeting,
        following_meeting=occurrence_after(schedule, meeting),
        since_kind=kind,
    )
    return window, merged_title(meeting) if merged else meeting_title(meeting), merged


def _meeting_due(session: Session, schedule: Schedule, now: datetime) -> _Due:
    """The digest of the next meeting once its time has come, never after the meeting started;
    and the holiday note of the next meeting, on its day."""
    team = session.get(Team, schedule.team_id)
    assert team is not None
    lead = timedelta(minutes=schedule.digest_lead_minutes)
    meeting = occurrence_after(schedule, now)  # strictly after: a started meeting is past
    if meeting is None:
        return _Due(None, None)
    note = _holiday_note(team, schedule, meeting)
    note_due = note if note is not None and note.at <= now < note.until else None
    looks = [note.at] if note is not None and note.at > now else []
    digest_at = meeting - lead
    if digest_at > now:
        return _Due(None, min([digest_at, *looks]), note=note_due)
    following = occurrence_after(schedule, meeting)
    if following is not None:
        # Look again when this meeting starts at the earliest: one digest per meeting.
        looks.append(max(following - lead, meeting))
        following_note = _holiday_note(team, schedule, following)
        if following_note is not None:
            looks.append(max(following_note.at, meeting))
    window, title, merged = _meeting_digest(session, schedule, meeting, now)
    return _Due(
        occurrence=meeting,
        next_run_at=min(looks) if looks else None,
        key=(schedule.id, meeting),
        window=window,
        title=title,
        merged=merged,
        note=note_due,
    )


def _weekly_due(session: Session, schedule: Schedule, now: datetime) -> _Due:
    """The weekly digest at its time, or within 6 hours of it after downtime; else skipped.

    On a day the channel's pre-meeting digest is posted too, the two are one message, under the
    meeting digest's key: whichever schedule comes first posts it, the other finds it queued. If
    that meeting has started and its digest was never queued, the weekly digest goes alone."""
    occurrence = occurrence_before(schedule, now, inclusive=True)
    following = occurrence_after(schedule, now)
    if occurrence is None or now - occurrence >= WEEKLY_GRACE:
        return _Due(None, following)
    meetings = schedule_for(session, schedule.team_id, schedule.channel_id)
    if meetings is not None:
        day = occurrence.astimezone(ZoneInfo(meetings.time_zone)).date()
        paired = digest_on_day(meetings, day)
        if paired is not None and (
            paired > now or _queued(session, digest_key(meetings.id, paired, "1-message"))
        ):
            window, title, _ = _meeting_digest(session, meetings, paired, now)
            return _Due(
                occurrence,
                following,
                key=(meetings.id, paired),
                window=window,
                title=title,
                merged=True,
            )
    upcoming = occurrence_after(meetings, now) if meetings else None
    window = Window(
        since=_weekly_since(schedule, occurrence),
        now=now,
        next_meeting=upcoming,
        following_meeting=occurrence_after(meetings, upcoming) if meetings and upcoming else None,
        since_kind=SINCE_INSTANT,
    )
    return _Due(
        occurrence,
        following,
        key=(schedule.id, occurrence),
        window=window,
        title=weekly_title(occurrence),
    )


def _due(session: Session, schedule: Schedule, now: datetime) -> _Due:
    if schedule.kind == "meeting":
        return _meeting_due(session, schedule, now)
    return _weekly_due(session, schedule, now)


def _queued(session: Session, key: str) -> bool:
    return bool(outbox.status_of(session, key)[0])  # any status: queued, sent or dropped


@dataclass(frozen=True)
class _Job:
    schedule_id: int
    occurrence: datetime
    key: tuple[int, datetime]
    draft: Draft


@dataclass
class Planned:
    """What a planning step added: digests (a digest's chart is part of it) and holiday notes."""

    digests: int = 0
    holiday_notes: int = 0


def _gather_due(session: Session, now: datetime, planned: Planned) -> list[_Job]:
    """Drafts of the digests due at `now`, and the holiday notes due (queued here: plain text).
    Schedules with nothing to draft get their next look time here; a due one keeps it until its
    digest is in the outbox (`_enqueue_due`).

    Reads only schedules whose `next_run_at` has come (or was reset to NULL by a change), so a
    pass costs what is due, not the number of schedules.
    """
    schedules = session.scalars(
        select(Schedule)
        .where(or_(Schedule.next_run_at.is_(None), Schedule.next_run_at <= now))
        .order_by(Schedule.id)
        .with_for_update(skip_locked=True)
    ).all()
    jobs: list[_Job] = []
    for schedule in schedules:
        try:
            with session.begin_nested():
                due = _due(session, schedule, now)
                if due.note is not None:
                    planned.holiday_notes += _enqueue_note(session, schedule, due.note, now)
                if (
                    due.occurrence is None
                    or due.key is None
                    or due.window is None
                    or _queued(session, digest_key(*due.key, "1-message"))  # the other schedule's
                ):
                    schedule.next_run_at = due.next_run_at
                    continue
                drafted = draft(
                    session,
                    team_id=schedule.team_id,
                    channel_id=schedule.channel_id,
                    window=due.window,
                    title=due.title,
                    merged=due.merged,
                )
                jobs.append(_Job(schedule.id, due.occurrence, due.key, drafted))
        except Exception:
            logger.exception("digest planning failed for schedule %s", schedule.id)
            schedule.next_run_at = now + RETRY_AFTER
    return jobs


def _enqueue_due(
    session: Session, rendered: Sequence[tuple[_Job, Digest | None]], now: datetime
) -> int:
    """Put each rendered digest in the outbox and move its schedule on, if the schedule still
    wants that occurrence's digest (it may have been changed or removed while we drew)."""
    added = 0
    for job, digest in rendered:
        try:
            with session.begin_nested():
                schedule = session.get(
                    Schedule, job.schedule_id, with_for_update={"skip_locked": True}
                )
                if schedule is None:  # removed, or another process is planning it right now
                    continue
                due = _due(session, schedule, now)
                if due.occurrence != job.occurrence or due.key != job.key:
                    continue  # changed meanwhile: the next pass decides
                if digest is None:
                    schedule.next_run_at = now + RETRY_AFTER
                    continue
                added += bool(
                    _enqueue(
                        session,
                        team_id=schedule.team_id,
                        channel_id=schedule.channel_id,
                        keys=(digest_key(*job.key, "1-message"), digest_key(*job.key, "2-chart")),
                        digest=digest,
                        now=now,
                        meeting=job.draft.next_meeting,
                    )
                )  # one digest, whether or not a chart goes with it
                schedule.next_run_at = due.next_run_at
        except Exception:
            logger.exception("digest planning failed for schedule %s", job.schedule_id)
    return added


def plan_messages(services: Services, *, now: datetime) -> Planned:
    """Enqueue every digest and holiday note due at `now`; returns how many of each were new.

    Three steps: the drafts are read in one transaction, drawn after it is closed, and enqueued in
    a short one. Safe to run at any `now`, repeatedly, in several processes: a schedule moves on
    only once its digest is in the outbox, and the outbox key makes a second enqueue a no-op.
    """
    planned = Planned()
    with services.sessions.begin() as session:
        jobs = _gather_due(session, now, planned)
    if not jobs:
        return planned
    rendered: list[tuple[_Job, Digest | None]] = []
    for job in jobs:
        try:
            rendered.append((job, render(job.draft)))
        except Exception:
            logger.exception("digest rendering failed for schedule %s", job.schedule_id)
            rendered.append((job, None))
    with services.sessions.begin() as session:
        planned.digests = _enqueue_due(session, rendered, now)
    return planned


def plan(services: Services, *, now: datetime) -> int:
    """`plan_messages`, counting the digests only (a digest's chart is part of it)."""
    return plan_messages(services, now=now).digests


def due_charts(session: Session, now: datetime) -> list[int]:
    """The digest charts waiting to be shared at `now` (see `charts_shared`)."""
    return list(
        session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.not_before <= now,
                OutboxMessage.kind == "digest_chart",
            )
        ).all()
    )


def charts_shared(session: Session, ids: Sequence[int], now: datetime) -> int:
    """How many of those charts a delivery at `now` shared: each is part of a digest message, so
    a pass summary counts what people see, a digest with its chart, once."""
    if not ids:
        return 0
    return int(
        session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == OutboxStatus.SENT,
                OutboxMessage.sent_at == now,
            )
        )
        or 0
    )


# --------------------------------------------------------------------------------------------
# `/commstat digest now`


@dataclass(frozen=True)
class Posted:
    """What became of a `digest now`: a retried request adds nothing; otherwise the message's
    outbox status ("sent", "failed" or "pending") and, when failed, why (and Slack's error code,
    when Slack refused it)."""

    new: bool
    status: str = ""
    error: str = ""
    error_code: str | None = None


def post_now(
    services: Services,
    *,
    team_id: str,
    channel_id: str,
    request: str,
    now: datetime,
    max_seconds: float,
) -> Posted:
    """This channel's digest, posted through the outbox and delivered right away, alone.

    Keyed by the request (`digest-now:{team}:{channel}:{request}`): a Slack retry of the command
    posts nothing twice, and the post gets the outbox's retries and rate limiting. Only this
    digest's own rows are delivered here; anything else waiting is the scheduler's.
    """
    with services.sessions() as session:
        window, title = digest_window(session, team_id, channel_id, now=now)
        drafted = draft(session, team_id=team_id, channel_id=channel_id, window=window, title=title)
    digest = render(drafted)
    key = f"digest-now:{team_id}:{channel_id}:{request}"
    keys = (f"{key}:1-message", f"{key}:2-chart")
    with services.sessions.begin() as session:
        added = _enqueue(
            session,
            team_id=team_id,
            channel_id=channel_id,
            keys=keys,
            digest=digest,
            now=now,
            meeting=drafted.next_meeting,
            chart_only_with_message=True,
        )
    if not added:
        return Posted(new=False)
    outbox.deliver(services, now=now, max_seconds=max_seconds, keys=keys)
    with services.sessions() as session:
        status, error = outbox.status_of(session, keys[0])
    return Posted(new=True, status=status, error=error, error_code=outbox.error_code(error))


__all__ = [
    "Digest",
    "Draft",
    "Planned",
    "Posted",
    "chart_payload",
    "chart_specs",
    "charts_shared",
    "digest_key",
    "digest_window",
    "draft",
    "due_charts",
    "gather",
    "holiday_of",
    "note_key",
    "plan",
    "plan_messages",
    "post_now",
    "render",
]
