"""What a CommStat digest says, from plain values: its lines, sections, scope and titles.

Every word the bot did not write (a commitment's text, an indicator's name, place and unit)
goes through `bot.core.text.safe` here, where the line is built; owners and stewards are the
only mentions.

No database, no Slack, no clock: `bot.followup.digest` reads the values, the Block Kit builder
(`bot.slack.blocks.digest`) lays these words out. Lists are ordered by whoever gathers them; a
section shows whole lines only, at most ITEMS_PER_SECTION, then "…and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.dates import format_due
from bot.core.recurrence import format_time
from bot.core.text import (
    ARROWS,
    arrow,
    clip,
    format_number,
    format_percent,
    mention,
    safe,
    signed_number,
)

SECTION_LIMIT = 3000  # Slack's limit for a section's text
MAX_BLOCKS = 50
HEADER_LIMIT = 150
ITEMS_PER_SECTION = 10  # a digest is read in a minute before a meeting, not scrolled
TEXT_CLIP = 140  # a commitment's words in a digest line
NAME_CLIP = 150  # an indicator's name, place or unit in a digest line
FLAG_AFTER_DAYS = 7  # "after a week overdue: flagged in the next digest"
_MORE_RESERVE = 120  # room kept in a section for the "…and N more" line


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
    """An indicator whose next value is late."""

    name: str
    latest_period: str
    expected_by: date
    steward_id: str | None


@dataclass
class Listing:
    """The first few of a list and how long the whole list is."""

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


@dataclass(frozen=True)
class Section:
    """One titled list of the digest, already in words."""

    title: str
    lines: list[str]
    total: int
    empty: str  # what the section says when the list is empty
    more_hint: str | None  # where to read the rest when it is cut

    @property
    def text(self) -> str:
        return section_text(
            self.title, self.lines, self.total, empty=self.empty, more_hint=self.more_hint
        )


# --------------------------------------------------------------------------------------------
# Lines


def verdict(change: float | None, *, lower_is_better: bool) -> str | None:
    """ "good" or "bad" for a change, by the indicator's direction; None for no change."""
    if not change:
        return None
    better = change < 0 if lower_is_better else change > 0
    return "good" if better else "bad"


def owners_text(owners: Sequence[str]) -> str:
    return ", ".join(mention(o) for o in owners) or "no owner"


def short_when(at: datetime) -> str:
    """`Thu, Dec 3, 10:00 AM` for headers, where the year is obvious."""
    return f"{format_due(at).rsplit(',', 1)[0]}, {format_time(at)}"


def item_line(item: Item, kind: str) -> str:
    head = f"• *#{item.id}* {safe(item.text, TEXT_CLIP)} — {owners_text(item.owners)}"
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
    where = f" ({safe(move.geography, NAME_CLIP)})" if move.geography else ""
    unit = f" {safe(move.unit, NAME_CLIP)}" if move.unit else ""
    name = safe(move.name, NAME_CLIP)
    line = f"• *{name}*{where}: *{format_number(move.value)}*{unit} for {safe(move.period)}"
    if move.change is None or move.previous_period is None:
        return line + " (first value)"
    previous = safe(move.previous_period)
    if move.change == 0:
        return line + f" {ARROWS['flat']} no change vs {previous}"
    sign = "+" if move.change > 0 else "−"
    line += f" {arrow(move.change)} {signed_number(move.change)}"
    base = move.value - move.change
    if base:
        line += f" ({sign}{format_percent(move.change / base * 100)})"
    line += f" vs {previous}"
    if move.verdict == "good":
        line += " — 🟢 good"
    elif move.verdict == "bad":
        line += " — 🔴 bad"
    return line


def stale_line(stale: Stale) -> str:
    steward = f" — steward {mention(stale.steward_id)}" if stale.steward_id else " — no steward set"
    expected = format_due(datetime.combine(stale.expected_by, datetime.min.time()))
    return (
        f"• *{safe(stale.name, NAME_CLIP)}*: latest {safe(stale.latest_period)}; the next value was expected by "
        f"{expected}{steward}"
    )


