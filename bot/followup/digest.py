"""CommStat digests: what the meeting channel reads before each meeting, and weekly.

Three layers, so each can be tested on its own:
- `gather` queries the database into plain `DigestData` (no Slack),
- `build_blocks` turns it into Block Kit within Slack's limits (pure: no I/O, no clock),
- `plan` (called by the scheduler's pass) decides which schedule is due and puts the digest in
  the outbox, keyed by schedule + meeting occurrence so it is posted exactly once.

Scope: a CommStat meeting is the coalition's meeting, so the digest covers the commitments of the
whole team (every channel) and says so; lists are ordered by due date (or completion/creation
time), ties by number, so the same data always gives the same digest.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.core import periods
from bot.core.charts import ChartSpec, Series, render_digest_chart
from bot.core.charts import describe as describe_chart
from bot.core.dates import format_due
from bot.core.recurrence import format_time
from bot.slack.blocks.commitments import days_late, due_text, local_due
from bot.usecases.indicators import target_for
from bot.usecases.meetings import occurrence_after, occurrence_before
from storage import repositories as repo
from storage.models import (
    Commitment,
    CommitmentStatus,
    Direction,
    Indicator,
    IndicatorValue,
    Schedule,
    Team,
)

logger = logging.getLogger(__name__)

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
HEADER_LIMIT = 150
ITEMS_PER_SECTION = 10  # a digest is read in a minute before a meeting, not scrolled
TEXT_CLIP = 140  # a commitment's words in a digest line
FLAG_AFTER_DAYS = 7  # "after a week overdue: flagged in the next digest"
WEEKLY_GRACE = timedelta(hours=6)  # a weekly digest missed by more than this waits a week
NO_MEETING_LOOKBACK = timedelta(days=7)
MAX_CHART_INDICATORS = 4


@dataclass(frozen=True)
class Digest:
    """What gets posted: fallback text, Block Kit dicts, and the optional chart image."""

    text: str
    blocks: list[dict[str, Any]]
    chart_png: bytes | None = None
    chart_alt: str = ""


@dataclass(frozen=True)
class Item:
    """One commitment as a digest line shows it."""

    id: int
    text: str
    owners: tuple[str, ...]
    due: str  # "Wed, Dec 2, 2026" in the zone the date was set in
    days_late: int = 0
    closed: str | None = None  # "Tue, Nov 24, 2026" when done


@dataclass(frozen=True)
class Move:
    """An indicator with a new value: latest vs the period before."""

    name: str
    slug: str
    geography: str
    period: str  # "Apr 2025"
    value: float
    unit: str | None
    previous_period: str | None = None
    change: float | None = None
    verdict: str | None = None  # "good" | "bad" | None (no change, or no direction)


@dataclass(frozen=True)
class Stale:
    name: str
    latest_period: str
    expected_by: date
    steward_id: str | None


@dataclass
class Listing:
    items: list[Any] = field(default_factory=list)
    total: int = 0


@dataclass
class DigestData:
    done: Listing = field(default_factory=Listing)
    overdue: Listing = field(default_factory=Listing)
    upcoming: Listing = field(default_factory=Listing)
    new: Listing = field(default_factory=Listing)
    moves: Listing = field(default_factory=Listing)
    stale: Listing = field(default_factory=Listing)


# --------------------------------------------------------------------------------------------
# Words


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return (cut or text[: limit - 1]) + "…"


def _owners(owners: Sequence[str]) -> str:
    return ", ".join(f"<@{o}>" for o in owners) or "no owner"


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"


def short_when(at: datetime) -> str:
    """`Thu, Dec 3, 10:00 AM` for headers, where the year is obvious."""
    return f"{format_due(at).rsplit(',', 1)[0]}, {format_time(at)}"


def item_line(item: Item, kind: str) -> str:
    head = f"• *#{item.id}* {_clip(item.text, TEXT_CLIP)} — {_owners(item.owners)}"
    if kind == "done":
        return f"{head} · done {item.closed}"
    if kind == "overdue":
        late = f"*{item.days_late} day{'s' if item.days_late != 1 else ''} late*"
        if not item.days_late:
            late = "*due earlier today*"
        flag = " · ⚑ *flagged: over a week late*" if item.days_late > FLAG_AFTER_DAYS else ""
        return f"{head} · due {item.due} · {late}{flag}"
    return f"{head} · due {item.due}"


def move_line(move: Move) -> str:
    where = f" ({move.geography})" if move.geography else ""
    unit = f" {move.unit}" if move.unit else ""
    line = f"• *{move.name}*{where}: *{_number(move.value)}*{unit} for {move.period}"
    if move.change is None or move.previous_period is None:
        return line + " (first value)"
    if move.change == 0:
        return line + f" ▶ no change vs {move.previous_period}"
    arrow = "▲" if move.change > 0 else "▼"
    sign = "+" if move.change > 0 else "−"
    line += f" {arrow} {sign}{_number(abs(move.change))}"
    base = move.value - move.change
    if base:
        line += f" ({sign}{abs(move.change) / abs(base) * 100:.1f}%)"
    line += f" vs {move.previous_period}"
    if move.verdict == "good":
        line += " — 🟢 good"
    elif move.verdict == "bad":
        line += " — 🔴 bad"
    return line


def stale_line(stale: Stale) -> str:
    steward = f" — steward <@{stale.steward_id}>" if stale.steward_id else " — no steward set"
    expected = format_due(datetime.combine(stale.expected_by, datetime.min.time()))
    return (
        f"• *{stale.name}*: latest {stale.latest_period}; the next value was expected by "
        f"{expected}{steward}"
    )


# --------------------------------------------------------------------------------------------
# Block building (pure)


def section_text(
    title: str, lines: Sequence[str], total: int, *, empty: str, more_hint: str | None
) -> str:
    """A titled list that fits one section: whole lines only, then "…and N more"."""
    text = f"*{title}* ({total})" if total else f"*{title}*"
    if not lines:
        return f"{text}\n{empty}"
    reserve = 120  # room for the "…and N more" line
    shown = 0
    for line in lines[:ITEMS_PER_SECTION]:
        if len(text) + 1 + len(line) > SECTION_LIMIT - reserve:
            break
        text += "\n" + line
        shown += 1
    if total > shown:
        text += f"\n_…and {total - shown} more_" + (f" — {more_hint}" if more_hint else "")
    return text


def build_blocks(
    data: DigestData,
    *,
    title: str,
    since: datetime,
    next_meeting: datetime | None,
    zone: ZoneInfo,
    chart: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """The digest message: fallback text and blocks (≤ 50 blocks, ≤ 3000 chars a section)."""
    since_local = since.astimezone(zone)
    scope = f"Since {format_due(since_local)} · commitments from all channels"
    if next_meeting is not None:
        scope += f" · next meeting {short_when(next_meeting.astimezone(zone))}"
    until = "before the next meeting" if next_meeting is not None else "in the next 7 days"
    sections = [
        (
            "✅ Done since the last meeting",
            [item_line(i, "done") for i in data.done.items],
            data.done.total,
            "Nothing completed yet.",
            None,
        ),
        (
            "⚠️ Overdue",
            [item_line(i, "overdue") for i in data.overdue.items],
            data.overdue.total,
            "Nothing overdue. 🎉",
            "`/commit list overdue`",
        ),
        (
            f"📅 Due {until}",
            [item_line(i, "upcoming") for i in data.upcoming.items],
            data.upcoming.total,
            "Nothing due.",
            "`/commit list all`",
        ),
        (
            "🆕 New since the last meeting",
            [item_line(i, "new") for i in data.new.items],
            data.new.total,
            "No new commitments.",
            "`/commit list all`",
        ),
        (
            "📈 Indicators with new data",
            [move_line(m) for m in data.moves.items],
            data.moves.total,
            "No new indicator values.",
            "`/indicator list`",
        ),
        (
            "⏳ Late data",
            [stale_line(s) for s in data.stale.items],
            data.stale.total,
            "All indicators are up to date.",
            "`/indicator list`",
        ),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=_clip(title, HEADER_LIMIT)),
        ContextBlock(elements=[MarkdownTextObject(text=scope)]),
    ]
    for name, lines, total, empty, hint in sections:
        blocks.append(DividerBlock())
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=section_text(name, lines, total, empty=empty, more_hint=hint)
                )
            )
        )
    if chart:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text="Chart of key indicators below.")])
        )
    assert len(blocks) <= MAX_BLOCKS
    counts = (
        f"{data.overdue.total} overdue, {data.upcoming.total} due {until}, "
        f"{data.done.total} done, {data.new.total} new"
    )
    return f"{title}: {counts}", [b.to_dict() for b in blocks]


# --------------------------------------------------------------------------------------------
# Queries


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


def _commitments(
    session: Session, team_id: str, since: datetime, now: datetime, horizon: datetime
) -> dict[str, Listing]:
    team = Commitment.team_id == team_id
    is_open = Commitment.status == CommitmentStatus.OPEN
    count = select(func.count(Commitment.id))
    done_where = (
        team,
        Commitment.status == CommitmentStatus.DONE,
        Commitment.closed_at >= since,
        Commitment.closed_at <= now,
    )
    # Due at the meeting's own time ("before the next meeting") is due before it, and a
    # commitment due on the meeting's day without a time (stored as 5 PM) is the meeting's business.
    day_end = horizon.replace(hour=23, minute=59, second=59, microsecond=0)
    upcoming_where = (
        team,
        is_open,
        Commitment.due_at >= now,
        or_(
            Commitment.due_at <= horizon,
            and_(Commitment.due_has_time.is_(False), Commitment.due_at <= day_end),
        ),
    )
    new_where = (
        team,
        Commitment.created_at >= since,
        Commitment.created_at <= now,
        Commitment.status != CommitmentStatus.DROPPED,
    )
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
            select(Commitment).where(*upcoming_where).order_by(Commitment.due_at, Commitment.id),
            count.where(*upcoming_where),
            now,
        ),
        "new": _listing(
            session,
            select(Commitment).where(*new_where).order_by(Commitment.created_at, Commitment.id),
            count.where(*new_where),
            now,
        ),
    }


def visible_indicators(session: Session, team_id: str, channel_id: str) -> list[Indicator]:
    """Indicators this channel may see: public ones, and those restricted to it."""
    return [
        i
        for i in repo.indicators(session, team_id)
        if not i.restricted_to or channel_id in i.restricted_to
    ]


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
    verdict = None
    if change:
        better = change < 0 if indicator.direction == Direction.LOWER_IS_BETTER else change > 0
        verdict = "good" if better else "bad"
    return Move(
        name=indicator.name,
        slug=indicator.slug,
        geography=geography,
        period=_label(latest.period, indicator.period_kind),
        value=latest.value,
        unit=indicator.unit,
        previous_period=_label(previous.period, indicator.period_kind) if previous else None,
        change=change,
        verdict=verdict,
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
    today = now.astimezone(ZoneInfo(team.time_zone)).date()
    for indicator in visible_indicators(session, team.id, channel_id):
        geography = _geography(session, indicator, team.default_geography)
        if geography is None:
            continue
        move = _indicator_news(session, indicator, geography, since)
        if move is not None:
            moves.append(move)
        late = _staleness(session, indicator, geography, today)
        if late is not None:
            stale.append(late)
    stale.sort(key=lambda s: (s.expected_by, s.name))
    return (
        Listing(moves[:ITEMS_PER_SECTION], len(moves)),
        Listing(stale[:ITEMS_PER_SECTION], len(stale)),
    )


def gather(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    since: datetime,
    now: datetime,
    next_meeting: datetime | None,
) -> DigestData:
    team = session.get(Team, team_id)
    assert team is not None, f"unknown team {team_id}"
    horizon = next_meeting if next_meeting is not None else now + timedelta(days=7)
    lists = _commitments(session, team_id, since, now, horizon)
    moves, stale = _indicators(session, team, channel_id, since, now)
    return DigestData(
        done=lists["done"],
        overdue=lists["overdue"],
        upcoming=lists["upcoming"],
        new=lists["new"],
        moves=moves,
        stale=stale,
    )


CHART_PERIODS = 36  # three years of monthly data: enough to see a trend in a small panel


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


def _chart(session: Session, moves: Sequence[Move], team: Team) -> tuple[bytes, str] | None:
    """One image of the key indicators that moved; a digest without it is still useful."""
    specs = chart_specs(session, moves, team)
    if not specs:
        return None
    try:
        png = render_digest_chart(specs)
    except Exception:
        logger.exception("digest chart failed; posting the digest without it")
        return None
    return png, " ".join(describe_chart(s) for s in specs)


def _zone_of(at: datetime | None) -> ZoneInfo | None:
    """The meeting's own zone, so the digest speaks of it the way the meeting was set."""
    return at.tzinfo if at is not None and isinstance(at.tzinfo, ZoneInfo) else None


