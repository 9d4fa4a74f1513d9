"""A question about one period (`/indicator overdoses for Dec 2023`, `in 2023`, `for Q1 2024`):
which stored period answers it, in words when that is not the period asked, and the nearest
periods with data when none does.

Pure. People ask in calendar terms, but data comes in its own grain: a yearly indicator asked
`for Dec 2023` answers with 2023 (the year that includes it); a monthly one asked `in 2023`
answers with December and lists the year's months; a 12-month-ending series asked `in 2023`
answers with the 12 months ending Dec 2023, which are exactly the calendar year.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.core import periods
from bot.core.periods import Period

_GRAIN_WORDS = {"day": "day", "month": "month", "quarter": "quarter", "year": "year"}


@dataclass(frozen=True)
class Answering:
    """The stored period that answers a question about `asked`."""

    asked: Period
    period: Period
    within: tuple[Period, ...]  # the stored periods inside the asked one, when it holds several
    note: str | None  # how the period shown relates to the one asked, when they differ


def _end(period: Period, kind: str | None) -> date:
    try:
        return periods.period_end(period, kind)
    except periods.PeriodError:
        return periods.period_end(period, None)


def _label(period: Period, kind: str | None) -> str:
    try:
        return periods.label(period, kind)
    except periods.PeriodError:
        return periods.label(period, None)


def plain(period: Period) -> str:
    """The period as people type it after `for`: "Dec 2023", "Q1 2024", "2023"."""
    return periods.label(period, None)


def _unit(period: Period, kind: str | None) -> str:
    normal = periods.normalise_kind(kind or "") if kind else None
    if period.grain == "day" and normal == "weekly":
        return "week"
    return _GRAIN_WORDS[period.grain]


def answering(asked: Period, stored: Iterable[Period], kind: str | None) -> Answering | None:
    """The stored period for `asked` (None: no stored period is in it or holds it).

    Finer data inside the asked span: its last period (the year's December). Coarser data: the
    period that holds the asked one (the year that includes December)."""
    ordered = sorted(set(stored))
    span_end = periods.period_end(asked, None)
    inside = [p for p in ordered if asked.start <= p.start <= span_end]
    if inside:
        period = inside[-1]
    else:
        holding = [p for p in ordered if p.start <= asked.start <= _end(p, kind)]
        if not holding:
            return None
        period = holding[-1]
    same = period.start == asked.start and _end(period, kind) == span_end
    if same or (period.grain == asked.grain and period.start == asked.start):
        return Answering(asked, period, (), None)
    normal = periods.normalise_kind(kind or "") if kind else None
    if (
        period.start < asked.start or _end(period, kind) > span_end
    ):  # coarser: it holds the asked one
        unit = _unit(period, kind)
        shown = _label(period, kind)
        shown = f"the {shown}" if shown.startswith("12 months") else shown
        note = f"The data is by {unit}: showing {shown}, the {unit} that includes {plain(asked)}."
        return Answering(asked, period, (), note)
    complete = periods.shift(period, kind, 1).start > span_end
    rolling = normal == "12-month-ending"
    unit = _unit(period, kind)
    which = (
        f"the last {unit} of {plain(asked)}"
        if complete
        else (f"the latest {unit} of {plain(asked)} in the data")
    )
    if rolling and asked.grain == "year" and complete and period.grain == "month":
        note = f"The 12 months ending {plain(period)} are the calendar year {asked.start.year}."
    elif rolling:
        note = f"Showing the 12 months ending {plain(period)}, {which}: a rolling annual total, not {plain(asked)} alone."
    else:
        note = f"Showing {_label(period, kind)}, {which}."
    return Answering(asked, period, () if rolling else tuple(inside), note)


def nearest(asked: Period, reported: Iterable[Period]) -> tuple[Period | None, Period | None]:
    """The closest periods with a reported value before and after the asked one."""
    span_end = periods.period_end(asked, None)
    ordered = sorted(set(reported))
    before = [p for p in ordered if p.start < asked.start]
    after = [p for p in ordered if p.start > span_end]
    return (before[-1] if before else None, after[0] if after else None)


def short_label(period: Period, asked: Period) -> str:
    """A period inside the asked one, without what the asked one already says: "Dec", "Q4",
    "Mar 3" (a month or quarter of the asked year; a day of the asked month)."""
    start = period.start
    if period.grain == "month":
        return calendar.month_abbr[start.month] + (
            "" if start.year == asked.start.year else f" {start.year}"
        )
    if period.grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1}"
    if period.grain == "day":
        return f"{calendar.month_abbr[start.month]} {start.day}"
    return str(start.year)


def no_data_text(
    name: str,
    asked: Period,
    before: Period | None,
    after: Period | None,
    kind: str | None,
    *,
    future: bool,
) -> str:
    """Why there is no answer, and where the data is: the nearest periods on either side.

    `name` must be Slack-safe already."""
    when = ", which is still to come" if future else ""
    sides = [p for p in (before, after) if p is not None]
    if not sides:
        return f"{name} has no reported values to show for {plain(asked)}{when}."
    nearest_text = " and ".join(f"{_label(p, kind)} (`for {plain(p)}`)" for p in sides)
    word = "periods" if len(sides) > 1 else "period"
    return f"{name} has no data for {plain(asked)}{when}. The nearest {word} with data: {nearest_text}."


__all__ = ["Answering", "answering", "nearest", "no_data_text", "plain", "short_label"]