# --------------------------------------------------------------------------------------------
# Sections and the whole message's words


def section_text(
    title: str, lines: Sequence[str], total: int, *, empty: str, more_hint: str | None
) -> str:
    """A titled list that fits one section: whole lines only, then "…and N more"."""
    text = f"*{title}* ({total})" if total else f"*{title}*"
    if not lines:
        return f"{text}\n{empty}"
    shown = 0
    for line in lines[:ITEMS_PER_SECTION]:
        if len(text) + 1 + len(line) > SECTION_LIMIT - _MORE_RESERVE:
            break
        text += "\n" + line
        shown += 1
    if total > shown:
        text += f"\n_…and {total - shown} more_" + (f" — {more_hint}" if more_hint else "")
    return text


def until_words(next_meeting: datetime | None) -> str:
    return "before the next meeting" if next_meeting is not None else "in the next 7 days"


def sections(data: DigestData, *, next_meeting: datetime | None) -> list[Section]:
    """The six sections, in the order a meeting reads them."""
    until = until_words(next_meeting)
    return [
        Section(
            "✅ Done since the last meeting",
            [item_line(i, "done") for i in data.done.items],
            data.done.total,
            "Nothing completed yet.",
            None,
        ),
        Section(
            "⚠️ Overdue",
            [item_line(i, "overdue") for i in data.overdue.items],
            data.overdue.total,
            "Nothing overdue. 🎉",
            "`/commit list overdue`",
        ),
        Section(
            f"📅 Due {until}",
            [item_line(i, "upcoming") for i in data.upcoming.items],
            data.upcoming.total,
            "Nothing due.",
            "`/commit list all`",
        ),
        Section(
            "🆕 New since the last meeting",
            [item_line(i, "new") for i in data.new.items],
            data.new.total,
            "No new commitments.",
            "`/commit list all`",
        ),
        Section(
            "📈 Indicators with new data",
            [move_line(m) for m in data.moves.items],
            data.moves.total,
            "No new indicator values.",
            "`/indicator list`",
        ),
        Section(
            "⏳ Late data",
            [stale_line(s) for s in data.stale.items],
            data.stale.total,
            "All indicators are up to date.",
            "`/indicator list`",
        ),
    ]


def scope_line(*, since: datetime, next_meeting: datetime | None, zone: ZoneInfo) -> str:
    """What the digest covers: since when, the whole coalition, and the meeting it is for."""
    scope = f"Since {format_due(since.astimezone(zone))} · commitments from all channels"
    if next_meeting is not None:
        scope += f" · next meeting {short_when(next_meeting.astimezone(zone))}"
    return scope


def fallback_text(data: DigestData, *, title: str, next_meeting: datetime | None) -> str:
    """The notification text: the title and the counts."""
    return (
        f"{title}: {data.overdue.total} overdue, {data.upcoming.total} due "
        f"{until_words(next_meeting)}, {data.done.total} done, {data.new.total} new"
    )


def header_text(title: str) -> str:
    return clip(title, HEADER_LIMIT)


# --------------------------------------------------------------------------------------------
# Titles


def meeting_title(meeting: datetime) -> str:
    return f"CommStat digest — meeting {short_when(meeting)}"


def weekly_title(at: datetime) -> str:
    return f"Weekly CommStat digest — {format_due(at)}"


def dated_title(at: datetime) -> str:
    """A digest asked for where no meeting is set: named by its day."""
    return f"CommStat digest — {format_due(at)}"


__all__ = [
    "DigestData",
    "Item",
    "Listing",
    "Move",
    "Section",
    "Stale",
    "dated_title",
    "fallback_text",
    "item_line",
    "meeting_title",
    "move_line",
    "scope_line",
    "section_text",
    "sections",
    "short_when",
    "stale_line",
    "verdict",
    "weekly_title",
]