def build_digest(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    since: datetime,
    now: datetime,
    next_meeting: datetime | None,
    title: str,
) -> Digest:
    """Everything a channel's digest says, read from the database at `now`."""
    team = session.get(Team, team_id)
    assert team is not None, f"unknown team {team_id}"
    zone = ZoneInfo(team.time_zone)
    data = gather(
        session,
        team_id=team_id,
        channel_id=channel_id,
        since=since,
        now=now,
        next_meeting=next_meeting,
    )
    chart = _chart(session, data.moves.items, team)
    text, blocks = build_blocks(
        data,
        title=title,
        since=since,
        next_meeting=next_meeting,
        zone=_zone_of(next_meeting) or zone,
        chart=chart is not None,
    )
    return Digest(
        text=text,
        blocks=blocks,
        chart_png=chart[0] if chart else None,
        chart_alt=chart[1] if chart else "",
    )


# --------------------------------------------------------------------------------------------
# Titles and the channel's "what would the digest say now"


def meeting_title(meeting: datetime) -> str:
    return f"CommStat digest — meeting {short_when(meeting)}"


def weekly_title(at: datetime) -> str:
    return f"Weekly CommStat digest — {format_due(at)}"


def digest_window(
    session: Session, team_id: str, channel_id: str, *, now: datetime
) -> tuple[datetime, datetime | None, str]:
    """(since, next meeting, title) for a digest of this channel right now (`digest now`)."""
    from bot.usecases.meetings import schedule_for

    meeting = schedule_for(session, team_id, channel_id)
    if meeting is None:
        team = session.get(Team, team_id)
        zone = ZoneInfo(team.time_zone if team else "UTC")
        return (
            now - NO_MEETING_LOOKBACK,
            None,
            f"CommStat digest — {format_due(now.astimezone(zone))}",
        )
    upcoming = occurrence_after(meeting, now)
    previous = occurrence_before(meeting, now, inclusive=True)
    # Before the first meeting, the same window as that meeting's scheduled digest.
    since = previous or (upcoming or now) - NO_MEETING_LOOKBACK
    title = meeting_title(upcoming) if upcoming else "CommStat digest"
    return since, upcoming, title


