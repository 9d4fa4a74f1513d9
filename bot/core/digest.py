"""What a CommStat digest says, from plain values: its window, lines, sections, scope and titles.

A digest covers a `Window`: what was done, made or updated from `since` to `now`, what is due
from `now` to the next meeting (`due_by`), and what comes up from then to the meeting after it
(`coming_by`). Every heading names the window that was used ("Done since Mon, Nov 23, 9:00 AM",
"Due before the next meeting (Thu, Nov 26)"), so what a heading says and what it lists agree.

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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.dates import format_due
from bot.core.nudge_rules import LOCAL_HOLIDAY
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
# All sections' text together: Slack refuses a message well below 50 blocks × 3000 characters
# (`msg_blocks_too_long` from about 13k characters in all), so the sections share this.
MESSAGE_TEXT_BUDGET = 10_000
TEXT_CLIP = 140  # a commitment's words in a digest line
NAME_CLIP = 150  # an indicator's name, place or unit in a digest line
FLAG_AFTER_DAYS = 7  # "after a week overdue: flagged in the next digest"
_MORE_RESERVE = 120  # room kept in a section for the "…and N more" line
LOOKAHEAD = timedelta(days=7)  # with no meeting to go by: the next week, then the week after
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# What `Window.since` is, which decides how the headings name it.
SINCE_MEETING = "meeting"  # when the last meeting started
SINCE_LOOKBACK = "lookback"  # exactly LOOKAHEAD before `now` (no meeting to go by)
SINCE_INSTANT = "instant"  # any other instant (the last weekly digest's time, a week before…)


@dataclass(frozen=True)
class Window:
    """The stretch of time a digest covers (aware datetimes; the meetings in their own zone).

    Done, new and indicator data: `since` to `now`. Due: from `now` to `due_by`. Coming up: after
    `due_by`, up to `coming_by`. A commitment due on a day without a time counts as due by a
    boundary that falls on that day (`day_end`): "due Thursday" is the Thursday meeting's business.
    """

    since: datetime
    now: datetime
    next_meeting: datetime | None = None
    following_meeting: datetime | None = None
    since_kind: str = SINCE_INSTANT

    @property
    def due_by(self) -> datetime:
        return self.next_meeting if self.next_meeting is not None else self.now + LOOKAHEAD

    @property
    def coming_by(self) -> datetime:
        if self.following_meeting is not None:
            return self.following_meeting
        return self.due_by + LOOKAHEAD


def day_end(at: datetime) -> datetime:
    """The last second of `at`'s day, in `at`'s own zone."""
    return at.replace(hour=23, minute=59, second=59, microsecond=0)


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
    # New values came, but the period after them is late too: said here, not again under
    # "Late data" (one indicator is not both news and forgotten in the same digest).
    late: Stale | None = None


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
    coming: Listing = field(
        default_factory=Listing
    )  # due after the next meeting, before the one after
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
        return self.fit(SECTION_LIMIT)

    def fit(self, limit: int) -> str:
        """The section in at most about `limit` characters (whole lines, then "…and N more")."""
        return section_text(
            self.title,
            self.lines,
            self.total,
            empty=self.empty,
            more_hint=self.more_hint,
            limit=limit,
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


def short_day(at: datetime) -> str:
    """`Thu, Dec 3`, where the year is obvious."""
    return format_due(at).rsplit(",", 1)[0]


def short_when(at: datetime) -> str:
    """`Thu, Dec 3, 10:00 AM` for headers, where the year is obvious."""
    return f"{short_day(at)}, {format_time(at)}"


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
        return line + " (first value)" + _still_late(move)
    previous = safe(move.previous_period)
    if move.change == 0:
        return line + f" {ARROWS['flat']} no change vs {previous}" + _still_late(move)
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
    return line + _still_late(move)


def _still_late(move: Move) -> str:
    """For new values that are already behind: when the next one was expected, and who brings it."""
    if move.late is None:
        return ""
    expected = format_due(datetime.combine(move.late.expected_by, datetime.min.time()))
    steward = f", steward {mention(move.late.steward_id)}" if move.late.steward_id else ""
    return f"\n    ⏳ _still behind: the next value was expected by {expected}{steward}_"


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
    title: str,
    lines: Sequence[str],
    total: int,
    *,
    empty: str,
    more_hint: str | None,
    limit: int = SECTION_LIMIT,
) -> str:
    """A titled list that fits one section: whole lines only, then "…and N more"."""
    text = f"*{title}* ({total})" if total else f"*{title}*"
    if not lines:
        return f"{text}\n{empty}"
    shown = 0
    for line in lines[:ITEMS_PER_SECTION]:
        if len(text) + 1 + len(line) > min(limit, SECTION_LIMIT) - _MORE_RESERVE:
            break
        text += "\n" + line
        shown += 1
    if total > shown:
        text += f"\n_…and {total - shown} more_" + (f" — {more_hint}" if more_hint else "")
    return text


def fitted(parts: Sequence[Section], budget: int = MESSAGE_TEXT_BUDGET) -> list[str]:
    """The sections' texts, together within `budget`: when the whole lists are too long, every
    section is held to the same length (the longest that fits), so a long list shortens itself
    and leaves the short ones whole; each still ends with "…and N more" where it was cut."""
    full = [part.text for part in parts]
    if sum(map(len, full)) <= budget:
        return full
    low, high = 0, SECTION_LIMIT
    while low < high:
        middle = (low + high + 1) // 2
        if sum(len(part.fit(middle)) for part in parts) <= budget:
            low = middle
        else:
            high = middle - 1
    return [part.fit(low) for part in parts]


def since_words(window: Window, zone: ZoneInfo) -> str:
    """How the headings name the start of the window: exactly the one that was used."""
    since = window.since.astimezone(zone)
    if window.since_kind == SINCE_MEETING:
        return f"since the last meeting ({short_day(since)})"
    if window.since_kind == SINCE_LOOKBACK:
        return f"in the last {LOOKAHEAD.days} days"
    return f"since {short_when(since)}"


def due_words(window: Window, zone: ZoneInfo) -> str:
    if window.next_meeting is not None:
        return f"before the next meeting ({short_day(window.next_meeting)})"
    return f"in the next {LOOKAHEAD.days} days (by {short_day(window.due_by.astimezone(zone))})"


def coming_words(window: Window, zone: ZoneInfo) -> str:
    if window.following_meeting is not None:
        return f"before the following meeting ({short_day(window.following_meeting)})"
    by = short_day(window.coming_by.astimezone(zone))
    if window.next_meeting is not None:
        return f"in the week after the meeting (by {by})"
    return f"in the {LOOKAHEAD.days} days after that (by {by})"


def sections(data: DigestData, *, window: Window, zone: ZoneInfo) -> list[Section]:
    """The seven sections, in the order a meeting reads them, each named by its window."""
    since = since_words(window, zone)
    return [
        Section(
            f"✅ Done {since}",
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
            f"📅 Due {due_words(window, zone)}",
            [item_line(i, "upcoming") for i in data.upcoming.items],
            data.upcoming.total,
            "Nothing due.",
            "`/commit list all`",
        ),
        Section(
            f"🔭 Coming up {coming_words(window, zone)}",
            [item_line(i, "upcoming") for i in data.coming.items],
            data.coming.total,
            "Nothing due then.",
            "`/commit list all`",
        ),
        Section(
            f"🆕 New {since}",
            [item_line(i, "new") for i in data.new.items],
            data.new.total,
            "No new commitments.",
            "`/commit list all`",
        ),
        Section(
            f"📈 Indicators with new data {since}",
            [move_line(m) for m in data.moves.items],
            data.moves.total,
            "No new indicator values.",
            "`/indicator list`",
        ),
        Section(
            "⏳ Late data",
            [stale_line(s) for s in data.stale.items],
            data.stale.total,
            "No other indicator is late."
            if any(m.late for m in data.moves.items)
            else "All indicators are up to date.",
            "`/indicator list`",
        ),
    ]


def scope_line(window: Window, *, zone: ZoneInfo, merged: bool = False) -> str:
    """What the digest covers: from when, the whole coalition, and the meetings it looks to."""
    since = window.since.astimezone(zone)
    if window.since_kind == SINCE_LOOKBACK:
        scope = f"The last {LOOKAHEAD.days} days"
    elif window.since_kind == SINCE_MEETING:
        scope = f"Since the last meeting, {short_when(since)}"
    else:
        scope = f"Since {short_when(since)}"
    scope += " · commitments from all channels"
    if window.next_meeting is not None:
        scope += f" · next meeting {short_when(window.next_meeting)}"
    if window.following_meeting is not None:
        scope += f", then {short_when(window.following_meeting)}"
    if merged:
        scope += " · this week's digest and the pre-meeting digest in one"
    return scope


def holiday_words(name: str) -> str:
    return "a local holiday" if name == LOCAL_HOLIDAY else safe(name, NAME_CLIP)


def long_day(at: datetime) -> str:
    """`Thursday, Nov 26`."""
    return f"{_DAY_NAMES[at.weekday()]}, {short_day(at).split(', ', 1)[1]}"


def holiday_line(meeting: datetime, name: str) -> str:
    """The digest's note when its meeting falls on a holiday."""
    return f"🗓️ *{long_day(meeting)} is {holiday_words(name)} — is the meeting still on?*"


