"""Block Kit for /indicator: pure `build_*` functions over what `bot.usecases.indicators` answers.

Every text stays inside Slack's limits (≤ 50 blocks, ≤ 3,000 characters a section, header ≤ 150)
by summarising ("…and 12 more") rather than cutting a line in half.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.core import asked_period, periods, places
from bot.core.indicator_rules import Comparison, Point, Summary, format_value
from bot.core.text import ARROWS, clip, format_number, format_percent, safe, signed_number
from bot.slack.blocks.imports import updated_words
from bot.slack.blocks.limits import SECTION_LIMIT
from bot.usecases.imports import UpdatedBy
from bot.usecases.indicators import Answer, CatalogEntry
from storage.models import Indicator

HEADER_LIMIT = 150
TOTAL_TEXT_LIMIT = 11_000  # Slack refuses some messages near 13k characters (msg_blocks_too_long)
MAX_CATALOG_GEOGRAPHIES = 4
MAX_WITHIN = 31  # a month's days; a year of days or weeks is left to the chart


def _label(indicator: Indicator, period: periods.Period) -> str:
    try:
        return periods.label(period, indicator.period_kind)
    except periods.PeriodError:
        return periods.label(period, None)


def comparison_line(indicator: Indicator, c: Comparison, *, short: str | None = None) -> str:
    """ "▼ 4.1% (−67) vs 12 months ending Mar 2025 (1,629) — better"."""
    against = short or _label(indicator, c.period)
    if c.value is None or c.delta is None:
        return f"vs {against}: not reported, so no comparison"
    arrow = ARROWS["up" if c.delta > 0 else "down" if c.delta < 0 else "flat"]
    size = format_percent(c.pct) if c.pct is not None else signed_number(c.delta)
    detail = f" ({signed_number(c.delta)})" if c.pct is not None else ""
    reference = "" if short else f" ({format_number(c.value)})"
    if c.verdict == "no change":
        return f"{arrow} no change vs {against}{reference}"
    return f"{arrow} {size}{detail} vs {against}{reference} — {c.verdict}"


def target_line(indicator: Indicator, gap: float | None) -> str | None:
    if indicator.target is None or gap is None:
        return None
    target = format_value(indicator.target, indicator.unit)
    lower_is_better = str(indicator.direction) == "lower"
    if gap == 0:
        return f"🎯 Target {target}: exactly on target"
    above = gap > 0
    met = above != lower_is_better
    side = "above" if above else "below"
    verdict = "target met" if met else "not there yet"
    return f"🎯 Target {target}: {format_number(abs(gap))} {side} it — {verdict}"


def _value_of(indicator: Indicator, summary: Summary) -> str:
    if summary.reported is None or summary.reported.value is None:
        return "not reported"
    return format_value(summary.reported.value, indicator.unit)


Nearest = tuple[Point | None, Point | None]


def nearest_text(indicator: Indicator, nearest: Nearest) -> str:
    """ "nearest reported: 12 months ending Sep 2023 (3,012 deaths) and … Oct 2024 (…)"."""
    found = [
        f"{_label(indicator, p.period)} ({format_value(p.value, indicator.unit)})"
        for p in nearest
        if p is not None and p.value is not None
    ]
    if not found:
        return "no other period is reported either"
    return "nearest reported: " + " and ".join(found)


def detail_lines(
    indicator: Indicator, summary: Summary, *, nearest: Nearest | None = None
) -> list[str]:
    """The full answer for one geography (`nearest`: for a period asked about that has no
    value, the closest reported ones)."""
    lines: list[str] = []
    latest, reported = summary.latest, summary.reported
    if nearest is not None and (reported is None or reported.value is None):
        return [
            f"{_label(indicator, latest.period)}: not reported (suppressed or missing); "
            f"{nearest_text(indicator, nearest)}."
        ]
    if reported is None or reported.value is None:
        return [
            f"{_label(indicator, latest.period)}: not reported (suppressed or missing), "
            "and no earlier value is reported either."
        ]
    if latest.period != reported.period:
        lines.append(
            f"{_label(indicator, latest.period)}: not reported (suppressed or missing). "
            f"Latest reported: *{format_value(reported.value, indicator.unit)}* · "
            f"{_label(indicator, reported.period)}"
        )
    else:
        lines.append(
            f"*{format_value(reported.value, indicator.unit)}* · {_label(indicator, reported.period)}"
        )
    for comparison in (summary.prior, summary.year_ago):
        if comparison is not None:
            lines.append(comparison_line(indicator, comparison))
    target = target_line(indicator, summary.target_gap)
    if target:
        lines.append(target)
    return lines


def summary_line(indicator: Indicator, summary: Summary, *, nearest: Nearest | None = None) -> str:
    """One geography in a side-by-side answer."""
    place = safe(summary.geography) or "Total"
    reported = summary.reported
    if reported is None or reported.value is None:
        line = f"*{place}*: not reported ({_label(indicator, summary.latest.period)})"
        return f"{line}; {nearest_text(indicator, nearest)}" if nearest is not None else line
    parts = [f"*{place}* {format_value(reported.value, indicator.unit)}"]
    if summary.latest.period != reported.period:
        parts.append(
            f"({_label(indicator, reported.period)}; {_label(indicator, summary.latest.period)} not reported)"
        )
    else:
        parts.append(f"({_label(indicator, reported.period)})")
    changes = [
        comparison_line(indicator, c, short=short)
        for c, short in ((summary.prior, "prior"), (summary.year_ago, "a year earlier"))
        if c is not None
    ]
    line = " ".join(parts)
    if changes:
        line += " · " + " · ".join(changes)
    return line


def answer_fallback(answer: Answer) -> str:
    """Plain text for notifications and screen readers."""
    indicator = answer.indicator
    if answer.detailed and answer.summaries:
        summary = answer.summaries[0]
        where = f" — {safe(summary.geography, 100)}" if summary.geography else ""
        period = summary.reported.period if summary.reported else summary.latest.period
        return (
            f"{safe(indicator.name, 150)}{where}: {_value_of(indicator, summary)} "
            f"({_label(indicator, period)})"
        )
    return f"{safe(indicator.name, 150)}: {len(answer.summaries) + answer.more} places"


def build_answer(answer: Answer, *, updated_by: UpdatedBy | None = None) -> list[Block]:
    """The answer the meeting sees: value, changes, target, what the period means, source."""
    indicator = answer.indicator
    title = indicator.name
    if answer.detailed and answer.summaries and answer.summaries[0].geography:
        title = f"{indicator.name} — {answer.summaries[0].geography}"
    blocks: list[Block] = [HeaderBlock(text=safe(title, HEADER_LIMIT))]
    asked = answer.asked
    nearest = asked.nearest if asked is not None else {}
    if answer.detailed and answer.summaries:
        first = answer.summaries[0]
        lines = detail_lines(indicator, first, nearest=nearest.get(first.geography))
        if asked is not None and asked.within:
            lines.append(within_line(indicator, asked.asked, asked.within))
    else:
        places = [s for s in answer.summaries if s.geography not in answer.totals]
        lines = [summary_line(indicator, s, nearest=nearest.get(s.geography)) for s in places]
        if answer.more:
            lines.append(f"…and {answer.more} more places — ask for one with `in <place>`.")
        for s in answer.summaries:
            if s.geography in answer.totals:
                lines.append(f"_{total_heading(s.geography, answer.by)}:_")
                lines.append(summary_line(indicator, s, nearest=nearest.get(s.geography)))
        place = f" for {safe(answer.target_place)}" if answer.target_place else ""
        target = (
            f"🎯 Target{place}: {format_value(indicator.target, indicator.unit)} "
            f"({'lower' if str(indicator.direction) == 'lower' else 'higher'} is better)"
            if indicator.target is not None
            else None
        )
        if target:
            lines.append(target)
    if asked is not None and asked.note:  # the core's words about periods: no outside text
        lines.append(f"_{asked.note}_")
    if answer.late:
        lines.append(f"⏳ Late data: {answer.late}.")
    if answer.also:
        lines.append("_(also: " + "; ".join(safe(n) for n in answer.also) + ")_")
    if answer.geography_note:  # the core's words, its place already made safe
        lines.append(f"_{answer.geography_note}_")
    blocks.extend(_sections(lines))
    context: list[str] = []
    if answer.explanation:
        context.append(answer.explanation)
    source = f"Source: {safe(indicator.source, 500)} · " if indicator.source else ""
    updated = updated_words(answer.updated, updated_by)
    context.append(f"{source}Data through {answer.data_through}{updated}")
    marked = len(answer.markers)
    chart = f"Chart: {answer.window}"
    if asked is not None:
        chart += f" · {_label(indicator, asked.period)} marked"
    if marked:
        chart += f" · {marked} completed commitment{'s' if marked != 1 else ''} marked"
    if answer.chart_more:
        chart += f" · {answer.chart_more} more places not drawn"
    if answer.totals:
        chart += " · " + " and ".join(total_name(g) for g in answer.totals) + " not drawn"
    context.append(chart)
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=clip(t, 2000)) for t in context[:10]])
    )
    return blocks


def total_name(geography: str) -> str:
    return f"{safe(geography)} (the national total)" if geography else "the total"


def total_heading(geography: str, by: str | None) -> str:
    """The national total is not a state: it is listed apart, and said to be."""
    word = by or "place"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]  # "by states"
    word = safe(word, 20)
    if geography:
        return f"{safe(geography)} is the national total, not a {word}"
    return f"The total, not a {word}"


def within_line(indicator: Indicator, asked: periods.Period, within: Sequence[Point]) -> str:
    """Every value inside the asked period: "2023 by month: Jan 20.1 · Feb 19.5 · … · Dec 22.2"."""
    if len(within) > MAX_WITHIN:
        return f"{asked_period.plain(asked)}: {len(within)} values in the chart."
    unit = "week" if str(indicator.period_kind or "") == "weekly" else within[0].period.grain
    items = [
        f"{asked_period.short_label(p.period, asked)} "
        + (format_number(p.value) if p.value is not None else "not reported")
        for p in within
    ]
    percent = "%" if indicator.unit and indicator.unit.strip() == "%" else ""
    unit_text = f" ({safe(indicator.unit, 40)})" if indicator.unit and not percent else ""
    return f"{asked_period.plain(asked)} by {unit}{unit_text}: " + " · ".join(
        item + percent if not item.endswith("reported") else item for item in items
    )


def _sections(lines: Sequence[str], *, limit: int = SECTION_LIMIT) -> list[Block]:
    """Lines packed into as few sections as fit, never splitting a line."""
    sections: list[Block] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, limit)
        if current and size + len(line) + 1 > limit:
            sections.append(SectionBlock(text=MarkdownTextObject(text="\n".join(current))))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        sections.append(SectionBlock(text=MarkdownTextObject(text="\n".join(current))))
    return sections


# --- the catalog ---------------------------------------------------------------------------------


def catalog_line(entry: CatalogEntry) -> str:
    indicator = entry.indicator
    unit = (
        f" ({safe(indicator.unit, 40)})" if indicator.unit and indicator.unit.strip() != "%" else ""
    )
    name = f"*{safe(indicator.name, 200)}*{unit}"
    if not entry.latest:
        return f"{name} — no values yet"
    # The national total is not one of the places: listed after them, and said to be.
    items = sorted(entry.latest.items(), key=lambda item: places.is_nation(item[0]))
    newest_reported = max(p.period for _, p in items)
    if len(items) == 1 and not items[0][0]:
        values = format_value(items[0][1].value or 0.0, indicator.unit if unit == "" else None)
    else:
        percent = "%" if indicator.unit and indicator.unit.strip() == "%" else ""
        # A place whose newest value is older than the others says which period it is for.
        shown = [
            f"{_catalog_place(g)} {format_number(p.value or 0.0)}{percent}"
            + ("" if p.period == newest_reported else f" ({_label(indicator, p.period)})")
            for g, p in items[:MAX_CATALOG_GEOGRAPHIES]
        ]
        more = len(items) - MAX_CATALOG_GEOGRAPHIES
        values = " · ".join(shown) + (f" · +{more} more" if more > 0 else "")
    line = f"{name} — {values} · {_label(indicator, newest_reported)}"
    if entry.newest is not None:
        line += f" · data through {periods.label(entry.newest, None)}"
    return line


def _catalog_place(geography: str) -> str:
    if places.is_nation(geography):
        return f"{safe(geography)} (national total)"
    return safe(geography) or "total"


def catalog_fallback(entries: Sequence[CatalogEntry]) -> str:
    return f"Indicators ({len(entries)})"


def build_catalog(entries: Sequence[CatalogEntry]) -> list[Block]:
    """Every indicator with its latest value; a long catalog ends with "…and N more"."""
    if not entries:
        return [
            SectionBlock(
                text=MarkdownTextObject(
                    text="No indicators yet — load some with `commstat import`."
                )
            )
        ]
    blocks: list[Block] = [HeaderBlock(text=f"Indicators ({len(entries)})")]
    lines: list[str] = []
    total = 0
    for entry in entries:
        line = clip(catalog_line(entry), 1000)
        if total + len(line) > TOTAL_TEXT_LIMIT:
            break  # ~11k characters fit in about four sections: far below the 50-block limit
        lines.append(line)
        total += len(line) + 1
    shown = len(lines)
    blocks.extend(_sections(lines))
    footer = "Ask for one: `/indicator <name>` (add `since 2022`, `in <place>` or `by <place>`)."
    if shown < len(entries):
        footer = f"…and {len(entries) - shown} more. " + footer
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    return blocks


__all__ = [
    "answer_fallback",
    "build_answer",
    "build_catalog",
    "catalog_fallback",
    "catalog_line",
    "comparison_line",
    "detail_lines",
    "nearest_text",
    "summary_line",
    "target_line",
]