# --------------------------------------------------------------------------------------------
# Planning (the scheduler's pass)


def digest_key(schedule_id: int, occurrence: datetime, part: str) -> str:
    return f"digest:{schedule_id}:{occurrence.astimezone(ZoneInfo('UTC')).isoformat()}:{part}"


def _enqueue(
    session: Session, schedule: Schedule, occurrence: datetime, digest: Digest, now: datetime
) -> int:
    from bot.slack.outbox import enqueue

    sent = 0
    if enqueue(
        session,
        team_id=schedule.team_id,
        key=digest_key(schedule.id, occurrence, "1-message"),
        kind="digest",
        channel=schedule.channel_id,
        payload={"text": digest.text, "blocks": digest.blocks},
        now=now,
        not_before=now,
    ):
        sent += 1
    if digest.chart_png is not None and enqueue(
        session,
        team_id=schedule.team_id,
        key=digest_key(schedule.id, occurrence, "2-chart"),
        kind="digest_chart",
        channel=schedule.channel_id,
        payload=chart_payload(digest),
        now=now,
        not_before=now,
    ):
        sent += 1
    return sent


def chart_payload(digest: Digest) -> dict[str, Any]:
    assert digest.chart_png is not None
    return {
        "file": {
            "png_b64": base64.b64encode(digest.chart_png).decode("ascii"),
            "filename": "commstat-key-indicators.png",
            "title": "Key indicators",
            "alt_text": _clip(digest.chart_alt or "Chart of the key indicators", 1000),
            "initial_comment": None,
        }
    }