def holiday_notice(meeting: datetime, name: str, *, today: date) -> str:
    """The short note the working day before a meeting that falls on a holiday."""
    day = long_day(meeting)
    when = f"tomorrow, {day}," if (meeting.date() - today).days == 1 else day
    return (
        f"🗓️ Heads-up: {when} is {holiday_words(name)} — is the CommStat meeting at "
        f"{format_time(meeting)} still on? If it is off or moves, let everyone know here."
    )


def fallback_text(
    data: DigestData, *, title: str, window: Window, zone: ZoneInfo, holiday: str | None = None
) -> str:
    """The notification text: the title, the counts, and a holiday if the meeting is on one."""
    text = (
        f"{title}: {data.overdue.total} overdue, {data.upcoming.total} due "
        f"{due_words(window, zone)}, {data.coming.total} coming up, {data.done.total} done, "
        f"{data.new.total} new"
    )
    if holiday is not None and window.next_meeting is not None:
        text += f". {long_day(window.next_meeting)} is {holiday_words(holiday)}: is the meeting still on?"
    return text


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


def merged_title(meeting: datetime) -> str:
    """The weekly digest and a pre-meeting digest that fall on the same day, as one message."""
    return f"Weekly and pre-meeting CommStat digest — meeting {short_when(meeting)}"


__all__ = [
    "SINCE_INSTANT",
    "SINCE_LOOKBACK",
    "SINCE_MEETING",
    "DigestData",
    "Item",
    "Listing",
    "Move",
    "Section",
    "Stale",
    "Window",
    "coming_words",
    "dated_title",
    "day_end",
    "due_words",
    "fallback_text",
    "fitted",
    "holiday_line",
    "holiday_notice",
    "item_line",
    "meeting_title",
    "merged_title",
    "move_line",
    "scope_line",
    "section_text",
    "sections",
    "short_day",
    "short_when",
    "since_words",
    "stale_line",
    "verdict",
    "weekly_title",
]
