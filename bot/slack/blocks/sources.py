"""Block Kit for sources that refresh themselves: "New data: …" in the meeting channel, and the
steward's note when a source cannot be fetched.

Pure functions returning what the outbox sends (`text` and `blocks`). Names, geographies and
errors come from files and servers the bot did not write: they pass through `safe`. Within
Slack's limits: at most MAX_INDICATORS lines and MAX_PLACES places a line, then "and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.core.dates import format_due
from bot.core.text import format_number, safe
from bot.slack.blocks.limits import SECTION_LIMIT
from bot.usecases.sources import News

MAX_INDICATORS = 10
MAX_PLACES = 8


def _values(news: News) -> str:
    shown = []
    for geography, value in news.values[:MAX_PLACES]:
        number = format_number(value) if value is not None else "missing"
        shown.append(f"{safe(geography, 40)} {number}".strip())
    more = len(news.values) - MAX_PLACES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def news_line(news: News) -> str:
    """'New data: *Opioid overdose ED visits* for Jun 2025 — MD 22.2, VT 15.1'; or, when only
    older values changed, '*Name*: 3 values added, 12 revised'."""
    name = safe(news.name, 200)
    if news.period is not None:
        line = f"New data: *{name}* for {news.period_label}"
        if news.values:
            line += f" — {_values(news)}"
        older = news.revised
        if older:
            line += f" (and {older:,} earlier value{'s' * (older != 1)} revised)"
        return line
    parts = []
    if news.added:
        parts.append(f"{news.added:,} value{'s' * (news.added != 1)} added")
    if news.revised:
        parts.append(f"{news.revised:,} revised")
    return f"Revised data: *{name}* — {', '.join(parts)}"


def news_payload(news: Sequence[News], *, source: str, host: str) -> dict[str, Any]:
    """Whole lines while they fit one section, then "…and N more indicators": a line cut in
    the middle could end inside a name, a bold or an escaped `&amp;`."""
    lines: list[str] = []
    size = 40  # room for the "…and N more" line
    for item in news[:MAX_INDICATORS]:
        line = f"📈 {news_line(item)}"
        if lines and size + len(line) + 1 > SECTION_LIMIT:
            break
        lines.append(line)
        size += len(line) + 1
    if len(news) > len(lines):
        lines.append(f"…and {len(news) - len(lines)} more indicators.")
    body = "\n".join(lines)
    slugs = " ".join(f"`/indicator {n.slug}`" for n in news[:3])
    why = (
        f"Fetched by the bot from {safe(host, 100)} (source {safe(source, 100)}). "
        f"See the chart with {slugs}."
    )
    return {
        "text": "\n".join(line.removeprefix("📈 ").replace("*", "") for line in lines),
        "blocks": [
            SectionBlock(text=MarkdownTextObject(text=body[:SECTION_LIMIT])).to_dict(),
            ContextBlock(elements=[MarkdownTextObject(text=why[:2990])]).to_dict(),
        ],
    }


def fetch_failed_payload(
    *,
    source: str,
    host: str,
    error: str,
    indicators: Sequence[str],
    failures: int,
    since: datetime | None,
    retry_at: datetime | None,
) -> dict[str, Any]:
    """'I could not fetch vsrr (data.cdc.gov) for Number of Drug Overdose Deaths: …'."""
    names = ", ".join(safe(n, 100) for n in indicators[:5])
    if len(indicators) > 5:
        names += f" and {len(indicators) - 5} more"
    tries = f"{failures} tries in a row" if failures > 1 else "one try"
    text = (
        f"⚠️ I could not fetch the source *{safe(source, 100)}* ({safe(host, 100)})"
        f"{f' for {names}' if names else ''}: {safe(error, 600)} ({tries}). "
        "Nothing was imported; the values stay as they were."
    )
    next_try = (
        f" I'll try again {format_due(retry_at, has_time=True)}." if retry_at is not None else ""
    )
    since_text = f" Last fetched {format_due(since)}." if since is not None else ""
    why = (
        "You're getting this because you are the data steward of an indicator this source "
        f"feeds.{since_text}{next_try} Fix the url in the catalog, or try now with "
        f"`commstat sources refresh {safe(source, 100)}`."
    )
    return {
        "text": f"I could not fetch the source {safe(source, 100)}: {safe(error, 600)}",
        "blocks": [
            SectionBlock(text=MarkdownTextObject(text=text[:2990])).to_dict(),
            ContextBlock(elements=[MarkdownTextObject(text=why[:2990])]).to_dict(),
        ],
    }


__all__ = ["fetch_failed_payload", "news_line", "news_payload"]