def _plan_meeting(session: Session, schedule: Schedule, now: datetime) -> int:
    """Post the digest of the next meeting once its time has come, never after it started."""
    lead = timedelta(minutes=schedule.digest_lead_minutes)
    meeting = occurrence_after(schedule, now)  # strictly after: a started meeting is past
    if meeting is None:
        schedule.next_run_at = None
        return 0
    digest_at = meeting - lead
    if digest_at > now:
        schedule.next_run_at = digest_at
        return 0
    previous = occurrence_before(schedule, meeting)
    since = previous if previous is not None else meeting - NO_MEETING_LOOKBACK
    digest = build_digest(
        session,
        team_id=schedule.team_id,
        channel_id=schedule.channel_id,
        since=since,
        now=now,
        next_meeting=meeting,
        title=meeting_title(meeting),
    )
    enqueued = _enqueue(session, schedule, meeting, digest, now)
    following = occurrence_after(schedule, meeting)
    # Look again when this meeting starts at the earliest: one digest per meeting.
    schedule.next_run_at = max(following - lead, meeting) if following else None
    return enqueued


def _plan_weekly(session: Session, schedule: Schedule, now: datetime) -> int:
    """Post the weekly digest at its time, or within 6 hours of it after downtime; else skip."""
    occurrence = occurrence_before(schedule, now, inclusive=True)
    following = occurrence_after(schedule, now)
    schedule.next_run_at = following
    if occurrence is None or now - occurrence >= WEEKLY_GRACE:
        return 0
    meeting_schedule = session.scalars(
        select(Schedule).where(
            Schedule.team_id == schedule.team_id,
            Schedule.channel_id == schedule.channel_id,
            Schedule.kind == "meeting",
        )
    ).one_or_none()
    meeting = occurrence_after(meeting_schedule, now) if meeting_schedule else None
    digest = build_digest(
        session,
        team_id=schedule.team_id,
        channel_id=schedule.channel_id,
        since=occurrence - timedelta(days=7),
        now=now,
        next_meeting=meeting,
        title=weekly_title(occurrence),
    )
    return _enqueue(session, schedule, occurrence, digest, now)


def plan(session: Session, *, now: datetime) -> int:
    """Enqueue every digest due at `now`; returns how many outbox rows were new.

    Reads only schedules whose `next_run_at` has come (or was reset to NULL by a change), so a
    pass costs what is due, not the number of schedules. Safe to run at any `now`, repeatedly,
    in several processes: the outbox key makes a second enqueue a no-op.
    """
    due = session.scalars(
        select(Schedule)
        .where(or_(Schedule.next_run_at.is_(None), Schedule.next_run_at <= now))
        .order_by(Schedule.id)
        .with_for_update(skip_locked=True)
    ).all()
    enqueued = 0
    for schedule in due:
        try:
            with session.begin_nested():
                if schedule.kind == "meeting":
                    enqueued += _plan_meeting(session, schedule, now)
                else:
                    enqueued += _plan_weekly(session, schedule, now)
        except Exception:
            logger.exception("digest planning failed for schedule %s", schedule.id)
            schedule.next_run_at = now + timedelta(minutes=15)
    return enqueued
